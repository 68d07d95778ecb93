"""Stage 4, reports like the paper's: Table 2, Table 3a, Figures 6-8, what was left out, and an instance table.

Input is one :class:`RunSummary` per evaluated model, built from a run directory by the caller. The
tables and figures only read ``metrics.json`` content (the ``trustsim_consistency`` metric output), so
the report shows exactly the numbers that were scored, never a re-computation.

Optional ``metrics`` keys, rendered when present:

* ``failed_requests``, ``unparsable_verdicts``: an int, or a dict of ints (e.g. per question type or
  judge), shown as ``key: value`` pairs.
* ``per_judge``: judge spec -> the metric output computed from that judge's verdicts alone.
* ``agreement``: ``{"pairwise": trustsim.evaluation.agreement.pairwise_agreement(...),
  "score_verdict": trustsim.evaluation.agreement.score_verdict_agreement(...),
  "human": trustsim.evaluation.agreement.human_alignment(...)}``, any sub-key may be absent.

``instances`` rows are one per (instance id, question type) with ``id``, ``dimension``,
``attribute``, ``question_type``, ``response``, ``verdict`` (aggregate bool or None), ``score``
(aggregate float or None), and each judge's grades either as dicts ``verdicts`` / ``scores`` (judge
spec -> value, as ``trustsim.evaluation.aggregate.instance_rows`` builds them) or as flat columns
``verdict[<judge spec>]`` / ``score[<judge spec>]``. ``instances.parquet`` always stores the flat
form: a plain table that pandas, ``datasets`` and spreadsheet tools read without struct/map types,
and in which a judge absent from one run is simply null there. Other row keys are kept as columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trustsim.evaluation.report.base import FIGURES, RunSummary, check_runs
from trustsim.evaluation.report.figures import _short_label, write_figures
from trustsim.evaluation.report.parquet import write_instances_parquet
from trustsim.evaluation.report.tables import render_markdown
from trustsim.formatting import MISSING
from trustsim.records import write_atomic
from trustsim.runs import REPORT, RunDir

__all__ = [
    "FIGURES",
    "MISSING",
    "RunSummary",
    "_short_label",
    "render_markdown",
    "report_runs",
    "run_summary",
    "write_figures",
    "write_instances_parquet",
    "write_report",
    "write_reports",
]


def write_report(runs: Sequence[RunSummary], output_dir: str | Path) -> Path:
    """Write ``report.md`` and its figures into ``output_dir``; returns the report's path."""
    check_runs(runs)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_figures(runs, output_dir)
    path = output_dir / REPORT
    write_atomic(path, render_markdown(runs))
    return path




def run_summary(run: RunDir, dataset: str | Path | None = None, human_labels: str | Path | None = None) -> RunSummary:
    """The report's view of a run: its name, ``metrics.json`` (computed now) and instance rows."""
    from trustsim.evaluation.rows import run_model
    from trustsim.evaluation.score import scored_run

    metrics, rows = scored_run(run, dataset, human_labels)
    return RunSummary(name=run_model(run), metrics=metrics, instances=rows)


def report_runs(
    runs: Sequence[RunDir],
    output: str | Path,
    dataset: str | Path | None = None,
    human_labels: str | Path | None = None,
) -> Path:
    """Score every run afresh and write ``report.md``, figures and ``instances.parquet`` to ``output``.

    Two runs of the same model are told apart by their directory names.
    """
    summaries = [run_summary(run, dataset=dataset, human_labels=human_labels) for run in runs]
    return write_reports(summaries, runs, output)


def write_reports(summaries: Sequence[Any], runs: Sequence[RunDir], output: str | Path) -> Path:
    """``report.md``, figures and ``instances.parquet`` for already scored runs."""
    names = [s.name for s in summaries]
    for summary, run in zip(summaries, runs, strict=True):
        if names.count(summary.name) > 1:
            summary.name = f"{summary.name} ({run.path.name})"
    path = write_report(summaries, output)
    write_instances_parquet(summaries, output)
    return path
