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
#: The same transcript as a jinja chat template, for training a base model on chat-formatted pairs
#: (``chat_template: plain`` in a recipe config). A tokenizer carrying exactly this template is served
#: the plain transcript again (with its stop strings), so a model trained on it is evaluated on it.
#: No BOS in the template: the trainer and :meth:`HFBackend._encode` add it, as for any base model.
PLAIN_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{{ message['content'] + '\\n\\n' }}"
    "{%- elif message['role'] == 'user' -%}{{ 'User: ' + message['content'] + '\\n' }}"
    "{%- elif message['role'] == 'assistant' -%}{{ 'Assistant: ' + message['content'] + '\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'Assistant:' }}{%- endif -%}"
)
#: What a PEFT adapter folder holds; such a folder is loaded as its base model plus the adapter.
ADAPTER_CONFIG = "adapter_config.json"


def plain_prompt(messages: Sequence[Message]) -> str:
    """The :data:`PLAIN_TEMPLATE` transcript of ``messages``, ending where the assistant speaks."""
    return "".join(PLAIN_ROLES[m["role"]].format(content=m["content"]) for m in messages) + PLAIN_GENERATION_PROMPT


def hf_source(model: str) -> tuple[str, dict[str, Any]]:
    """What ``from_pretrained`` takes for ``model``: a Hub id or folder as it is, a ``.gguf`` file split.

    transformers reads GGUF from a folder plus a file name (``gguf_file=``) and dequantizes the weights;
    the recipe loads its base model through this too, so ``hf:`` specs and training accept the same paths.
    """
    if model.endswith(".gguf"):
        path = Path(model)
        return str(path.parent), {"gguf_file": path.name}
    return model, {}


def adapter_base_model(model: str) -> str | None:
    """The base model a PEFT adapter folder was trained on, or None when ``model`` is not one.

    A LoRA adapter saved by the AdaORPO recipe is evaluated as ``hf:<folder>``: its base (a Hub id, a
    folder or a ``.gguf`` file, as ``adapter_config.json`` records it) is loaded and the adapter applied.
    """
    config = Path(model) / ADAPTER_CONFIG
    if not config.is_file():
        return None
    import json

    try:
        base = json.loads(config.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, ValueError, AttributeError) as err:
        raise RuntimeError(f"hf:{model}: unreadable {ADAPTER_CONFIG} ({err})") from None
    if not isinstance(base, str) or not base:
        raise RuntimeError(f"hf:{model}: {ADAPTER_CONFIG} names no base_model_name_or_path")
    return base


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
        return hf_source(self.model_name)

    def _tokenizer_source(self) -> tuple[str, dict[str, Any]]:
        """An adapter folder's own tokenizer (it carries the template it was trained with), else the model's."""
        adapter_base = adapter_base_model(self.model_name)
        if adapter_base is not None and not (Path(self.model_name) / "tokenizer_config.json").is_file():
            return hf_source(adapter_base)
        return self._source()

    def load_tokenizer(self) -> None:
        """Load only the tokenizer (enough to render and count prompts, e.g. for ``--dry-run``)."""
        if getattr(self, "_tokenizer", None) is not None:
            return
        from transformers import AutoTokenizer

        source, extra = self._tokenizer_source()
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **extra)
        except (OSError, ValueError) as err:
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
        adapter_base = adapter_base_model(self.model_name)
        source, extra = hf_source(adapter_base) if adapter_base is not None else self._source()
        dtype = getattr(torch, self.dtype_name) if self.dtype_name else default_dtype(self.device)
        try:
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **extra)
            if adapter_base is not None:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, self.model_name)
        except (OSError, ValueError) as err:
            raise RuntimeError(f"{self.spec}: cannot load the model ({' '.join(str(err).split())[:300]})") from None
        model.to(self.device).eval()
        self._model = model

    def count_tokens(self, conversations: Sequence[Sequence[Message]]) -> int:
        """Prompt tokens of ``conversations`` as this model will see them (its own tokenizer)."""
        self.load_tokenizer()
        return sum(len(self._tokenizer(self.render(m), add_special_tokens=False)["input_ids"]) for m in conversations)

    @property
    def has_chat_template(self) -> bool:
        """Whether prompts go through the tokenizer's template (the library's plain one counts as none)."""
        self.load_tokenizer()
        template = getattr(self._tokenizer, "chat_template", None)
        return bool(template) and template != PLAIN_CHAT_TEMPLATE

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
        """log P(choice + ``]]`` | prefix) for every prefix and choice, summed over the choice's tokens.

        The prefixes (prompt, analysis, ``[[``: hundreds of tokens) are run once, and only the few tokens
        of each choice are run on top of their cached keys and values: a 1-5 score costs one pass over the
        prompt, not five. Positions are counted from each row's first real token, so a left-padded row
        scores exactly as it would alone.
        """
        import torch

        tokenizer, device = self._tokenizer, self.device
        add_bos = not self.has_chat_template
        prefix_ids = [tokenizer(prefix, add_special_tokens=add_bos)["input_ids"] for prefix in prefixes]
        choice_ids = [tokenizer(choice + "]]", add_special_tokens=False)["input_ids"] for choice in choices]
        pad, width, k = tokenizer.pad_token_id, max(len(row) for row in prefix_ids), len(choices)
        input_ids = torch.tensor([[pad] * (width - len(row)) + row for row in prefix_ids], device=device)
        mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in prefix_ids], device=device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            out = self._model(
                input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1
            )
            first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)  # predicts each choice's first token
            span = max(len(ids) for ids in choice_ids) - 1  # tokens fed after the prefix
            rest = None
            if span > 0:
                cache = out.past_key_values
                cache.batch_repeat_interleave(k)  # row b * k + j: prefix b, choice j
                feed = torch.tensor(
                    [(ids[:-1] + [pad] * span)[:span] for _ in prefix_ids for ids in choice_ids], device=device
                )
                fed = torch.tensor(
                    [([1] * (len(ids) - 1) + [0] * span)[:span] for _ in prefix_ids for ids in choice_ids],
                    device=device,
                )
                rest = self._model(
                    input_ids=feed,
                    attention_mask=torch.cat([mask.repeat_interleave(k, dim=0), fed], dim=1),
                    position_ids=positions[:, -1:].repeat_interleave(k, dim=0) + 1 + torch.arange(span, device=device),
                    past_key_values=cache,
                ).logits.float()
                rest = torch.log_softmax(rest, dim=-1)  # position t predicts the choice's token t + 1
        results: list[dict[str, float]] = []
        for b in range(len(prefix_ids)):
            row: dict[str, float] = {}
            for j, (choice, ids) in enumerate(zip(choices, choice_ids, strict=True)):
                total = float(first[b, ids[0]])
                for t in range(1, len(ids)):
                    total += float(rest[b * k + j, t - 1, ids[t]])
                row[choice] = total
            results.append(row)
        return results

    def choose(
        self, requests: Sequence[Request], sampling: SamplingConfig, choices: Sequence[str], on_done: OnDone
    ) -> None:
        """Write an analysis (none if ``max_new_tokens`` is 0), then pick the likeliest of ``choices`` in ``[[...]]``.

        The reported text is the analysis (cut before any ``[[`` it wrote itself) followed by
        ``[[choice]]``, so the ordinary parser reads it; the log-probabilities go in ``extra``.
        """
        if not requests:
            return
        self.load()
        with tqdm(total=len(requests), desc=self.progress or f"{self.spec} (likelihood)") as bar:
            for index, batch in enumerate(self._batches(requests)):
                prompts = [prompt for _, prompt in batch]
                if sampling.max_new_tokens > 0:
                    analyses = self._safe_generate(prompts, sampling, sampling.seed + index)
                else:  # no analysis: the verdict straight after the prompt (one pass, for slow machines)
                    counts = [len(self._tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
                    analyses = [Completion("", prompt_tokens=n, completion_tokens=0) for n in counts]
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
