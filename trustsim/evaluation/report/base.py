"""The report's shared pieces: the run summary it draws, the subject order, and the output checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trustsim.schema import SUBJECTS, Subject

#: Subjects in the paper's Table 2 column order (alphabetical by abbreviation: Com., Eco., ... Soc.).
TABLE_SUBJECTS: tuple[Subject, ...] = tuple(sorted(SUBJECTS, key=lambda s: s.abbreviation))

#: Figure files, relative to the output folder.
FIGURES: dict[str, str] = {
    "self_report": "figures/self_report_satisfaction.png",
    "open_ended": "figures/open_ended_satisfaction.png",
    "inconsistency": "figures/inconsistency.png",
}

#: Leading columns of ``instances.parquet``; per-judge columns follow, then any other keys.
BASE_COLUMNS: tuple[str, ...] = (
    "model",
    "id",
    "dimension",
    "attribute",
    "question_type",
    "response",
    "verdict",
    "score",
)


@dataclass
class RunSummary:
    """One evaluated model: its display name, its ``metrics.json`` content and its instance rows."""

    name: str
    metrics: dict[str, Any]
    instances: list[dict[str, Any]] = field(default_factory=list)


def dimension_metrics(run: RunSummary, subject: Subject) -> Mapping[str, Any] | None:
    per_dimension = run.metrics.get("per_dimension") or {}
    return per_dimension.get(subject.name)



def check_runs(runs: Sequence[RunSummary]) -> None:
    """A report needs runs with distinct names: the name is the row label and the parquet key."""
    if not runs:
        raise ValueError("no runs to report")
    names = [run.name for run in runs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"run names must be distinct; repeated: {', '.join(duplicates)}")


