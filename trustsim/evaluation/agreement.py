"""How far the judges can be trusted: agreement between judges, with their own scores, and with humans.

The paper checks its LLM judges against people (Table 6, the human alignment rate). These functions
give that number plus the checks a user needs before believing a leaderboard: do two judges agree
beyond chance (Cohen's kappa), and does a judge's 1-5 score agree with its own binary verdict? All
functions are pure and take plain ``judgments.jsonl`` records (``id``, ``question_type``, ``judge``,
``template``, ``verdict``, ``score``), so they can be run on any run directory or on hand-made data.

Unknown verdicts (``None``: a failed request or an unparsable answer) never count as disagreement;
an item enters a comparison only when every side of it has a known label.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

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


def _compare(first: Mapping[Item, bool], second: Mapping[Item, bool]) -> dict[str, Any]:
    """n, raw agreement and kappa over the items both sides labelled."""
    common = sorted(first.keys() & second.keys())
    a = [first[item] for item in common]
    b = [second[item] for item in common]
    value, note = kappa(a, b)
    agree = sum(x == y for x, y in zip(a, b, strict=True))
    return {
        "n": len(common),
        "n_agree": agree,
        "raw_agreement": agree / len(common) if common else None,
        "cohen_kappa": value,
        "kappa_note": note,
    }


def pairwise_agreement(judgments: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Agreement of every pair of judges on the binary verdicts, items keyed by (id, question_type).

    Returns one dict per pair (judges in sorted order): ``judge_a``, ``judge_b``, ``n`` (items both
    judged with a known verdict), ``n_agree``, ``raw_agreement`` (None when n = 0), ``cohen_kappa``
    and ``kappa_note`` (why kappa is None, else None).
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


def _rows(path: Path) -> Iterable[tuple[int, Mapping[str, Any]]]:
    """``(line number, row)`` of a CSV (header on line 1) or JSONL file."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in ("id", "question_type", "label") if name not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{path}:1: missing column {missing[0]!r} (header: {reader.fieldnames})")
            for row in reader:
                yield reader.line_num, row
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


def read_human_labels(path: str | Path) -> dict[Item, bool]:
    """Human verdicts from a CSV or JSONL file with fields ``id``, ``question_type`` and ``label``.

    Returns ``{(id, question_type): satisfied}``. Other columns (annotator, notes) are ignored. Any
    problem - a missing field, an unknown question type, a label that is not a recognised spelling,
    the same item twice - raises ``ValueError`` with one line naming ``file:line`` and the field, since
    a silently skipped or guessed human label would bias the alignment rate it is meant to check.
    """
    path = Path(path)
    labels: dict[Item, bool] = {}
    seen_on: dict[Item, int] = {}
    for number, row in _rows(path):
        where = f"{path}:{number}"
        for name in ("id", "question_type", "label"):
            value = row.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise ValueError(f"{where}: missing field {name!r}")
        item_id, question_type = str(row["id"]).strip(), str(row["question_type"]).strip()
        if question_type not in QUESTION_TYPES:
            raise ValueError(f"{where}: field 'question_type' has {question_type!r}; use one of {QUESTION_TYPES}")
        item = (item_id, question_type)
        if item in labels:
            raise ValueError(
                f"{where}: field 'id' repeats {item_id!r} ({question_type}) first labelled on line {seen_on[item]}"
            )
        labels[item] = _parse_label(row["label"], where)
        seen_on[item] = number
    return labels


def human_alignment(
    judgments: Iterable[Mapping[str, Any]], human_labels: Mapping[Item, bool]
) -> dict[str, dict[str, Any]]:
    """Per judge, how often its binary verdict matches the human label (the paper's Table 6).

    For each judge: ``n`` (human-labelled items the judge gave a known verdict), ``n_agree``,
    ``alignment_rate`` (None when n = 0), ``cohen_kappa`` and ``kappa_note`` as in
    :func:`pairwise_agreement`, and ``missing``: labelled items without a known verdict from the judge,
    counted so a judge cannot look better by failing on the hard items.
    """
    out: dict[str, dict[str, Any]] = {}
    for judge, verdicts in sorted(_binary_verdicts(judgments).items()):
        result = _compare(verdicts, human_labels)
        out[judge] = {
            "n": result["n"],
            "n_agree": result["n_agree"],
            "alignment_rate": result["raw_agreement"],
            "cohen_kappa": result["cohen_kappa"],
            "kappa_note": result["kappa_note"],
            "missing": len(human_labels) - result["n"],
        }
    return out
