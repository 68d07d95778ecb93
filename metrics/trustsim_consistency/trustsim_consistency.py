"""TrustSim consistency: the paper's satisfaction, inconsistency and score numbers, with uncertainty.

This file is an ``evaluate`` metric script and deliberately self-contained (numpy, scipy, datasets and
evaluate only, no ``trustsim`` import): ``evaluate.load`` copies it into its module cache, and the
same folder can be pushed to the Hub as a metric Space and used without the TrustSim package. It is
the one place the numbers are computed: ``trustsim score`` loads it with ``evaluate.load`` and
``trustsim.evaluation.consistency.compute_consistency`` imports this very file, so there is no second copy of
the arithmetic to drift.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import binomtest

_CITATION = """\
@article{huang-trustsim,
  title  = {Exposing and Patching the Flaws of Large Language Models in Social Character Simulation},
  author = {Huang, Yue and Yuan, Zhengqing and Zhou, Yujun and Guo, Kehan and Wang, Xiangqi and
            Zhuang, Haomin and Sun, Weixiang and Li, Yuan and Sun, Lichao and Wang, Jindong and
            Ye, Yanfang and Zhang, Xiangliang},
  journal = {arXiv preprint},
}
"""

_DESCRIPTION = """\
How reliably a language model plays a social character (TRUSTSIM). Each instance asks the character
a self-report (Yes/No) question and an open-ended question; an LLM judge says whether each answer is
Satisfied, and scores the open-ended answer 1-5. The metric gives the satisfaction rate of each
question type, the rate at which both are satisfied (the paper's general consistency), the
inconsistency rate (exactly one of the two satisfied: internal consistency), the mean open-ended
score, the open-ended minus self-report difference with an exact McNemar test, 95% bootstrap
confidence intervals, and all of it per subject (dimension). Unknown verdicts (failed requests,
unparsable judge answers) are left out of every rate and counted, never scored as Not Satisfied.
"""

_KWARGS_DESCRIPTION = """
Args:
    dimension (`list` of `str`): the subject of each instance (the dataset's `dimension` column).
    self_report_satisfied (`list` of `bool` or `None`): judge verdict on the self-report answer;
        `None` when unknown (failed request or unparsable verdict).
    open_ended_satisfied (`list` of `bool` or `None`): judge verdict on the open-ended answer.
    open_ended_score (`list` of `float` or `None`): 1-5 score of the open-ended answer (a mean over
        judges, so not necessarily whole); `None` when unknown.
    seed (`int`, default 0): seed of the bootstrap, so identical calls give identical intervals.
    n_bootstrap (`int`, default 1000): bootstrap resamples; 0 turns the intervals off (all `None`).
    confidence (`float`, default 0.95): coverage of the percentile intervals.
Returns:
    `n`, `self_report_satisfaction_rate`, `open_ended_satisfaction_rate`, `both_satisfied_rate`,
    `inconsistency_rate`, `open_ended_mean_score`, `difference` (open-ended minus self-report rate),
    `mcnemar` ({`b`, `c`, `n_discordant`, `statistic`, `p_value`, `method`}), the counts `n_self_report`,
    `n_open_ended`, `n_paired`, `n_scored`, `missing_self_report`, `missing_open_ended`, `missing_score`,
    `ci` (statistic -> [low, high]), `per_dimension` (dimension -> the same keys) and `bootstrap`
    (the settings used). Rates are fractions in [0, 1]; a statistic with no known values is `None`.
Examples:
    >>> metric = evaluate.load("metrics/trustsim_consistency")
    >>> out = metric.compute(dimension=["Psychology", "Psychology"], self_report_satisfied=[True, None],
    ...                      open_ended_satisfied=[False, True], open_ended_score=[2.0, 4.5])
    >>> out["self_report_satisfaction_rate"], out["open_ended_satisfaction_rate"], out["missing_self_report"]
    (1.0, 0.5, 1)
"""

#: Statistics that get a point estimate and a bootstrap interval, in output order.
STATISTICS: tuple[str, ...] = (
    "self_report_satisfaction_rate",
    "open_ended_satisfaction_rate",
    "both_satisfied_rate",
    "inconsistency_rate",
    "open_ended_mean_score",
    "difference",
)


def _as_float(values: Sequence[Any], name: str, *, binary: bool) -> np.ndarray:
    """Verdicts/scores as floats with NaN for unknown, so every statistic is a NaN-aware mean.

    Validation happens here because a silently mis-typed input (a "Satisfied" string, a 0-10 score)
    would otherwise turn into a plausible-looking but wrong rate.
    """
    out = np.full(len(values), np.nan)
    for i, value in enumerate(values):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if binary:
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{name}[{i}] must be True, False or None, got {value!r}")
            out[i] = float(value)
        else:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
                raise ValueError(f"{name}[{i}] must be a number in [1, 5] or None, got {value!r}")
            if not 1.0 <= float(value) <= 5.0:
                raise ValueError(f"{name}[{i}] must be in [1, 5], got {value!r}")
            out[i] = float(value)
    return out


def _nan_mean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean over known (non-NaN) values; NaN where there are none, without numpy's warning."""
    known = ~np.isnan(values)
    count = known.sum(axis=axis)
    total = np.where(known, values, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _per_instance(sr: np.ndarray, oe: np.ndarray, score: np.ndarray) -> dict[str, np.ndarray]:
    """Per-instance values whose NaN-aware means are the rate statistics (NaN = not counted)."""
    paired = ~np.isnan(sr) & ~np.isnan(oe)
    return {
        "self_report_satisfaction_rate": sr,
        "open_ended_satisfaction_rate": oe,
        "both_satisfied_rate": np.where(paired, sr * oe, np.nan),
        "inconsistency_rate": np.where(paired, (sr != oe).astype(float), np.nan),
        "open_ended_mean_score": score,
    }


def _estimates(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """All STATISTICS from per-instance values; works on one sample (1-D) or many resamples (2-D)."""
    out = {name: _nan_mean(column) for name, column in values.items()}
    out["difference"] = out["open_ended_satisfaction_rate"] - out["self_report_satisfaction_rate"]
    return out


def _none_or_float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _mcnemar(sr: np.ndarray, oe: np.ndarray) -> dict[str, Any]:
    """Exact (binomial) McNemar test of whether the two question types' satisfaction rates differ.

    Only instances with both verdicts known take part, as the test is about paired answers. ``b``
    counts self-report satisfied but open-ended not, ``c`` the reverse. Under the null hypothesis a
    discordant pair is equally likely either way, so ``b ~ Binomial(b + c, 1/2)``; the two-sided
    p-value is scipy's exact binomial test. The statistic is ``min(b, c)``, as statsmodels reports it.
    With no discordant pairs there is no evidence of a difference (p = 1); with no pairs at all the
    test is not defined (p = None).
    """
    paired = ~np.isnan(sr) & ~np.isnan(oe)
    b = int(np.sum(paired & (sr == 1) & (oe == 0)))
    c = int(np.sum(paired & (sr == 0) & (oe == 1)))
    if not paired.any():
        p_value = None
    elif b + c == 0:
        p_value = 1.0
    else:
        p_value = float(binomtest(b, b + c, 0.5, alternative="two-sided").pvalue)
    return {
        "b": b,
        "c": c,
        "n_discordant": b + c,
        "statistic": min(b, c),
        "p_value": p_value,
        "method": "exact binomial McNemar, two-sided; b = self-report only satisfied, c = open-ended only",
    }


def _bootstrap_ci(
    values: dict[str, np.ndarray], n: int, *, seed: int, n_bootstrap: int, confidence: float
) -> dict[str, list[float] | None]:
    """Percentile bootstrap intervals, resampling whole instances so paired statistics stay paired.

    A resample in which a statistic has no known value (possible when few are known) is skipped for
    that statistic rather than counted as 0. The generator is created from ``seed`` for each group,
    so a subject's interval does not depend on which other subjects are present.
    """
    if n == 0 or n_bootstrap == 0:
        return dict.fromkeys(STATISTICS)
    rng = np.random.default_rng(seed)
    index = rng.integers(0, n, size=(n_bootstrap, n))
    replicates = _estimates({name: column[index] for name, column in values.items()})
    tail = (1.0 - confidence) / 2.0 * 100.0
    out: dict[str, list[float] | None] = {}
    for name in STATISTICS:
        finite = replicates[name][~np.isnan(replicates[name])]
        if finite.size == 0:
            out[name] = None
        else:
            low, high = np.percentile(finite, [tail, 100.0 - tail])
            out[name] = [float(low), float(high)]
    return out


def _summarise(
    sr: np.ndarray, oe: np.ndarray, score: np.ndarray, *, seed: int, n_bootstrap: int, confidence: float
) -> dict[str, Any]:
    """Every number for one group of instances (all of them, or one subject)."""
    n = len(sr)
    values = _per_instance(sr, oe, score)
    point = _estimates(values)
    n_self_report = int(np.sum(~np.isnan(sr)))
    n_open_ended = int(np.sum(~np.isnan(oe)))
    n_scored = int(np.sum(~np.isnan(score)))
    result: dict[str, Any] = {"n": n}
    result.update({name: _none_or_float(float(point[name])) for name in STATISTICS})
    result.update(
        {
            "n_self_report": n_self_report,
            "n_open_ended": n_open_ended,
            "n_paired": int(np.sum(~np.isnan(sr) & ~np.isnan(oe))),
            "n_scored": n_scored,
            "missing_self_report": n - n_self_report,
            "missing_open_ended": n - n_open_ended,
            "missing_score": n - n_scored,
            "mcnemar": _mcnemar(sr, oe),
            "ci": _bootstrap_ci(values, n, seed=seed, n_bootstrap=n_bootstrap, confidence=confidence),
        }
    )
    return result


def _check_columns(columns: dict[str, Any]) -> None:
    """Type- and range-check whichever input columns are given (raises ``ValueError`` naming the entry)."""
    for i, name in enumerate(columns.get("dimension") or ()):
        if not isinstance(name, str) or not name:
            raise ValueError(f"dimension[{i}] must be a non-empty string, got {name!r}")
    for key, binary in (("self_report_satisfied", True), ("open_ended_satisfied", True), ("open_ended_score", False)):
        if columns.get(key) is not None:
            _as_float(columns[key], key, binary=binary)


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
    """The metric as a plain function: one entry per instance in each list, ``None`` = unknown.

    Returns a JSON-serialisable dict (see the module's ``_KWARGS_DESCRIPTION``). Unknown values are
    dropped from the statistics they would enter and counted in ``missing_*``; a statistic with no
    known value is ``None``. ``difference`` is the open-ended minus the self-report rate, each over
    its own known verdicts (the paper's Table 3a), while the McNemar test uses paired instances only.
    """
    columns = {
        "dimension": dimension,
        "self_report_satisfied": self_report_satisfied,
        "open_ended_satisfied": open_ended_satisfied,
        "open_ended_score": open_ended_score,
    }
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"all inputs need one entry per instance; got lengths {lengths}")
    _check_columns({"dimension": dimension})
    if not isinstance(n_bootstrap, int) or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be a non-negative integer, got {n_bootstrap!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")

    sr = _as_float(self_report_satisfied, "self_report_satisfied", binary=True)
    oe = _as_float(open_ended_satisfied, "open_ended_satisfied", binary=True)
    score = _as_float(open_ended_score, "open_ended_score", binary=False)
    settings = {"seed": int(seed), "n_bootstrap": n_bootstrap, "confidence": confidence}

    result = _summarise(sr, oe, score, **settings)
    dims = np.asarray(dimension, dtype=object)
    result["per_dimension"] = {
        name: _summarise(sr[dims == name], oe[dims == name], score[dims == name], **settings)
        for name in sorted(set(dimension))
    }
    result["bootstrap"] = {"method": "percentile, instances resampled with replacement", **settings}
    return result


#: ``trustsim.evaluation.consistency`` sets this when it imports the file for :func:`compute_consistency`
#: alone (``trustsim eval``/``score``): the evaluate face below, and evaluate's import of several seconds,
#: are then left out. ``evaluate.load`` never sets it, so the metric is what it always was.
_PLAIN = bool(globals().get("_TRUSTSIM_PLAIN"))

if not _PLAIN:
    import datasets
    import evaluate

    @evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
    class TrustsimConsistency(evaluate.Metric):
        """The ``evaluate`` face of :func:`compute_consistency`, so runs can be scored with ``evaluate.load``."""

        def _info(self) -> evaluate.MetricInfo:
            """Declared features make evaluate store None as null (not False) and reject missing columns."""
            return evaluate.MetricInfo(
                description=_DESCRIPTION,
                citation=_CITATION,
                inputs_description=_KWARGS_DESCRIPTION,
                features=datasets.Features(
                    {
                        "dimension": datasets.Value("string"),
                        "self_report_satisfied": datasets.Value("bool"),
                        "open_ended_satisfied": datasets.Value("bool"),
                        "open_ended_score": datasets.Value("float64"),
                    }
                ),
                reference_urls=[],
            )

        def add_batch(self, *, predictions: Any = None, references: Any = None, **kwargs: Any) -> None:
            """Validate before ``datasets`` encodes: its bool feature turns "Not Satisfied" or 2 into True."""
            _check_columns(kwargs)
            super().add_batch(predictions=predictions, references=references, **kwargs)

        def add(self, *, prediction: Any = None, reference: Any = None, **kwargs: Any) -> None:
            """Validate one instance before it is encoded, for the same reason as :meth:`add_batch`."""
            _check_columns({name: [value] for name, value in kwargs.items()})
            super().add(prediction=prediction, reference=reference, **kwargs)

        def _compute(
            self,
            dimension: Sequence[str],
            self_report_satisfied: Sequence[bool | None],
            open_ended_satisfied: Sequence[bool | None],
            open_ended_score: Sequence[float | None],
            seed: int = 0,
            n_bootstrap: int = 1000,
            confidence: float = 0.95,
        ) -> dict[str, Any]:
            """Delegate to :func:`compute_consistency`, so the plain function and the metric cannot differ."""
            return compute_consistency(
                dimension,
                self_report_satisfied,
                open_ended_satisfied,
                open_ended_score,
                seed=seed,
                n_bootstrap=n_bootstrap,
                confidence=confidence,
            )
