"""How numbers are printed in reports, run summaries and model cards: one precision, one missing mark."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

#: Shown for a number that does not exist (subject not evaluated, no known verdict).
MISSING = "\N{EN DASH}"


def is_number(value: Any) -> bool:
    """A real number to print: not None, not NaN, and not a bool (which Python counts as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def percent(value: Any, digits: int = 1, missing: str = MISSING) -> str:
    """A fraction as a percentage, one decimal by default (the paper's precision), or ``missing``."""
    return f"{100 * value:.{digits}f}" if is_number(value) else missing


def percent_ci(value: Any, ci: Any, *, signed: bool = False) -> str:
    """``83.3 [80.1, 86.2]``; the sign is forced for differences so direction is visible at a glance."""
    if not is_number(value):
        return MISSING
    text = f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"
    if isinstance(ci, Sequence) and len(ci) == 2 and all(is_number(x) for x in ci):
        text += f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"
    return text


def score_text(value: Any, missing: str = MISSING) -> str:
    """A 1-5 score with two decimals, as the paper's Table 2 prints it, or ``missing``."""
    return f"{value:.2f}" if is_number(value) else missing


def count_text(value: Any) -> str:
    """An int, or a dict of ints as ``key: value`` pairs (counts broken down by question type or judge)."""
    if isinstance(value, Mapping):
        return ", ".join(f"{key}: {count}" for key, count in value.items()) or "0"
    return MISSING if value is None else str(value)


def p_value_text(value: Any) -> str:
    """Three decimals, with very small values as ``<0.001`` rather than a misleading ``0.000``."""
    if not is_number(value):
        return MISSING
    return "<0.001" if value < 0.001 else f"{value:.3f}"
