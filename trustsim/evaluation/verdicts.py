"""Reading a judge's verdict out of its free text.

The judge is asked to analyse first and then give ``[[Satisfied]]`` / ``[[Not Satisfied]]`` or
``[[1]]``..``[[5]]``. The parser takes the *last* double-bracketed token, because judges often quote
the instructions' ``'[[Satisfied]]' or '[[Not Satisfied]]'`` while analysing. It tolerates case,
spacing and markdown around the brackets, and is strict inside them: ``[[4.5]]``, ``[[Mostly
Satisfied]]`` or ``[[4/5]]`` are not verdicts, and give ``None`` rather than a guess. An answer with no
verdict is ``None`` too, never "Not Satisfied": unparsable answers are counted, not scored.
"""

from __future__ import annotations

import re

_BRACKETED = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)
_MARKUP = re.compile(r"[*_`]")
_BINARY = {"satisfied": True, "not satisfied": False}
_SCORE = re.compile(r"^[1-5]$")


def _last_bracketed(text: str) -> str | None:
    found = _BRACKETED.findall(text or "")
    if not found:
        return None
    inner = _MARKUP.sub("", found[-1])
    return " ".join(inner.split()).lower()


def parse_binary(text: str) -> bool | None:
    """``True`` for Satisfied, ``False`` for Not Satisfied, ``None`` when there is no valid verdict."""
    inner = _last_bracketed(text)
    return None if inner is None else _BINARY.get(inner)


def parse_score(text: str) -> int | None:
    """The 1-5 score in the last ``[[...]]``, or ``None`` when it is missing or malformed."""
    inner = _last_bracketed(text)
    return int(inner) if inner is not None and _SCORE.match(inner) else None


def parse_self_report(text: str) -> str | None:
    """``"Yes"`` or ``"No"`` when a self-report answer starts with it (markdown and quotes allowed)."""
    match = re.match(r"^[\s*_\"'`>#-]*(yes|no)\b", text or "", re.IGNORECASE)
    return match.group(1).capitalize() if match else None
