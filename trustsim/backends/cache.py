"""A request cache shared across runs: a deterministic request is answered once, whatever the run folder.

A request is deterministic when it is sampled at temperature 0 (every judge, by default). Its key is
a hash of everything that decides the reply: the backend's settings (spec and server), the exact
messages, the sampling settings, the prompt or template version the stage passes as ``namespace``,
and for likelihood verdicts the choices. Re-judging the same answers in a new run folder therefore
sends nothing and records the same verdicts and scores; anything that could change the reply makes
a new key. Entries are one small JSON file each, written atomically like the run files, so a crash
leaves an entry whole or absent. The folder is ``$TRUSTSIM_CACHE``, else ``~/.cache/trustsim``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from trustsim.backends.base import Backend, Completion, OnDone, Request, SamplingConfig
from trustsim.records import write_atomic


def default_cache_dir() -> Path:
    """``$TRUSTSIM_CACHE``, else ``$XDG_CACHE_HOME/trustsim``, else ``~/.cache/trustsim``."""
    if os.environ.get("TRUSTSIM_CACHE"):
        return Path(os.environ["TRUSTSIM_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "trustsim"


class RequestCache:
    """Completions by request key, one JSON file per entry under ``folder/requests/``."""

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self.folder = Path(folder) if folder else default_cache_dir()

    def key(self, backend: Backend, request: Request, sampling: SamplingConfig, namespace: str, extra: Any = None):
        material = [backend.settings(), list(request.messages), dataclasses.asdict(sampling), namespace, extra]
        return hashlib.sha256(json.dumps(material, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.folder / "requests" / key[:2] / f"{key}.json"

    def get(self, key: str) -> Completion | None:
        """The cached completion, or None (absent, or an entry that cannot be read is a miss)."""
        try:
            entry = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
            return None
        extra = {**(entry.get("extra") or {}), "cached": True}
        return Completion(entry["text"], prompt_tokens=0, completion_tokens=0, extra=extra)

    def put(self, key: str, completion: Completion) -> None:
        """Store a successful completion; a cache that cannot be written is skipped, never fatal."""
        entry = {
            "text": completion.text,
            "extra": {k: v for k, v in completion.extra.items() if k != "cached"},
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
        }
        with contextlib.suppress(OSError):
            write_atomic(self.path(key), json.dumps(entry, ensure_ascii=False))

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()


class CachingBackend(Backend):
    """``inner`` with its deterministic requests answered from (and stored in) a :class:`RequestCache`.

    A hit is reported at once with ``extra["cached"] = True`` and no tokens (nothing was sent); a miss
    goes to ``inner``. Requests sampled above temperature 0 always go to ``inner`` and are not stored.
    """

    def __init__(self, inner: Backend, cache: RequestCache, namespace: str) -> None:
        self.inner = inner
        self.cache = cache
        self.namespace = namespace
        self.spec = inner.spec
        self.supports_choice = inner.supports_choice
        self.concurrent_safe = inner.concurrent_safe
        self.concurrency = getattr(inner, "concurrency", None)

    @property
    def progress(self) -> str | None:  # type: ignore[override]
        return self.inner.progress

    @progress.setter
    def progress(self, label: str | None) -> None:
        self.inner.progress = label

    def settings(self) -> dict[str, Any]:
        return self.inner.settings()

    def count_tokens(self, conversations):
        return self.inner.count_tokens(conversations)

    def check(self) -> None:
        if hasattr(self.inner, "check"):
            self.inner.check()

    def cached(self, requests: Sequence[Request], sampling: SamplingConfig, choices: Any = None) -> list[Request]:
        """The requests the cache would answer (for ``--dry-run``)."""
        if sampling.temperature != 0:
            return []
        return [r for r in requests if self.cache.key(self.inner, r, sampling, self.namespace, choices) in self.cache]

    def _split(self, requests: Iterable[Request], sampling: SamplingConfig, on_done: OnDone, choices: Any):
        """The requests the cache cannot answer (reporting the hits at once), and an ``on_done`` that
        stores what the inner backend returns. A lazy iterable stays lazy: it is checked as it is read."""
        if sampling.temperature != 0:
            return requests, on_done
        keys: dict[tuple, str] = {}

        def misses() -> Iterator[Request]:
            for request in requests:
                keys[request.key] = key = self.cache.key(self.inner, request, sampling, self.namespace, choices)
                hit = self.cache.get(key)
                if hit is None:
                    yield request
                else:
                    on_done(request, hit)

        def store(request: Request, completion: Completion) -> None:
            if completion.ok:
                self.cache.put(keys[request.key], completion)
            on_done(request, completion)

        return (list(misses()) if isinstance(requests, Sequence) else misses()), store

    def generate(self, requests: Iterable[Request], sampling: SamplingConfig, on_done: OnDone) -> None:
        misses, report = self._split(requests, sampling, on_done, None)
        if not isinstance(misses, Sequence) or misses:
            self.inner.generate(misses, sampling, report)

    def choose(
        self, requests: Sequence[Request], sampling: SamplingConfig, choices: Sequence[str], on_done: OnDone
    ) -> None:
        misses, report = self._split(list(requests), sampling, on_done, list(choices))
        if misses:
            self.inner.choose(misses, sampling, choices, report)
