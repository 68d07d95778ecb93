"""Stage 3 and 4: ``metrics.json`` from a run's records, and reports over one or more runs.

The numbers come from the ``trustsim_consistency`` evaluate module (one source of truth); this
module only gathers its inputs from the records and adds what the records alone can say: what was
left out (failed requests, unparsable verdicts), each judge's own numbers, and judge agreement.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trustsim.aggregate import instance_rows, metric_inputs
from trustsim.instances import load_instances
from trustsim.runs import FAILURES, JUDGMENTS, METRICS, RESPONSES, RunDir

#: Bootstrap settings of every reported interval; fixed so two scorings of one run agree exactly.
BOOTSTRAP_SEED = 0
N_BOOTSTRAP = 1000


def run_instances(run: RunDir, dataset: str | Path | None = None) -> list[dict[str, Any]]:
    """The instances this run covers (answered or failed), from the dataset named in ``run.json``."""
    manifest = run.manifest()
    recorded = manifest.get("dataset")
    if not recorded:
        raise FileNotFoundError(f"{run.path}: no run.json with a dataset; was this run made by `trustsim eval`?")
    path = dataset or recorded["path"]
    try:
        instances = load_instances(path, recorded["config"], recorded["split"])
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{run.path}/run.json names the dataset {path!r}, which is not there; pass its location"
        ) from None
    touched = {r["id"] for r in run.read(RESPONSES)} | {r["id"] for r in run.read(FAILURES) if r["stage"] == "generate"}
    return [instance for instance in instances if instance["id"] in touched]


def left_out(run: RunDir, judges: Sequence[str]) -> dict[str, Any]:
    """What the numbers do not include, and why: requests that failed, replies with no verdict."""
    responses, judgments, failures = run.records(RESPONSES), run.records(JUDGMENTS), run.records(FAILURES)
    failed_answers = sum(1 for (stage, i, q, _, _) in failures if stage == "generate" and (i, q) not in responses)
    failed_judgments = sum(
        1
        for (stage, i, q, spec, template) in failures
        if stage == "judge" and (i, q, spec, template) not in judgments and (i, q) in responses
    )
    unparsable = {judge: 0 for judge in judges}
    for record in judgments.values():
        if not record.get("parsed", record["verdict"] is not None or record["score"] is not None):
            unparsable[record["judge"]] = unparsable.get(record["judge"], 0) + 1
    return {
        "failed_requests": failed_answers + failed_judgments,
        "failed_answers": failed_answers,
        "failed_judgments": failed_judgments,
        "unparsable_verdicts": sum(unparsable.values()),
        "unparsable_by_judge": unparsable,
    }


def _expected_match(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How often the parsed Yes/No equals the answer the character would give (no judge involved)."""
    answered = [r for r in rows if r["question_type"] == "self_report" and r["self_report_answer"] is not None]
    matches = sum(r["self_report_answer"] == r["self_report_expected"] for r in answered)
    return {
        "self_report_expected_match_rate": matches / len(answered) if answered else None,
        "self_report_yes_no_parsed": len(answered),
    }


def run_rows(run: RunDir, instances: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The run's :func:`~trustsim.aggregate.instance_rows` for ``instances``, judges as ``run.json`` lists them."""
    judges = run.manifest().get("judging", {}).get("judges", [])
    judgments = run.read(JUDGMENTS)
    return instance_rows(instances, run.read(RESPONSES), judgments, judges)


def score_run(run: RunDir, dataset: str | Path | None = None, human_labels: str | Path | None = None) -> dict[str, Any]:
    """Compute and write ``metrics.json``; returns it.

    ``human_labels`` (CSV or JSONL of id, question_type, label) adds each judge's alignment with
    people, like the paper's Table 6.
    """
    return _scored(run, dataset, human_labels)[0]


def _scored(run: RunDir, dataset: str | Path | None, human_labels: str | Path | None) -> tuple[dict, list[dict]]:
    """``metrics.json`` (written) and the instance rows it was computed from."""
    from trustsim.agreement import human_alignment, pairwise_agreement, read_human_labels, score_verdict_agreement
    from trustsim.consistency import compute_consistency, load_metric

    judges = run.manifest().get("judging", {}).get("judges", [])
    instances = run_instances(run, dataset)
    judgments = run.read(JUDGMENTS)
    rows = instance_rows(instances, run.read(RESPONSES), judgments, judges)
    inputs = metric_inputs(rows)
    metrics = load_metric().compute(**inputs, seed=BOOTSTRAP_SEED, n_bootstrap=N_BOOTSTRAP)
    metrics.update(left_out(run, judges))
    metrics["left_out"] = {k: metrics[k] for k in ("failed_requests", "unparsable_verdicts")}
    metrics.update(_expected_match(rows))
    metrics["judges"] = judges
    if len(judges) > 1:
        metrics["per_judge"] = {
            judge: compute_consistency(**metric_inputs(rows, judge), seed=BOOTSTRAP_SEED, n_bootstrap=N_BOOTSTRAP)
            for judge in judges
        }
    metrics["agreement"] = {"score_verdict": score_verdict_agreement(judgments)}
    if len(judges) > 1:
        metrics["agreement"]["pairwise"] = pairwise_agreement(judgments)
    if human_labels is not None:
        metrics["agreement"]["human"] = human_alignment(judgments, read_human_labels(Path(human_labels)))
    run.file(METRICS).write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return metrics, rows


def run_summary(run: RunDir, dataset: str | Path | None = None, human_labels: str | Path | None = None):
    """The report's view of a run: its name, ``metrics.json`` (computed now) and instance rows."""
    from trustsim.report import RunSummary

    metrics, rows = _scored(run, dataset, human_labels)
    name = run.manifest().get("generation", {}).get("model") or run.path.name
    return RunSummary(name=name, metrics=metrics, instances=rows)


def report_runs(runs: Sequence[RunDir], output: str | Path, human_labels: str | Path | None = None) -> Path:
    """Score every run afresh and write ``report.md``, figures and ``instances.parquet`` to ``output``.

    Two runs of the same model are told apart by their directory names.
    """
    return write_reports([run_summary(run, human_labels=human_labels) for run in runs], runs, output)


def write_reports(summaries: Sequence[Any], runs: Sequence[RunDir], output: str | Path) -> Path:
    """``report.md``, figures and ``instances.parquet`` for already scored runs."""
    from trustsim.report import write_instances_parquet, write_report

    names = [s.name for s in summaries]
    for summary, run in zip(summaries, runs, strict=True):
        if names.count(summary.name) > 1:
            summary.name = f"{summary.name} ({run.path.name})"
    path = write_report(summaries, output)
    write_instances_parquet(summaries, output)
    return path
