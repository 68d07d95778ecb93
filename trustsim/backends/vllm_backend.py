"""Offline batched generation with vLLM (the ``vllm`` extra), imported only when a ``vllm:`` spec is used.

vLLM schedules a whole list of prompts at once, which is fastest, but reports nothing until the list
is done; requests are therefore sent in chunks of ``chunk_size`` and each finished chunk is reported
at once, so a crash loses at most one chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tqdm.auto import tqdm

from trustsim.backends.base import Backend, Completion, OnDone, Request, SamplingConfig
from trustsim.backends.hf_backend import PLAIN_STOPS, plain_prompt


class VLLMBackend(Backend):
    """A model served in-process by ``vllm.LLM``."""

    def __init__(
        self,
        model: str,
        chunk_size: int = 256,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        progress: str | None = None,
    ) -> None:
        try:
            import vllm  # noqa: F401 - fail now, with the fix, rather than deep inside a run
        except ImportError:
            raise ImportError(
                f"vllm:{model} needs vLLM: pip install 'trustsim[vllm]' (Linux with a CUDA GPU), "
                "or serve the model with `vllm serve` and use openai:<model> --base-url"
            ) from None
        self.model_name = model
        self.spec = f"vllm:{model}"
        self.chunk_size = chunk_size
        self.engine_options: dict[str, Any] = {
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
        }
        if max_model_len:
            self.engine_options["max_model_len"] = max_model_len
        self.progress = progress
        self._llm = None

    def settings(self) -> dict[str, Any]:
        return {"spec": self.spec, **self.engine_options}

    def _engine(self):
        if self._llm is None:
            from vllm import LLM

            self._llm = LLM(model=self.model_name, **self.engine_options)
        return self._llm

    def generate(self, requests: Sequence[Request], sampling: SamplingConfig, on_done: OnDone) -> None:
        from vllm import SamplingParams

        if not requests:
            return
        llm = self._engine()
        has_template = bool(getattr(llm.get_tokenizer(), "chat_template", None))
        params = SamplingParams(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_new_tokens,
            seed=sampling.seed,
            stop=None if has_template else list(PLAIN_STOPS),
        )
        with tqdm(total=len(requests), desc=self.progress or self.spec) as bar:
            for start in range(0, len(requests), self.chunk_size):
                chunk = requests[start : start + self.chunk_size]
                for request, completion in zip(chunk, self._run_chunk(llm, chunk, params, has_template), strict=True):
                    on_done(request, completion)
                bar.update(len(chunk))

    def _run_chunk(self, llm: Any, chunk: Sequence[Request], params: Any, has_template: bool) -> list[Completion]:
        """One chunk's completions; a chunk that fails is reported as failed requests, not lost."""
        try:
            if has_template:
                outputs = llm.chat([list(r.messages) for r in chunk], params, use_tqdm=False)
            else:  # a base model: the same plain transcript the hf: backend uses
                outputs = llm.generate([plain_prompt(r.messages) for r in chunk], params, use_tqdm=False)
        except Exception as err:
            return [Completion(None, error=f"{self.spec}: {' '.join(str(err).split())[:300]}") for _ in chunk]
        return [
            Completion(
                output.outputs[0].text.strip(),
                prompt_tokens=len(output.prompt_token_ids or ()),
                completion_tokens=len(output.outputs[0].token_ids),
            )
            for output in outputs
        ]
