"""Secrets never land anywhere: the values of key and token variables, and URL credentials, redacted.

Keys and tokens come only from the environment (``OPENAI_API_KEY``, ``HF_TOKEN``, ...). A server may
echo the key back in an error body, a base URL may carry ``user:password@``, a Hub error may quote
the token: every record, log line, message and card goes through :func:`redact` before it is written
or printed.
"""

from __future__ import annotations

import os
import re

#: Environment variables whose values must never appear in a file, a log or a message.
SECRET_ENV_VARS: tuple[str, ...] = (
    "OPENAI_API_KEY",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "WANDB_API_KEY",
)
#: Values shorter than this are not treated as secrets (``HF_TOKEN=1`` must not blank every "1").
MIN_SECRET_LENGTH = 8
REDACTED = "<redacted>"
#: ``scheme://user:password@host`` or ``scheme://token@host``: the part before ``@``.
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<credentials>[^/@\s]+)@", re.IGNORECASE)
#: Bearer tokens and the common key formats, wherever they come from.
_TOKEN_PATTERNS = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}|\b(sk-[A-Za-z0-9_-]{8,}|hf_[A-Za-z0-9]{8,})")


def secret_values() -> list[str]:
    """The values of the secret variables set now (long enough to be secrets), longest first."""
    values = {os.environ.get(name, "") for name in SECRET_ENV_VARS}
    return sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with secret values, bearer tokens, ``sk-``/``hf_`` keys and URL credentials replaced."""
    if not text:
        return text
    for value in secret_values():
        text = text.replace(value, REDACTED)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)
    return _TOKEN_PATTERNS.sub(lambda m: f"{m.group(1)}{REDACTED}" if m.group(1) else REDACTED, text)


def redact_url(url: str | None) -> str | None:
    """A base URL fit for ``run.json``: credentials removed."""
    return None if url is None else _URL_CREDENTIALS.sub(lambda m: m.group("scheme"), url)
