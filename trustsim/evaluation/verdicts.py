"""Reading a judge's verdict out of its free text.

The judge is asked to analyse first and then give ``[[Satisfied]]`` / ``[[Not Satisfied]]`` or
``[[1]]``..``[[5]]``. The parser takes the *last* double-bracketed token the judge wrote itself: what
the instructions show (``'[[Satisfied]]' or '[[Not Satisfied]]'``, ``for example [[3]]``, ``[[score]]``)
is never a verdict, however a judge echoes it, and a label it only quotes in quotation marks does not
override an unquoted verdict. It tolerates case,
spacing and markdown around the brackets, and is strict inside them: ``[[4.5]]``, ``[[Mostly
Satisfied]]`` or ``[[4/5]]`` are not verdicts, and give ``None`` rather than a guess. An answer with no
verdict is ``None`` too, never "Not Satisfied": unparsable answers are counted, not scored.
"""

from __future__ import annotations

import re

#: ``[[...]]`` whose inside holds no ``[[``: an unclosed ``[[`` earlier in a reply does not swallow a later verdict.
_BRACKETED = re.compile(r"\[\[((?:(?!\[\[).)*?)\]\]", re.DOTALL)
_MARKUP = re.compile(r"[*_`]")
_BINARY = {"satisfied": True, "not satisfied": False}
_SCORE = re.compile(r"^[1-5]$")
_QUOTES_OPEN = "'\"\u2018\u201c"
_QUOTES_CLOSE = "'\"\u2019\u201d"
#: What the instructions themselves show, echoed back by a judge: never a verdict.
_ECHOES = re.compile(
    r"""
    \[\[\s*satisfied\s*\]\]\W{0,3}\s*(?:or|/)\s*\W{0,3}\[\[\s*not\s+satisfied\s*\]\]   # the two choices
  | \[\[\s*not\s+satisfied\s*\]\]\W{0,3}\s*(?:or|/)\s*\W{0,3}\[\[\s*satisfied\s*\]\]
  | (?:for\s+example|e\.g\.|such\s+as|like)\s*[,:]?\s*\W?\[\[[^\[\]]*\]\]                  # "for example [[3]]"
  | \[\[\s*1\s*\]\]\W{0,2}\s*(?:to|-|\u2013)\s*\W{0,2}\[\[\s*5\s*\]\]                      # "[[1]] to [[5]]"
  | \[\[\s*(?:score|rating|verdict)\s*\]\]                                                   # "a format of [[score]]"
    """,
    re.IGNORECASE | re.VERBOSE,
)


def _candidates(text: str) -> list[tuple[str, bool]]:
    """Every ``[[...]]`` the judge wrote itself, in order, with whether it stands inside quotation marks."""
    cleaned = _ECHOES.sub(lambda m: " " * len(m.group(0)), text or "")
    found = []
    for match in _BRACKETED.finditer(cleaned):
        before = cleaned[: match.start()].rstrip(" *_`")[-1:]
        after = cleaned[match.end() :].lstrip(" *_`")[:1]
        quoted = bool(before) and before in _QUOTES_OPEN and bool(after) and after in _QUOTES_CLOSE
        found.append((" ".join(_MARKUP.sub("", match.group(1)).split()).lower(), quoted))
    return found


def _last_bracketed(text: str) -> str | None:
    """The judge's verdict token: the last one it wrote itself, not a label it only quotes.

    A quoted label (``the rubric's "[[Satisfied]]"``) counts only when the reply holds no unquoted one.
    """
    found = _candidates(text)
    unquoted = [inner for inner, quoted in found if not quoted]
    if unquoted:
        return unquoted[-1]
    return found[-1][0] if found else None


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
