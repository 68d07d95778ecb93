"""The whole evaluation as one call: answers, judgments, ``metrics.json`` and the run's report.

``trustsim eval`` and the AdaORPO recipe (which evaluates the model it trained) both go through
:func:`run_eval`, so a model is measured the same way however it is launched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from trustsim import defaults
from trustsim.backends import Backend, load_backend
from trustsim.backends.cache import CachingBackend, RequestCache
from trustsim.dataset import DEFAULT_DATASET_PATH
from trustsim.evaluation.config import STAGES, EvalConfig
from trustsim.evaluation.templates import SUBJECT_PROMPT_VERSION, TEMPLATE_VERSION
from trustsim.formatting import percent, score_text
from trustsim.runs import METRICS, REPORT, RunDir


class Backends:
    """Backends by spec, so a model that is both subject and judge is loaded once.

    With a request cache, each backend is wrapped for its role (``namespace``: the prompt or template
    version), so its deterministic requests are answered from the cache.
    """

    def __init__(self, options: dict[str, Any], cache: RequestCache | None = None) -> None:
        self.options = options
        self.cache = cache
        self._loaded: dict[tuple[str, str | None], Backend] = {}

    def get(self, spec: str, base_url: str | None = None, namespace: str | None = None) -> Backend:
        # The same openai: model name on two servers is two backends; an hf: model is one either way.
        key = (spec, base_url if spec.startswith("openai:") else None)
        if key not in self._loaded:
            self._loaded[key] = load_backend(spec, **{**self.options, "base_url": base_url})
        backend = self._loaded[key]
        if self.cache is not None and namespace is not None:
            return CachingBackend(backend, self.cache, namespace)
        return backend


def backends_for(config: EvalConfig) -> Backends:
    """The backends of a run, with the shared request cache unless ``config.cache`` is off."""
    return Backends(config.backend_options, RequestCache(config.cache_dir) if config.cache else None)


#: The cache namespaces of the two roles: a prompt or template change never reuses an old reply.
SUBJECT_NAMESPACE = f"subject:{SUBJECT_PROMPT_VERSION}"
JUDGE_NAMESPACE = f"judge:{TEMPLATE_VERSION}"


def selected_instances(config: EvalConfig, run: RunDir) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The selected instances and the dataset reference, defaulting to what the run recorded."""
    from trustsim.evaluation.instances import choose_instances

    recorded = run.manifest().get("dataset", {})
    path = config.dataset or recorded.get("path") or DEFAULT_DATASET_PATH
    name = config.dataset_config or recorded.get("config") or defaults.DATASET_CONFIG
    split = config.split or recorded.get("split") or defaults.DATASET_SPLIT
    return choose_instances(path, name, split, config.subjects, config.limit)


def run_eval(config: EvalConfig, stages: Sequence[str] = STAGES, echo=print) -> dict[str, Any] | None:
    """Run ``stages`` in order on ``config.output``; returns ``metrics.json`` when scored.

    ``echo`` receives one summary line per stage (``print`` for the command line).
    """
    from trustsim.evaluation.generate import run_generation
    from trustsim.evaluation.judge import run_judging
    from trustsim.evaluation.report import run_summary, write_reports
    from trustsim.evaluation.score import current_metrics, score_run

    unknown = set(stages) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stage(s) {', '.join(sorted(unknown))}; expected {', '.join(STAGES)}")
    run = RunDir(config.output)
    backends = backends_for(config)
    metrics = None
    if {"score", "report"} & set(stages) and {"generate", "judge"} & set(stages) and current_metrics(run) is None:
        _warm_imports()  # not for a finished run re-run: its report is reused, evaluate never imported
    with run.locked():
        selection = None
        pipelined = _pipeline(config, stages, run, backends, echo)
        if pipelined:
            selection = pipelined
        elif "generate" in stages:
            if not config.model:
                raise ValueError("generating answers needs a model spec (--model)")
            instances, reference = selection = selected_instances(config, run)
            backend = backends.get(config.model, config.backend_options.get("base_url"), SUBJECT_NAMESPACE)
            summary = run_generation(run, instances, backend, config.sampling, reference, name=config.name)
            echo(f"answers ({len(instances)} instances): {summary}")
        if "judge" in stages and not pipelined:
            if not config.judges:
                raise ValueError("judging needs at least one judge spec (--judge)")
            instances, reference = selection or selected_instances(config, run)
            base_url = config.judge_base_url or config.backend_options.get("base_url")
            judges = [backends.get(spec, base_url, JUDGE_NAMESPACE) for spec in dict.fromkeys(config.judges)]
            summary = run_judging(
                run,
                instances,
                judges,
                config.judge_sampling,
                reference,
                score_self_report=config.score_self_report,
                verdict_method=config.verdict_method,
            )
            echo(f"judgments: {summary}")
        if "report" in stages:  # scoring is part of the report: metrics.json is written once
            metrics = current_metrics(run)
            if metrics is not None:  # nothing changed since the last report: reuse it (no evaluate import)
                echo(describe(run, metrics))
                echo(f"report: {run.file(REPORT)} (up to date)")
            else:
                summary = run_summary(run)
                metrics = summary.metrics
                echo(describe(run, metrics))
                echo(f"report: {write_reports([summary], [run], run.path)}")
        elif "score" in stages:
            metrics = score_run(run)
            echo(describe(run, metrics))
    return metrics


def _warm_imports() -> None:
    """Import what scoring needs (scikit-learn and pyarrow take a second) in the background, while the stages
    wait on their servers, so the score and report that follow start at once."""
    import importlib
    import threading

    def warm() -> None:
        for name in ("sklearn.metrics", "pyarrow.parquet"):
            with contextlib.suppress(Exception):  # a failed warm-up changes nothing: the real import reports
                importlib.import_module(name)

    threading.Thread(target=warm, name="trustsim-warm-imports", daemon=True).start()


def _pipeline(config: EvalConfig, stages: Sequence[str], run: RunDir, backends: Backends, echo) -> Any:
    """Run generate and judge overlapped when both are asked for and every backend allows it.

    Returns the selection it used, or None when the stages must run one after the other.
    """
    from trustsim.evaluation.pipeline import can_pipeline, run_pipelined

    if not ("generate" in stages and "judge" in stages and config.model and config.judges):
        return None
    model = backends.get(config.model, config.backend_options.get("base_url"), SUBJECT_NAMESPACE)
    base_url = config.judge_base_url or config.backend_options.get("base_url")
    judges = [backends.get(spec, base_url, JUDGE_NAMESPACE) for spec in dict.fromkeys(config.judges)]
    if not can_pipeline([model, *judges]):
        return None
    instances, reference = selection = selected_instances(config, run)
    answers, judged = run_pipelined(
        run, instances, model, config.sampling, judges, config.judge_sampling, reference,
        score_self_report=config.score_self_report, verdict_method=config.verdict_method, name=config.name,
    )  # fmt: skip
    echo(f"answers ({len(instances)} instances): {answers}")
    echo(f"judgments: {judged}")
    return selection


def describe(run: RunDir, metrics: dict[str, Any]) -> str:
    """One line of a run's headline numbers."""

    def pct(value: float | None) -> str:
        return percent(value, missing="n/a") + ("%" if value is not None else "")

    return (
        f"{run.path}: n={metrics['n']}, self-report satisfied {pct(metrics['self_report_satisfaction_rate'])}, "
        f"open-ended satisfied {pct(metrics['open_ended_satisfaction_rate'])}, "
        f"inconsistency {pct(metrics['inconsistency_rate'])}, "
        f"mean score {score_text(metrics['open_ended_mean_score'], missing='n/a')}; "
        f"left out: {metrics['failed_requests']} failed requests, "
        f"{metrics['unparsable_verdicts']} unparsable verdicts -> {run.file(METRICS)}"
    )
