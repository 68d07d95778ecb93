"""Stage 3's input: one row per (instance, question type) with the answer and every judge's grades.

Several judges are combined so that one number stands for the run:

* **verdict** - the majority of the judges' binary verdicts that parsed. A tie goes to the judge
  listed first (``--judge`` order) among those that gave a verdict, so a two-judge run is decided by
  its primary judge when they disagree, and the disagreement shows in the agreement report.
* **score** - the mean of the judges' 1-5 scores that parsed.

Unparsable or missing grades are left out of the vote and the mean; an answer no judge could grade
has ``verdict``/``score`` None and is counted as left out, never as "Not Satisfied".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import fmean
from typing import Any

from trustsim.schema import QUESTION_TYPES


def majority(verdicts: Sequence[bool | None]) -> bool | None:
    """Majority of the non-null verdicts, ties to the first non-null one; None if there is none."""
    known = [v for v in verdicts if v is not None]
    if not known:
        return None
    yes = sum(known)
    if 2 * yes == len(known):
        return known[0]
    return 2 * yes > len(known)


def instance_rows(
    instances: Sequence[Mapping[str, Any]],
    responses: Sequence[Mapping[str, Any]],
    judgments: Sequence[Mapping[str, Any]],
    judges: Sequence[str],
) -> list[dict[str, Any]]:
    """One row per (instance, question type) of ``instances``, judges in the order given.

    ``verdicts``/``scores`` map each judge to its grade (None when unparsable or not graded);
    ``answered`` is False when the subject model's request failed.
    """
    answers = {(r["id"], r["question_type"]): r for r in responses}
    grades: dict[tuple, dict[str, Any]] = {}
    for j in judgments:
        field = "verdict" if j["template"] == "binary" else "score"
        grades.setdefault((j["id"], j["question_type"], field), {})[j["judge"]] = j[field]
    rows = []
    for instance in instances:
        for question_type in QUESTION_TYPES:
            key = (instance["id"], question_type)
            answer = answers.get(key)
            verdicts = {judge: grades.get((*key, "verdict"), {}).get(judge) for judge in judges}
            scores = {judge: grades.get((*key, "score"), {}).get(judge) for judge in judges}
            known_scores = [s for s in scores.values() if s is not None]
            rows.append(
                {
                    "id": instance["id"],
                    "dimension": instance["dimension"],
                    "attribute": instance["attribute"],
                    "question_type": question_type,
                    "answered": answer is not None,
                    "response": answer["response"] if answer else None,
                    "self_report_answer": answer.get("self_report_answer") if answer else None,
                    "self_report_expected": instance["self_report_expected"],
                    "verdict": majority(list(verdicts.values())),
                    "score": fmean(known_scores) if known_scores else None,
                    "verdicts": verdicts,
                    "scores": scores,
                }
            )
    return rows


def metric_inputs(rows: Sequence[Mapping[str, Any]], judge: str | None = None) -> dict[str, list]:
    """The metric's per-instance columns from :func:`instance_rows` (one judge's, or the combined)."""
    by_key = {(r["id"], r["question_type"]): r for r in rows}
    ids = list(dict.fromkeys(r["id"] for r in rows))

    def pick(row: Mapping[str, Any] | None, field: str):
        if row is None:
            return None
        return row[field] if judge is None else row[f"{field}s"].get(judge)

    columns: dict[str, list] = {
        "dimension": [],
        "self_report_satisfied": [],
        "open_ended_satisfied": [],
        "open_ended_score": [],
    }
    for identifier in ids:
        self_report, open_ended = by_key.get((identifier, "self_report")), by_key.get((identifier, "open_ended"))
        columns["dimension"].append((self_report or open_ended)["dimension"])
        columns["self_report_satisfied"].append(pick(self_report, "verdict"))
        columns["open_ended_satisfied"].append(pick(open_ended, "verdict"))
        score = pick(open_ended, "score")
        columns["open_ended_score"].append(None if score is None else float(score))
    return columns
