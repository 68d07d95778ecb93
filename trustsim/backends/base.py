"""The one interface every generation backend implements.

A backend takes chat requests and reports each finished one through a callback as soon as it is
done, so the caller can append it to disk at once: a crash loses only what is still in flight.
A request that fails after the backend's retries is reported too, with its error, never dropped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Message = dict[str, str]


@dataclass(frozen=True)
class SamplingConfig:
    """How to sample. Judges use ``temperature=0`` (deterministic) by default."""

    max_new_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class Request:
    """One chat request; ``key`` identifies its record (e.g. ``(id, question_type)``)."""

    key: tuple[Any, ...]
    messages: tuple[Message, ...]


@dataclass
class Completion:
    """What came back: the text, or the error that stopped it, and the tokens it used."""

    text: str | None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Backend-specific facts worth keeping in the record (e.g. a likelihood judge's log-probabilities).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


OnDone = Callable[[Request, Completion], None]


class Backend(ABC):
    """A model behind a spec such as ``openai:gpt-4o`` or ``hf:path``."""

    #: The spec as the user wrote it; stored in every record and in ``run.json``.
    spec: str

    @abstractmethod
    def generate(self, requests: Sequence[Request], sampling: SamplingConfig, on_done: OnDone) -> None:
        """Run every request and call ``on_done`` once per request, as each finishes."""

    def settings(self) -> dict[str, Any]:
        """Settings that change the outputs (recorded in ``run.json``; never secrets)."""
        return {"spec": self.spec}
