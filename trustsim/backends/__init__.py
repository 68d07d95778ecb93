"""Generation backends, chosen by spec: ``openai:<model>``, ``hf:<id or path>``, ``vllm:<id>``."""

from __future__ import annotations

from typing import Any

from trustsim.backends.base import Backend, Completion, Request, SamplingConfig

__all__ = ["Backend", "Completion", "Request", "SamplingConfig", "load_backend"]

SCHEMES = ("openai", "hf", "vllm")


def load_backend(spec: str, **options: Any) -> Backend:
    """The backend for ``spec``; a bad spec is a one-line ``ValueError`` naming the allowed forms."""
    scheme, sep, name = spec.partition(":")
    if not sep or not name or scheme not in SCHEMES:
        raise ValueError(f"model spec {spec!r} must be one of openai:<model>, hf:<id or path>, vllm:<id>")
    if scheme == "openai":
        from trustsim.backends.openai_backend import OpenAIBackend

        return OpenAIBackend(name, **options)
    raise NotImplementedError(f"the {scheme}: backend is not implemented yet (issue 4); use openai:<model>")
