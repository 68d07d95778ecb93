"""An inspect log of the ``trustsim/trustsim`` task as a TrustSim run folder (``trustsim import-inspect``).

The task keeps every answer as its ``responses.jsonl`` record (in the sample's store) and every judge
reply as its ``judgments.jsonl`` record (in the score's metadata), so the conversion only copies them
out, checked with the run directory's own record checks, and writes ``run.json`` the way the stages
do (dataset fingerprint, model, sampling, prompt and template versions, judges in their order, usage).
``trustsim score``, ``report`` and ``pairs`` then read the folder like any run of ``trustsim eval``, and
give the numbers the log's metrics give. A sample that errored is written to ``failures.jsonl``, so
it is counted as left out, never silently dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from inspect_ai.log import read_eval_log

from trustsim.evaluation.config import JUDGE_SAMPLING
from trustsim.evaluation.judge import templates_for
from trustsim.evaluation.stage import failure_record
from trustsim.evaluation.templates import SUBJECT_PROMPT_VERSION, TEMPLATE_VERSION
from trustsim.integrations.inspect_task import (
    GRADER_ROLE,
    METRIC_KEYS,
    RESPONSES_STORE_KEY,
    SCORER_NAME,
    TASK_NAME,
    UNPARSABLE,
)
from trustsim.records import write_atomic
from trustsim.runs import (
    FAILURES,
    JUDGMENTS,
    RESPONSES,
    RunDir,
    bind_dataset,
    check_judgment,
    check_response,
    open_section,
    record_usage,
)
from trustsim.schema import QUESTION_TYPES
from trustsim.secrets import redact, redact_url


@dataclass
class Imported:
    """What a conversion wrote: instances, records, and samples that had failed in inspect."""

    run: RunDir
    samples: int
    responses: int
    judgments: int
    failed_samples: int

    def __str__(self) -> str:
        failed = f"; {self.failed_samples} failed sample(s) in failures.jsonl" if self.failed_samples else ""
        return (
            f"{self.run.path}: {self.samples} instances, {self.responses} answers, {self.judgments} judgments{failed}"
        )


def read_inspect_log(path: str | Path):
    """The inspect log at ``path`` (``.eval`` or ``.json``); one-line errors for a missing or broken file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such inspect log")
    try:
        return read_eval_log(str(path))
    except Exception as err:  # inspect raises zip, JSON and pydantic errors of many kinds
        reason = " ".join(str(err).split())[:200] or type(err).__name__
        raise ValueError(f"{path}: not a readable inspect log ({type(err).__name__}: {reason})") from None


def log_metrics(log: Any) -> dict[str, Any]:
    """The task's metrics in a log, shaped like ``metrics.json``: each key overall, ``per_dimension``, the count.

    A metric the log leaves out (inspect drops a value of None, e.g. a mean score with no score) is None.
    """
    found = [s for s in (log.results.scores if log.results else []) if s.name.split("/")[-1] == SCORER_NAME]
    if not found:
        raise ValueError(f"{log.location}: the log has no {SCORER_NAME} metrics (did the evaluation finish?)")
    numbers: dict[str, Any] = {key: None for key in METRIC_KEYS}
    numbers["per_dimension"] = {}
    for name, value in found[0].metrics.items():
        key, _, dimension = name.partition("/")
        if dimension:
            numbers["per_dimension"].setdefault(dimension, {})[key] = value.value
        else:
            numbers[key] = int(value.value) if key == UNPARSABLE else value.value
    return numbers


def _trustsim_metadata(log: Any, path: Path) -> dict[str, Any]:
    task = getattr(log.eval, "task_registry_name", None) or log.eval.task
    metadata = (log.eval.metadata or {}).get("trustsim")
    if task != TASK_NAME or not isinstance(metadata, Mapping):
        raise ValueError(f"{path}: a log of the task {task!r}, not {TASK_NAME}; only TRUSTSIM logs convert")
    if not isinstance(metadata.get("dataset"), Mapping):
        raise ValueError(f"{path}: the log's task metadata has no trustsim dataset reference")
    return dict(metadata)


def _sampling(config: Any, base: Mapping[str, Any]) -> dict[str, Any]:
    """A generate config as TrustSim's sampling fields; fields it leaves unset keep ``base``'s."""
    given = {
        "max_new_tokens": config.max_tokens,
        "temperature": config.temperature,
        "top_p": config.top_p,
        "seed": config.seed,
    }
    return {name: base.get(name) if value is None else value for name, value in given.items()}


def _graders(log: Any) -> list[tuple[str, Any]]:
    """``(model, ModelConfig)`` of each grader-role model, in the order the judges were given."""
    bound = (log.eval.model_roles or {}).get(GRADER_ROLE) or []
    return [(config.model, config) for config in (bound if isinstance(bound, list) else [bound])]


def _records(sample: Any, value: Any, what: str, path: Path, check) -> list[dict[str, Any]]:
    """The records a sample holds (a list of dicts), each checked like a line of a run's record file."""
    where = f"{path}: sample {sample.id!r}"
    if not isinstance(value, list) or not all(isinstance(record, Mapping) for record in value):
        raise ValueError(f"{where}: its {what} are not a list of records")
    for record in value:
        check(record, where)
    return [dict(record) for record in value]


def _error_text(sample: Any) -> str:
    error = getattr(sample, "error", None)
    message = getattr(error, "message", None) or str(error or "the sample did not finish")
    return redact(" ".join(message.split()))[:500]


def inspect_log_to_run(log_path: str | Path, output: str | Path) -> Imported:
    """Write the run folder ``output`` from the inspect log ``log_path``; returns what it wrote.

    ``output`` must hold no run yet: an import never mixes records into an existing run.
    """
    path = Path(log_path)
    log = read_inspect_log(path)
    metadata = _trustsim_metadata(log, path)
    samples = list(log.samples or [])
    if not samples:
        raise ValueError(f"{path}: the log holds no samples (was it written with --no-log-samples?)")
    epochs = max(int(sample.epoch) for sample in samples)
    if epochs > 1:
        raise ValueError(
            f"{path}: the log ran {epochs} epochs; a TrustSim run holds one answer per question, so convert a "
            "log of --epochs 1"
        )
    run = RunDir(output)
    existing = [name for name in (RESPONSES, JUDGMENTS) if run.file(name).exists()]
    if existing:
        raise FileExistsError(f"{run.path}: already holds {', '.join(existing)}; import into a new folder")

    graders = _graders(log)
    scored = [sample.scores[SCORER_NAME] for sample in samples if SCORER_NAME in (sample.scores or {})]
    recorded = (scored[0].metadata or {}).get("judges") if scored else None
    judges = list(recorded) if isinstance(recorded, list) else list(dict.fromkeys(m for m, _ in graders))
    model = log.eval.model
    score_self_report = bool(metadata.get("score_self_report"))
    responses: list[dict[str, Any]] = []
    judgments: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    failed_samples = 0
    for sample in samples:
        answers = _records(sample, (sample.store or {}).get(RESPONSES_STORE_KEY, []), "responses", path,
                           check_response)  # fmt: skip
        score = (sample.scores or {}).get(SCORER_NAME)
        graded = (score.metadata or {}).get("judgments", []) if score is not None else []
        graded = _records(sample, graded, "judgments", path, check_judgment)
        responses += answers
        judgments += graded
        if score is not None and not getattr(sample, "error", None):
            continue
        failed_samples += 1
        error = _error_text(sample)
        answered = {record["question_type"] for record in answers}
        for question_type in QUESTION_TYPES:
            key = (str(sample.id), question_type)
            if question_type not in answered:
                failures.append(failure_record("generate", key, model, None, error))
                continue
            done = {(r["judge"], r["template"]) for r in graded if r["question_type"] == question_type}
            for judge in judges:
                for template in templates_for(question_type, score_self_report):
                    if (judge, template) not in done:
                        failures.append(failure_record("judge", key, judge, template, error))

    def lines(records: Sequence[Mapping[str, Any]]) -> str:
        return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)

    with run.locked():
        write_atomic(run.file(RESPONSES), lines(responses))
        write_atomic(run.file(JUDGMENTS), lines(judgments))
        if failures:
            write_atomic(run.file(FAILURES), lines(failures))
        bind_dataset(run, metadata["dataset"])
        base_sampling = metadata.get("sampling") or {}
        open_section(
            run,
            "generation",
            compared={
                "model": model,
                "sampling": _sampling(log.plan.config, base_sampling),
                "prompt_version": metadata.get("prompt_version", SUBJECT_PROMPT_VERSION),
            },
            extra={
                "backend": {"spec": model, "base_url": redact_url(log.eval.model_base_url)},
                "inspect": {"log": str(path), "eval_id": log.eval.eval_id,
                            "inspect_ai": (log.eval.packages or {}).get("inspect_ai")},
            },
        )  # fmt: skip
        judge_base = metadata.get("judge_sampling") or asdict(JUDGE_SAMPLING)
        judge_sampling = {model_name: _sampling(config.config, judge_base) for model_name, config in graders}
        compared: dict[str, Any] = {
            "template_version": metadata.get("template_version", TEMPLATE_VERSION),
            "verdict_method": "parse",
        }
        if judge_sampling and len({json.dumps(s, sort_keys=True) for s in judge_sampling.values()}) == 1:
            compared["sampling"] = next(iter(judge_sampling.values()))
        open_section(
            run,
            "judging",
            compared=compared,
            extra={
                "judges": judges,
                "score_self_report": score_self_report,
                "backends": {name: {"spec": name, "base_url": redact_url(config.base_url)} for name, config in graders},
                "judge_sampling": judge_sampling,
            },
        )
        record_usage(run)
    return Imported(run, len(samples), len(responses), len(judgments), failed_samples)
