"""Generation backends, chosen by spec: ``openai:<model>``, ``hf:<id or path>``, ``vllm:<id>``, ``mock:<name>``.

The contract every backend keeps is :class:`~trustsim.backends.base.Backend`.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from trustsim.backends.base import Backend, Completion, Request, SamplingConfig

__all__ = ["Backend", "Completion", "Request", "SamplingConfig", "display_name", "load_backend"]

SCHEMES = ("openai", "hf", "vllm", "mock")


def backend_class(spec: str) -> type[Backend]:
    """The class behind ``spec``, imported only now (vLLM and torch are heavy imports)."""
    scheme, sep, name = spec.partition(":")
    if not sep or not name or scheme not in SCHEMES:
        raise ValueError(
            f"model spec {spec!r} must be one of openai:<model>, hf:<id or path>, vllm:<id>, mock:<name>"
        )
    if scheme == "openai":
        from trustsim.backends.openai_backend import OpenAIBackend

        return OpenAIBackend
    if scheme == "mock":
        from trustsim.backends.mock import MockBackend

        return MockBackend
    if scheme == "hf":
        from trustsim.backends.hf_backend import HFBackend

        return HFBackend
    from trustsim.backends.vllm_backend import VLLMBackend

    return VLLMBackend


def display_name(spec: str) -> str:
    """A spec fit for tables, metric keys and parquet columns: a local path becomes its file or folder name.

    ``hf:/home/me/models/gemma-3-270m-q4_k_m.gguf`` -> ``hf:gemma-3-270m-q4_k_m``; Hub ids and server
    model names are kept as they are. The full spec stays in ``run.json`` and the record files.
    """
    scheme, sep, name = spec.partition(":")
    if not sep:
        return spec
    path = Path(name).expanduser()
    if name.startswith(("/", "./", "../", "~")) or (path.exists() and len(path.parts) > 1):
        stem = path.name.removesuffix(".gguf") or name
        return f"{scheme}:{stem}"
    return spec


def load_backend(spec: str, **options: Any) -> Backend:
    """The backend for ``spec``; a bad spec is a one-line ``ValueError`` naming the allowed forms.

    ``options`` may hold settings for every kind of backend (the command line collects them all);
    each backend takes the ones its constructor names and ignores the rest, so ``base_url`` does not
    reach a local model and ``batch_size`` does not reach an HTTP client.
    """
    cls = backend_class(spec)
    accepted = inspect.signature(cls.__init__).parameters
    return cls(spec.partition(":")[2], **{k: v for k, v in options.items() if k in accepted and v is not None})
