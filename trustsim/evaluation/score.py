"""Stage 3: ``metrics.json`` from a run's records (the report, stage 4, is :mod:`trustsim.evaluation.report`).

The numbers come from the ``trustsim_consistency`` evaluate module (one source of truth); this
module only gathers its inputs from the records and adds what the records alone can say: what was
left out (failed requests, unparsable verdicts), each judge's own numbers, and judge agreement.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trustsim.backends import display_name
from trustsim.evaluation.aggregate import instance_rows, metric_inputs
from trustsim.evaluation.judge import awaiting_reminder
from trustsim.evaluation.rows import run_instances, run_judges
from trustsim.records import write_atomic
from trustsim.runs import FAILURES, INSTANCES_TABLE, JUDGMENTS, METRICS, REPORT, RESPONSES, RunDir, package_versions

#: Bootstrap settings of every reported interval; fixed so two scorings of one run agree exactly.
BOOTSTRAP_SEED = 0
N_BOOTSTRAP = 1000


def open_failures(run: RunDir) -> list[dict[str, Any]]:
    """The ``failures.jsonl`` records that still stand: the request has produced no record since.

    A failed answer stands while there is no answer for its (id, question type); a failed judgment
    while there is no judgment for its key, or the judgment is still waiting for its format reminder
    (it is retried next run). Judge failures of an answer that no longer exists do not count.
    """
    responses, judgments, failures = run.records(RESPONSES), run.records(JUDGMENTS), run.records(FAILURES)
    standing = []
    for (stage, i, q, spec, template), record in failures.items():
        if stage == "generate":
            if (i, q) not in responses:
                standing.append(record)
        elif (i, q) in responses:
            key = (i, q, spec, template)
            if key not in judgments or awaiting_reminder(judgments[key]):
                standing.append(record)
    return standing


def left_out(run: RunDir, judges: Sequence[str]) -> dict[str, Any]:
    """What the numbers do not include, and why: requests that failed, replies with no verdict."""
    judgments = run.records(JUDGMENTS)
    standing = open_failures(run)
    failed_answers = sum(1 for record in standing if record["stage"] == "generate")
    failed_keys = {(r["id"], r["question_type"], r["spec"], r["template"]) for r in standing if r["stage"] == "judge"}
    failed_judgments = len(failed_keys)
    unparsable = {judge: 0 for judge in judges}
    for key, record in judgments.items():
        parsed = record.get("parsed", record["verdict"] is not None or record["score"] is not None)
        if key not in failed_keys and not parsed:
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


def inputs_fingerprint(run: RunDir, dataset: str | Path | None = None, human_labels: str | Path | None = None) -> str:
    """A hash of everything ``metrics.json`` and the report are computed from.

    The record files, what ``run.json`` says produced them, the dataset asked for, the labels file,
    the metric script and the package version: when it is unchanged, so are the numbers, and a
    re-run of a finished evaluation can reuse them instead of importing ``evaluate`` to recompute.
    """
    from trustsim.evaluation.consistency import METRIC_SCRIPT

    digest = hashlib.sha256()
    manifest = run.manifest()
    settings = {k: manifest.get(k) for k in ("dataset", "generation", "judging")}
    version = package_versions().get("trustsim")
    digest.update(json.dumps([settings, str(dataset or ""), version], sort_keys=True).encode())
    for path in (run.file(RESPONSES), run.file(JUDGMENTS), run.file(FAILURES), METRIC_SCRIPT, human_labels):
        if path is not None and Path(path).is_file():
            digest.update(Path(path).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def current_metrics(run: RunDir) -> dict[str, Any] | None:
    """``metrics.json`` if it was computed from the run as it is now, with its report beside it; else None."""
    from trustsim.evaluation.report.base import FIGURES

    try:
        metrics = json.loads(run.file(METRICS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    outputs = [run.file(REPORT), run.file(INSTANCES_TABLE), *(run.file(f) for f in FIGURES.values())]
    if not isinstance(metrics, dict) or not all(path.is_file() for path in outputs):
        return None
    return metrics if metrics.get("inputs_fingerprint") == inputs_fingerprint(run) else None


def score_run(run: RunDir, dataset: str | Path | None = None, human_labels: str | Path | None = None) -> dict[str, Any]:
    """Compute and write ``metrics.json``; returns it.

    ``human_labels`` (CSV or JSONL of id, question_type, label) adds each judge's alignment with
    people, like the paper's Table 6.
    """
    return scored_run(run, dataset, human_labels)[0]


def scored_run(run: RunDir, dataset: str | Path | None, human_labels: str | Path | None) -> tuple[dict, list[dict]]:
    """``metrics.json`` (written) and the instance rows it was computed from."""
    from trustsim.evaluation.agreement import (
        CI_METHOD,
        human_alignment,
        pairwise_agreement,
        read_human_labels,
        score_verdict_agreement,
    )
    from trustsim.evaluation.consistency import compute_consistency

    judges = run_judges(run)
    instances = run_instances(run, dataset)
    judgments = run.read(JUDGMENTS)
    rows = instance_rows(instances, run.read(RESPONSES), judgments, judges)
    inputs = metric_inputs(rows)
    metrics = compute_consistency(**inputs, seed=BOOTSTRAP_SEED, n_bootstrap=N_BOOTSTRAP)
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
        answers = {(row["id"], row["question_type"]) for row in rows}
        labels = read_human_labels(Path(human_labels), known=answers)
        metrics["agreement"]["human"] = human_alignment(judgments, labels)
    metrics["agreement"]["ci_method"] = CI_METHOD
    metrics["inputs_fingerprint"] = inputs_fingerprint(run, dataset, human_labels)
    names = {judge: display_name(judge) for judge in judges}
    metrics, rows = _renamed(metrics, names), _renamed(rows, names)
    write_atomic(run.file(METRICS), json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    return metrics, rows


def _renamed(value: Any, names: Mapping[str, str]) -> Any:
    """``value`` with every dict key or string equal to a judge spec replaced by its display name."""
    if isinstance(value, dict):
        return {names.get(k, k) if isinstance(k, str) else k: _renamed(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, names) for v in value]
    if isinstance(value, str):
        return names.get(value, value)
    return value
