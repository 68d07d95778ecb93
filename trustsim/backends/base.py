"""The one interface every generation backend implements.

A backend takes chat requests and reports each finished one through a callback as soon as it is
done, so the caller can append it to disk at once: a crash loses only what is still in flight.
A request that fails after the backend's retries is reported too, with its error, never dropped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from trustsim import defaults

Message = dict[str, str]


@dataclass(frozen=True)
class SamplingConfig:
    """How to sample. Judges use ``temperature=0`` (deterministic) by default."""

    max_new_tokens: int = defaults.MAX_NEW_TOKENS
    temperature: float = defaults.TEMPERATURE
    top_p: float = defaults.TOP_P
    seed: int = defaults.SEED


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
    """The contract every backend keeps (``openai:``, ``hf:``, ``vllm:``, ``mock:``).

    Every backend provides:

    * ``spec``: the spec as the user wrote it, stored in every record and in ``run.json``;
    * ``progress``: the label of the progress bar its next ``generate``/``choose`` call shows (the stages
      set it; None shows the spec);
    * :meth:`generate`: run every request and report each one through ``on_done`` the moment it
      finishes, a failure as a :class:`Completion` with ``error`` set, never raised and never dropped.
      A ``concurrent_safe`` backend also takes a lazy iterable (which may block) and sends each request
      as soon as it is yielded, within its concurrency limit;
    * :meth:`settings`: what changes the outputs, for ``run.json`` (never a secret);
    * ``concurrent_safe``: whether the generate and judge stages may run it from two threads at once;
    * :meth:`count_tokens`: prompt tokens by the model's own tokenizer where it is local (``--dry-run``);
    * ``supports_choice`` and :meth:`choose`: a likelihood verdict (the most probable of a fixed set of
      strings after the judge's own analysis). Backends without token probabilities keep the default
      ``supports_choice = False`` and the judge stage parses their text instead.

    ``tests/test_backend_contract.py`` checks all of this for every backend.
    """

    spec: str
    progress: str | None = None
    supports_choice: ClassVar[bool] = False
    #: Whether two threads may call it at once (an HTTP client may; a local model owns its device).
    concurrent_safe: ClassVar[bool] = False

    @abstractmethod
    def generate(self, requests: Sequence[Request], sampling: SamplingConfig, on_done: OnDone) -> None:
        """Run every request and call ``on_done`` once per request, as each finishes."""

    def choose(
        self, requests: Sequence[Request], sampling: SamplingConfig, choices: Sequence[str], on_done: OnDone
    ) -> None:
        """Like :meth:`generate`, ending each reply with ``[[choice]]`` for the most probable of ``choices``.

        The completion's ``extra["choice_logprobs"]`` maps each choice to its log-probability.
        """
        raise NotImplementedError(f"{self.spec} cannot give token probabilities (supports_choice is False)")

    def settings(self) -> dict[str, Any]:
        """Settings that change the outputs (recorded in ``run.json``; never secrets)."""
        return {"spec": self.spec}

    def count_tokens(self, conversations: Sequence[Sequence[Message]]) -> int | None:
        """Prompt tokens of ``conversations`` by the model's own tokenizer, or None where it has none here
        (an API model): ``--dry-run`` then estimates them and says so."""
        return None
