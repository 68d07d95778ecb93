"""``mock:<name>``: a backend that answers at once, offline, deterministically (like inspect_ai's ``mockllm``).

For trying the pipeline without a model or a key, and for tests and dry runs of every stage. The
reply is derived from a hash of the name and the request, so the same request always gets the same
reply and different ones differ: metrics come out mixed, not all 0 or all 100%.

* A judge prompt (one that asks for ``[[Satisfied]]``/``[[Not Satisfied]]`` or for a ``[[score]]``)
  gets a short analysis ending in a verdict or a 1-5 score in the paper's format.
* Anything else is answered as a character: "Yes." or "No." first (so self-report answers parse),
  then a sentence naming the mock.

It supports likelihood choice too (``--judge-verdict likelihood``), with made-up log-probabilities.
Its numbers mean nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any

from trustsim.backends.base import Backend, Completion, Message, OnDone, Request, SamplingConfig


def _words(messages: Sequence[Message]) -> int:
    return sum(len(m.get("content", "").split()) for m in messages)


class MockBackend(Backend):
    """Deterministic canned replies; no network, no model."""

    supports_choice = True
    concurrent_safe = True

    def __init__(self, model: str, progress: str | None = None) -> None:
        self.model_name = model
        self.spec = f"mock:{model}"
        self.progress = progress

    def _hash(self, request: Request, sampling: SamplingConfig) -> int:
        text = json.dumps([self.spec, list(request.messages), sampling.seed], sort_keys=True)
        return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")

    def reply(self, request: Request, sampling: SamplingConfig) -> str:
        """The reply to ``request``: a verdict for a judge prompt, an in-character answer otherwise."""
        value = self._hash(request, sampling)
        prompt = request.messages[-1].get("content", "") if request.messages else ""
        if "[[Satisfied]]" in prompt:
            verdict = "Satisfied" if value % 3 else "Not Satisfied"
            return f"Mock analysis by {self.model_name}. [[{verdict}]]"
        if "[[score]]" in prompt or "[[3]]" in prompt:
            return f"Mock analysis by {self.model_name}. [[{1 + value % 5}]]"
        return f"{'Yes' if value % 2 else 'No'}. A mock answer from {self.model_name}."

    def _completion(self, request: Request, text: str) -> Completion:
        return Completion(text, prompt_tokens=_words(request.messages), completion_tokens=len(text.split()))

    def generate(self, requests: Sequence[Request], sampling: SamplingConfig, on_done: OnDone) -> None:
        for request in requests:
            on_done(request, self._completion(request, self.reply(request, sampling)))

    def choose(
        self, requests: Sequence[Request], sampling: SamplingConfig, choices: Sequence[str], on_done: OnDone
    ) -> None:
        for request in requests:
            value = self._hash(request, sampling)
            weights = [1.0 + (value >> (4 * i)) % 7 for i in range(len(choices))]
            total = sum(weights)
            logprobs: dict[str, Any] = {c: math.log(w / total) for c, w in zip(choices, weights, strict=True)}
            best = max(choices, key=logprobs.__getitem__)
            completion = self._completion(request, f"Mock analysis by {self.model_name}.\n[[{best}]]")
            completion.extra = {"choice_logprobs": logprobs}
            on_done(request, completion)
