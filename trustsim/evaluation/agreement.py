"""How far the judges can be trusted: agreement between judges, with their own scores, and with humans.

The paper checks its LLM judges against people (Table 6, the human alignment rate). These functions
give that number plus the checks a user needs before believing a leaderboard: do two judges agree
beyond chance (Cohen's kappa), and does a judge's 1-5 score agree with its own binary verdict? All
functions are pure and take plain ``judgments.jsonl`` records (``id``, ``question_type``, ``judge``,
``template``, ``verdict``, ``score``), so they can be run on any run directory or on hand-made data.

Unknown verdicts (``None``: a failed request or an unparsable answer) never count as disagreement;
an item enters a comparison only when every side of it has a known label.

Every agreement comes with its sample size and 95% confidence intervals, because a judge checked
against 50 labels is far less certain than one checked against 500: raw agreement gets the Wilson
score interval (closed form, sound near 0 and 1 and for small n, where the normal approximation
fails), Cohen's kappa a seeded percentile bootstrap over the compared items (kappa has no simple
exact interval; the seed makes two scorings of one run agree exactly).
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
from sklearn.metrics import cohen_kappa_score

from trustsim.records import iter_lines
from trustsim.schema import QUESTION_TYPES

#: An item a judge rates: one answer, ``(instance id, question type)``.
Item = tuple[str, str]

#: Accepted spellings of a human label (compared case-insensitively, surrounding spaces ignored).
LABELS: dict[str, bool] = {
    "satisfied": True,
    "not satisfied": False,
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "yes": True,
    "no": False,
}

#: Scores that contradict a verdict: a low score on a Satisfied answer, a high one on a Not Satisfied.
LOW_SCORE = 2
HIGH_SCORE = 4

#: Coverage of every agreement interval, and the kappa bootstrap's fixed settings.
CONFIDENCE = 0.95
KAPPA_BOOTSTRAP_SEED = 0
KAPPA_BOOTSTRAP_RESAMPLES = 1000
#: How the intervals are computed, recorded beside them in ``metrics.json``.
CI_METHOD = {
    "agreement": "Wilson score interval",
    "kappa": f"percentile bootstrap over items ({KAPPA_BOOTSTRAP_RESAMPLES} resamples, seed {KAPPA_BOOTSTRAP_SEED})",
    "confidence": CONFIDENCE,
}


def _binary_verdicts(judgments: Iterable[Mapping[str, Any]]) -> dict[str, dict[Item, bool]]:
    """Known binary-template verdicts per judge; a later record for the same item replaces an earlier one.

    Judges whose verdicts are all unknown still appear (with no items), so they show up with n = 0
    instead of vanishing from the tables.
    """
    out: dict[str, dict[Item, bool]] = {}
    for record in judgments:
        if record.get("template") != "binary":
            continue
        verdicts = out.setdefault(record["judge"], {})
        item = (record["id"], record["question_type"])
        if record.get("verdict") is None:
            verdicts.pop(item, None)
        else:
            verdicts[item] = bool(record["verdict"])
    return out


def kappa(a: list[bool], b: list[bool]) -> tuple[float | None, str | None]:
    """Cohen's kappa of two paired label lists, or ``(None, reason)`` when it is not defined.

    Kappa is (observed - chance agreement) / (1 - chance agreement). It is undefined with no items,
    and when chance agreement is 1, i.e. both raters gave every item the same single label: then
    there is no variation to agree on, and reporting 0 or 1 would both be misleading.
    """
    if not a:
        return None, "no items rated by both"
    if len(set(a) | set(b)) == 1:
        return None, "undefined: both gave every item the same label (chance agreement is 1)"
    return float(cohen_kappa_score(a, b, labels=[False, True])), None


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> list[float] | None:
    """The Wilson score interval of a proportion ``successes / n``; None when n = 0.

    Unlike the normal (Wald) interval it never leaves [0, 1] and does not collapse to a point at
    0% or 100% agreement, which is exactly where a small human-labelled sample tends to land.
    """
    if n <= 0:
        return None
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return [max(0.0, centre - half), min(1.0, centre + half)]


def kappa_interval(
    a: list[bool],
    b: list[bool],
    confidence: float = CONFIDENCE,
    n_resamples: int = KAPPA_BOOTSTRAP_RESAMPLES,
    seed: int = KAPPA_BOOTSTRAP_SEED,
) -> list[float] | None:
    """Percentile bootstrap interval of Cohen's kappa over the paired items; None when undefined.

    Resamples are ``numpy.random.default_rng(seed).integers(0, n, (n_resamples, n))`` over the items
    in the order given; a resample where kappa is undefined (every label the same) is dropped, and
    with none left there is no interval. Kappa of two binary raters is computed in closed form from
    each resample's agreement and marginals, the same number ``cohen_kappa_score`` gives.
    """
    if not a or kappa(a, b)[0] is None:
        return None
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    index = np.random.default_rng(seed).integers(0, len(a), size=(n_resamples, len(a)))
    xs, ys = x[index], y[index]
    observed = (xs == ys).mean(axis=1)
    px, py = xs.mean(axis=1), ys.mean(axis=1)
    chance = px * py + (1 - px) * (1 - py)
    defined = chance < 1
    if not defined.any():
        return None
    values = (observed[defined] - chance[defined]) / (1 - chance[defined])
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [float(low), float(high)]


def _compare(first: Mapping[Item, bool], second: Mapping[Item, bool]) -> dict[str, Any]:
    """n, raw agreement and kappa, each with its interval, over the items both sides labelled."""
    common = sorted(first.keys() & second.keys())
    a = [first[item] for item in common]
    b = [second[item] for item in common]
    value, note = kappa(a, b)
    agree = sum(x == y for x, y in zip(a, b, strict=True))
    return {
        "n": len(common),
        "n_agree": agree,
        "raw_agreement": agree / len(common) if common else None,
        "raw_agreement_ci": wilson_interval(agree, len(common)),
        "cohen_kappa": value,
        "cohen_kappa_ci": kappa_interval(a, b),
        "kappa_note": note,
    }


def pairwise_agreement(judgments: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Agreement of every pair of judges on the binary verdicts, items keyed by (id, question_type).

    Returns one dict per pair (judges in sorted order): ``judge_a``, ``judge_b``, ``n`` (items both
    judged with a known verdict), ``n_agree``, ``raw_agreement`` (None when n = 0) with
    ``raw_agreement_ci`` (:func:`wilson_interval`), ``cohen_kappa`` with ``cohen_kappa_ci``
    (:func:`kappa_interval`), and ``kappa_note`` (why kappa is None, else None).
    """
    verdicts = _binary_verdicts(judgments)
    return [
        {"judge_a": a, "judge_b": b, **_compare(verdicts[a], verdicts[b])}
        for a, b in itertools.combinations(sorted(verdicts), 2)
    ]


def score_verdict_agreement(judgments: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per judge: does its 1-5 score agree with its own binary verdict on the same answer?

    Only answers with both a known binary verdict and a known score from the same judge count. For
    each judge: ``n``; ``table`` (score -> {"satisfied": k, "not_satisfied": k}, scores as strings so
    the result is JSON); ``mean_score_satisfied`` / ``mean_score_not_satisfied`` (None when empty);
    the warning signs ``low_score_satisfied`` (score <= 2 but Satisfied) and ``high_score_not_satisfied``
    (score >= 4 but Not Satisfied), their sum ``warnings`` and ``warning_fraction`` (of n).
    """
    judgments = list(judgments)
    verdicts = _binary_verdicts(judgments)
    scores: dict[str, dict[Item, float]] = {}
    for record in judgments:
        if record.get("template") != "score":
            continue
        judge_scores = scores.setdefault(record["judge"], {})
        item = (record["id"], record["question_type"])
        if record.get("score") is None:
            judge_scores.pop(item, None)
        else:
            judge_scores[item] = float(record["score"])

    out: dict[str, dict[str, Any]] = {}
    for judge in sorted(verdicts.keys() & scores.keys()):
        pairs = [(scores[judge][item], verdicts[judge][item]) for item in verdicts[judge].keys() & scores[judge].keys()]
        table: dict[str, dict[str, int]] = {}
        for score, verdict in sorted(pairs):
            cell = table.setdefault(f"{score:g}", {"satisfied": 0, "not_satisfied": 0})
            cell["satisfied" if verdict else "not_satisfied"] += 1
        satisfied = [s for s, v in pairs if v]
        not_satisfied = [s for s, v in pairs if not v]
        low = sum(s <= LOW_SCORE for s in satisfied)
        high = sum(s >= HIGH_SCORE for s in not_satisfied)
        out[judge] = {
            "n": len(pairs),
            "table": table,
            "mean_score_satisfied": sum(satisfied) / len(satisfied) if satisfied else None,
            "mean_score_not_satisfied": sum(not_satisfied) / len(not_satisfied) if not_satisfied else None,
            "low_score_satisfied": low,
            "high_score_not_satisfied": high,
            "warnings": low + high,
            "warning_fraction": (low + high) / len(pairs) if pairs else None,
        }
    return out


def _parse_label(value: Any, where: str) -> bool:
    """One human label; ``ValueError`` naming the place when it is not one of :data:`LABELS`."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in LABELS:
        return LABELS[value.strip().lower()]
    raise ValueError(f"{where}: field 'label' has {value!r}; use Satisfied/Not Satisfied, true/false, 1/0 or yes/no")


#: The columns a labels file must have; any other column (annotator, notes, the sheet's texts) is ignored.
LABEL_COLUMNS: tuple[str, ...] = ("id", "question_type", "label")


def _rows(path: Path) -> Iterable[tuple[int, Mapping[str, Any]]]:
    """``(line number, row)`` of a CSV (header on line 1) or JSONL file.

    A CSV row's number is the line it starts on: an annotation sheet's texts span several lines, and
    the line a person finds the row by is its first.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in LABEL_COLUMNS if name not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{path}:1: missing column {missing[0]!r} (header: {reader.fieldnames})")
            start = reader.line_num + 1
            for row in reader:
                yield start, row
                start = reader.line_num + 1
    elif suffix in (".jsonl", ".json"):
        for number, line in iter_lines(path):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{number}: not valid JSON ({err.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object with id, question_type and label")
            yield number, row
    else:
        raise ValueError(f"{path}: human labels must be a .csv or .jsonl file")


def read_human_labels(path: str | Path, known: Collection[Item] | None = None) -> dict[Item, bool]:
    """Human verdicts from a CSV or JSONL file with fields ``id``, ``question_type`` and ``label``.

    Returns ``{(id, question_type): satisfied}``. Other columns (annotator, notes, the texts of a
    ``trustsim annotate`` sheet) are ignored. Any problem - a missing field, an unknown question type,
    a label that is not a recognised spelling, the same item twice, or (with ``known``, the run's
    answers) an item the run does not have - raises ``ValueError`` with one line naming ``file:line``
    and the field, since a silently skipped or guessed human label would bias the alignment rate it
    is meant to check.
    """
    path = Path(path)
    labels: dict[Item, bool] = {}
    seen_on: dict[Item, int] = {}
    for number, row in _rows(path):
        where = f"{path}:{number}"
        for name in LABEL_COLUMNS:
            value = row.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                hint = "; label every row, or delete the rows nobody labelled" if name == "label" else ""
                raise ValueError(f"{where}: missing field {name!r}{hint}")
        item_id, question_type = str(row["id"]).strip(), str(row["question_type"]).strip()
        if question_type not in QUESTION_TYPES:
            raise ValueError(f"{where}: field 'question_type' has {question_type!r}; use one of {QUESTION_TYPES}")
        item = (item_id, question_type)
        if item in labels:
            raise ValueError(
                f"{where}: field 'id' repeats {item_id!r} ({question_type}) first labelled on line {seen_on[item]}"
            )
        if known is not None and item not in known:
            raise ValueError(f"{where}: field 'id' has {item_id!r} ({question_type}), which is not in this run")
        labels[item] = _parse_label(row["label"], where)
        seen_on[item] = number
    return labels


def human_alignment(
    judgments: Iterable[Mapping[str, Any]], human_labels: Mapping[Item, bool]
) -> dict[str, dict[str, Any]]:
    """Per judge, how often its binary verdict matches the human label (the paper's Table 6).

    For each judge: ``n`` (human-labelled items the judge gave a known verdict), ``n_agree``,
    ``alignment_rate`` (None when n = 0) with ``alignment_rate_ci`` (Wilson), ``cohen_kappa`` with
    ``cohen_kappa_ci`` (bootstrap) and ``kappa_note`` as in :func:`pairwise_agreement`, and
    ``missing``: labelled items without a known verdict from the judge, counted so a judge cannot look
    better by failing on the hard items.
    """
    out: dict[str, dict[str, Any]] = {}
    for judge, verdicts in sorted(_binary_verdicts(judgments).items()):
        result = _compare(verdicts, human_labels)
        out[judge] = {
            "n": result["n"],
            "n_agree": result["n_agree"],
            "alignment_rate": result["raw_agreement"],
            "alignment_rate_ci": result["raw_agreement_ci"],
            "cohen_kappa": result["cohen_kappa"],
            "cohen_kappa_ci": result["cohen_kappa_ci"],
            "kappa_note": result["kappa_note"],
            "missing": len(human_labels) - result["n"],
        }
    return out
