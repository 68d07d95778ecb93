"""Access to the ``trustsim_consistency`` metric: through ``evaluate`` or as a plain function.

The arithmetic lives only in ``metrics/trustsim_consistency/trustsim_consistency.py``, which stays
self-contained so the folder works as a Hub metric Space without this package. This module finds that
folder next to the installed (editable) package and either hands it to ``evaluate.load`` - what
``trustsim score`` uses - or imports the same file directly, for callers that want the numbers without
evaluate's Arrow round-trip (per-judge breakdowns, tests). Both paths run the same code.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from trustsim.paths import METRIC_DIR

#: The metric folder, resolved relative to the package so it works from any working directory.
METRIC_SCRIPT: Path = METRIC_DIR / "trustsim_consistency.py"


def metric_dir() -> Path:
    """The metric folder; ``FileNotFoundError`` with a fix when the package is not a source checkout."""
    if not METRIC_SCRIPT.is_file():
        raise FileNotFoundError(
            f"metric script not found at {METRIC_SCRIPT}: the trustsim_consistency metric ships in the "
            "repository's metrics/ folder, so install TrustSim from a clone with `pip install -e .`"
        )
    return METRIC_DIR


def load_metric(**kwargs: Any) -> Any:
    """``evaluate.load`` of the repository's metric folder (works offline: nothing is downloaded).

    ``keep_in_memory`` defaults to True: the inputs are small, and it avoids evaluate's on-disk cache
    files and file locks, which collide when several processes score at once. Other keyword arguments
    go to ``evaluate.load``.
    """
    import evaluate

    kwargs.setdefault("keep_in_memory", True)
    return evaluate.load(str(metric_dir()), **kwargs)


@functools.cache
def metric_module() -> ModuleType:
    """The metric script imported as an ordinary module (cached), exposing ``compute_consistency``."""
    spec = importlib.util.spec_from_file_location("trustsim_consistency_metric", metric_dir() / METRIC_SCRIPT.name)
    if spec is None or spec.loader is None:  # pragma: no cover - only for a broken file system
        raise ImportError(f"cannot import {METRIC_SCRIPT}")
    module = importlib.util.module_from_spec(spec)
    module._TRUSTSIM_PLAIN = True  # the plain function only: no evaluate import (see the script)
    spec.loader.exec_module(module)
    return module


def compute_consistency(
    dimension: Sequence[str],
    self_report_satisfied: Sequence[bool | None],
    open_ended_satisfied: Sequence[bool | None],
    open_ended_score: Sequence[float | None],
    *,
    seed: int = 0,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """The metric's ``compute`` without evaluate: same inputs, same output, same code."""
    return metric_module().compute_consistency(
        dimension,
        self_report_satisfied,
        open_ended_satisfied,
        open_ended_score,
        seed=seed,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
    )
