"""Local transformers models: batched, left-padded generation on whatever device the machine has.

Prompts are sorted by length before batching so a batch wastes little padding, and every finished
batch is reported at once, so a crash loses at most one batch. A model without a chat template (a
base model) gets :data:`PLAIN_TEMPLATE`, a role-labelled transcript that stops at the next turn.

As a judge the backend can also decide a verdict by likelihood (:meth:`HFBackend.choose`): it writes
its analysis, then the verdict is whichever allowed string (``Satisfied`` / ``Not Satisfied``, or
``1``-``5``) is most probable after ``[[``. A small local judge therefore never fails to parse.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from trustsim import defaults
from trustsim.backends.base import Backend, Completion, Message, OnDone, Request, SamplingConfig

logger = logging.getLogger(__name__)

#: For models without a chat template: each turn labelled by role, generation stops at the next turn.
PLAIN_ROLES = {"system": "{content}\n\n", "user": "User: {content}\n", "assistant": "Assistant: {content}\n"}
PLAIN_GENERATION_PROMPT = "Assistant:"
PLAIN_STOP = "\nUser:"
#: Where a base model's answer ends: it starts writing the next turn, in either case.
PLAIN_STOPS = (PLAIN_STOP, "\nuser:", "\nUSER:")
PLAIN_TEMPLATE = "".join(PLAIN_ROLES.values()) + PLAIN_GENERATION_PROMPT


def plain_prompt(messages: Sequence[Message]) -> str:
    """The :data:`PLAIN_TEMPLATE` transcript of ``messages``, ending where the assistant speaks."""
    return "".join(PLAIN_ROLES[m["role"]].format(content=m["content"]) for m in messages) + PLAIN_GENERATION_PROMPT


def default_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def default_dtype(device: str):
    """bfloat16 on GPUs that have it (half the memory, same quality), float32 elsewhere."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    if device.startswith("cuda"):
        return torch.float16
    return torch.float32


class HFBackend(Backend):
    """A transformers causal LM from the Hub, a local folder, or a ``.gguf`` file."""

    supports_choice = True

    def __init__(
        self,
        model: str,
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int = defaults.BATCH_SIZE,
        progress: str | None = None,
    ) -> None:
        self.model_name = model
        self.spec = f"hf:{model}"
        self.device = device or default_device()
        self.dtype_name = dtype
        self.batch_size = batch_size
        self.progress = progress
        self._model = None
        self._tokenizer = None

    def settings(self) -> dict[str, Any]:
        return {"spec": self.spec, "batch_size": self.batch_size, "device": self.device, "dtype": self.dtype_name}

    # Loading ------------------------------------------------------------------------------------

    def _source(self) -> tuple[str, dict[str, Any]]:
        source, extra = self.model_name, {}
        if source.endswith(".gguf"):
            # transformers reads GGUF from a folder plus a file name and dequantizes the weights.
            path = Path(source)
            source, extra = str(path.parent), {"gguf_file": path.name}
        return source, extra

    def load_tokenizer(self) -> None:
        """Load only the tokenizer (enough to render and count prompts, e.g. for ``--dry-run``)."""
        if getattr(self, "_tokenizer", None) is not None:
            return
        from transformers import AutoTokenizer

        source, extra = self._source()
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **extra)
        except OSError as err:
            raise RuntimeError(f"{self.spec}: cannot load the model ({' '.join(str(err).split())[:300]})") from None
        tokenizer.padding_side = "left"  # decoder-only models continue from the right edge
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._tokenizer = tokenizer

    def load(self) -> None:
        """Load model and tokenizer once, on first use (so a refused run never pays for it)."""
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM

        self.load_tokenizer()
        source, extra = self._source()
        dtype = getattr(torch, self.dtype_name) if self.dtype_name else default_dtype(self.device)
        try:
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **extra)
        except OSError as err:
            raise RuntimeError(f"{self.spec}: cannot load the model ({' '.join(str(err).split())[:300]})") from None
        model.to(self.device).eval()
        self._model = model

    def count_tokens(self, conversations: Sequence[Sequence[Message]]) -> int:
        """Prompt tokens of ``conversations`` as this model will see them (its own tokenizer)."""
        self.load_tokenizer()
        return sum(len(self._tokenizer(self.render(m), add_special_tokens=False)["input_ids"]) for m in conversations)

    @property
    def has_chat_template(self) -> bool:
        self.load_tokenizer()
        return bool(getattr(self._tokenizer, "chat_template", None))

    def render(self, messages: Sequence[Message]) -> str:
        """The prompt text: the model's chat template, or the plain template for a base model."""
        self.load_tokenizer()
        if not self.has_chat_template:
            return plain_prompt(messages)
        try:
            return self._tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        except Exception as err:  # jinja TemplateError: some templates (Gemma) refuse a system turn
            if messages and messages[0]["role"] == "system" and len(messages) > 1:
                merged = [
                    {"role": messages[1]["role"], "content": messages[0]["content"] + "\n\n" + messages[1]["content"]}
                ]
                logger.debug(
                    "%s: chat template refused a system turn (%s); merged it into the user turn", self.spec, err
                )
                return self._tokenizer.apply_chat_template(
                    merged + list(messages[2:]), tokenize=False, add_generation_prompt=True
                )
            raise

    def _encode(self, texts: Sequence[str]):
        # A chat template writes its own BOS; a plain transcript needs the tokenizer to add it.
        batch = self._tokenizer(
            list(texts), return_tensors="pt", padding=True, add_special_tokens=not self.has_chat_template
        )
        return {name: tensor.to(self.device) for name, tensor in batch.items()}

    # Generation ---------------------------------------------------------------------------------

    def _generate_texts(self, prompts: Sequence[str], sampling: SamplingConfig, seed: int) -> list[Completion]:
        import torch

        batch = self._encode(prompts)
        options: dict[str, Any] = {
            "max_new_tokens": sampling.max_new_tokens,
            "pad_token_id": self._tokenizer.pad_token_id,
        }
        if sampling.temperature > 0:
            options.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if not self.has_chat_template:
            options.update(stop_strings=list(PLAIN_STOPS), tokenizer=self._tokenizer)
        torch.manual_seed(seed)
        with torch.inference_mode():
            output = self._model.generate(**batch, **options)
        new_tokens = output[:, batch["input_ids"].shape[1] :]
        stops = {self._tokenizer.pad_token_id, *_as_list(self._model.generation_config.eos_token_id)}
        completions = []
        for row, mask in zip(new_tokens.tolist(), batch["attention_mask"].tolist(), strict=True):
            length = next((i for i, token in enumerate(row) if token in stops), len(row))
            text = self._tokenizer.decode(row[:length], skip_special_tokens=True)
            if not self.has_chat_template:
                for stop in PLAIN_STOPS:
                    text = text.split(stop)[0]
            completions.append(Completion(text.strip(), prompt_tokens=sum(mask), completion_tokens=length))
        return completions

    def _safe_generate(self, prompts: Sequence[str], sampling: SamplingConfig, seed: int) -> list[Completion]:
        """Generate; on out-of-memory retry the batch in halves, down to single prompts."""
        import torch

        try:
            return self._generate_texts(prompts, sampling, seed)
        except torch.OutOfMemoryError as err:
            if len(prompts) == 1:
                return [Completion(None, error=f"{self.spec}: out of memory on one prompt ({err})")]
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            half = len(prompts) // 2
            return self._safe_generate(prompts[:half], sampling, seed) + self._safe_generate(
                prompts[half:], sampling, seed + 1
            )

    def _batches(self, requests: Sequence[Request]) -> list[list[tuple[Request, str]]]:
        rendered = [(request, self.render(request.messages)) for request in requests]
        rendered.sort(key=lambda pair: len(pair[1]), reverse=True)  # longest first: memory trouble shows early
        return [rendered[i : i + self.batch_size] for i in range(0, len(rendered), self.batch_size)]

    def generate(self, requests: Sequence[Request], sampling: SamplingConfig, on_done: OnDone) -> None:
        """Generate in batches of ``batch_size``; seeded per batch (``sampling.seed`` + batch index)."""
        if not requests:
            return
        self.load()
        with tqdm(total=len(requests), desc=self.progress or self.spec) as bar:
            for index, batch in enumerate(self._batches(requests)):
                completions = self._safe_generate([prompt for _, prompt in batch], sampling, sampling.seed + index)
                for (request, _), completion in zip(batch, completions, strict=True):
                    on_done(request, completion)
                bar.update(len(batch))

    # Likelihood verdicts ------------------------------------------------------------------------

    def choice_logprobs(self, prefixes: Sequence[str], choices: Sequence[str]) -> list[dict[str, float]]:
        """log P(choice + ``]]`` | prefix) for every prefix and choice, summed over the choice's tokens."""
        import torch

        tokenizer = self._tokenizer
        add_bos = not self.has_chat_template
        rows, spans = [], []
        for prefix in prefixes:
            prefix_ids = tokenizer(prefix, add_special_tokens=add_bos)["input_ids"]
            for choice in choices:
                choice_ids = tokenizer(choice + "]]", add_special_tokens=False)["input_ids"]
                rows.append(prefix_ids + choice_ids)
                spans.append(len(choice_ids))
        width, keep = max(len(row) for row in rows), max(spans) + 1
        pad = tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(row)) + row for row in rows], device=self.device)
        attention = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in rows], device=self.device)
        with torch.inference_mode():
            # Only the last positions matter (left padding aligns every choice at the right edge);
            # full logits would be rows x width x vocabulary floats, gigabytes for a 262k vocabulary.
            logits = self._model(input_ids=input_ids, attention_mask=attention, logits_to_keep=keep).logits.float()
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1)  # position i predicts token width - keep + 1 + i
        targets = input_ids[:, width - keep + 1 :]
        token_logprobs = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        results: list[dict[str, float]] = []
        for start in range(0, len(rows), len(choices)):
            results.append(
                {
                    choice: float(token_logprobs[start + k, -spans[start + k] :].sum())
                    for k, choice in enumerate(choices)
                }
            )
        return results

    def choose(
        self, requests: Sequence[Request], sampling: SamplingConfig, choices: Sequence[str], on_done: OnDone
    ) -> None:
        """Write an analysis, then pick the most probable of ``choices`` inside ``[[...]]``.

        The reported text is the analysis (cut before any ``[[`` it wrote itself) followed by
        ``[[choice]]``, so the ordinary parser reads it; the log-probabilities go in ``extra``.
        """
        if not requests:
            return
        self.load()
        with tqdm(total=len(requests), desc=self.progress or f"{self.spec} (likelihood)") as bar:
            for index, batch in enumerate(self._batches(requests)):
                prompts = [prompt for _, prompt in batch]
                analyses = self._safe_generate(prompts, sampling, sampling.seed + index)
                ready = [(i, a) for i, a in enumerate(analyses) if a.ok]
                texts = {i: a.text.split("[[")[0].rstrip() for i, a in ready}
                prefixes = [prompts[i] + texts[i] + ("\n" if texts[i] else "") + "[[" for i, _ in ready]
                scored = self.choice_logprobs(prefixes, choices) if prefixes else []
                for (i, analysis), logprobs in zip(ready, scored, strict=True):
                    best = max(choices, key=logprobs.__getitem__)
                    analysis.text = f"{texts[i]}\n[[{best}]]".lstrip()
                    analysis.extra = {"choice_logprobs": logprobs}
                for (request, _), completion in zip(batch, analyses, strict=True):
                    on_done(request, completion)
                bar.update(len(batch))


def _as_list(value: Any) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
