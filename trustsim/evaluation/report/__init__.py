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

Beside the report, each run's headline numbers are written in the Hub's model-side results format
(:mod:`trustsim.evaluation.hub_results`): ``.eval_results/trustsim.yaml`` for a one-run report,
``eval_results/<run>/.eval_results/trustsim.yaml`` for each run of a leaderboard (each folder laid
out like the model repo it belongs to); uploaded to the model repo, they show on the model page and
in the benchmark's leaderboard.
"""

from __future__ import annotations

import logging
import re
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

logger = logging.getLogger(__name__)

__all__ = [
    "FIGURES",
    "MISSING",
    "RunSummary",
    "_short_label",
    "render_markdown",
    "report_runs",
    "run_summary",
    "write_figures",
    "write_hub_results",
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
    benchmark: str | None = None,
) -> Path:
    """Score every run afresh and write ``report.md``, figures, ``instances.parquet`` and the Hub results.

    Two runs of the same model are told apart by their directory names. ``benchmark`` is the Hub id
    of the TRUSTSIM dataset repo the results refer to (see :func:`write_hub_results`).
    """
    from trustsim.evaluation.hub_results import benchmark_id

    benchmark_id(None, benchmark)  # a malformed id is refused before anything is computed or written
    summaries = [run_summary(run, dataset=dataset, human_labels=human_labels) for run in runs]
    return write_reports(summaries, runs, output, benchmark=benchmark, dataset=dataset)


def write_reports(
    summaries: Sequence[Any],
    runs: Sequence[RunDir],
    output: str | Path,
    benchmark: str | None = None,
    dataset: str | Path | None = None,
) -> Path:
    """``report.md``, figures, ``instances.parquet`` and the Hub results files for already scored runs."""
    names = [s.name for s in summaries]
    for summary, run in zip(summaries, runs, strict=True):
        if names.count(summary.name) > 1:
            summary.name = f"{summary.name} ({run.path.name})"
    path = write_report(summaries, output)
    write_instances_parquet(summaries, output)
    write_hub_results(summaries, runs, output, benchmark=benchmark, dataset=dataset)
    return path


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "run"


def write_hub_results(
    summaries: Sequence[Any],
    runs: Sequence[RunDir],
    output: str | Path,
    benchmark: str | None = None,
    dataset: str | Path | None = None,
) -> list[Path]:
    """Each run's ``.eval_results`` file (the Hub's model-side format) under ``output``; returns the paths.

    The task ids follow the run's dataset config and split (``default``/``test`` or ``adaorpo``/``test``);
    a run of another split (``adaorpo``/``train``) is no benchmark task and gets no file (a warning says
    so). The benchmark id is ``benchmark``, else the run's dataset when it is a Hub id, else a fallback
    name; the notes name the judges and how much of the split was evaluated.
    """
    from trustsim.evaluation.hub_results import benchmark_id, result_entries, result_notes, write_results
    from trustsim.evaluation.rows import run_dataset

    written, used = [], set()
    for summary, run in zip(summaries, runs, strict=True):
        path, config, split = run_dataset(run, dataset)
        manifest = run.manifest()
        recorded = manifest.get("dataset") or {}
        notes = result_notes(summary.metrics, summary.metrics.get("judges") or [], recorded.get("num_instances"))
        dataset_id = benchmark_id(str(path), benchmark)
        entries = result_entries(summary.metrics, dataset_id, config, split, notes=notes, date=manifest.get("created"))
        if not entries:
            logger.warning(
                "%s: no Hub results file: the %s/%s split is no TRUSTSIM benchmark task", run.path, config, split
            )
            continue
        folder = Path(output)
        if len(runs) > 1:
            slug = _slug(summary.name)
            while slug in used:
                slug += "_"
            used.add(slug)
            folder = folder / "eval_results" / slug
        written.append(write_results(folder, entries))
    return written
