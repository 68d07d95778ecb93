"""Generate and judge at once: an answer is judged as soon as it is written.

The two stages stay what they are (the same records, keys and files; each separately runnable and
resumable); this only overlaps them. The subject model answers in the calling thread; each judge has
a thread fed with every answer the moment it is written, and sends that answer's judge requests at
once, within the judge's own concurrency limit (its backend takes a lazy stream of requests). Answers
already on disk (a resumed run) come first.

Only backends that declare ``concurrent_safe`` (HTTP clients, the mock) are pipelined; a local model
(``hf:``, ``vllm:``) owns its device, so those runs keep the stages one after the other.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from trustsim.backends import Backend, SamplingConfig
from trustsim.evaluation.generate import run_generation
from trustsim.evaluation.judge import JudgingSummary, finish_judging, judge_answers, open_judging
from trustsim.evaluation.stage import StageSummary
from trustsim.runs import RunDir

_DONE = object()


def can_pipeline(backends: Sequence[Backend]) -> bool:
    """Whether every backend can be called from several threads at once."""
    return all(getattr(b, "concurrent_safe", False) for b in backends)


def run_pipelined(
    run: RunDir,
    instances: Sequence[Mapping[str, Any]],
    backend: Backend,
    sampling: SamplingConfig,
    judges: Sequence[Backend],
    judge_sampling: SamplingConfig,
    dataset: Mapping[str, Any],
    score_self_report: bool = False,
    verdict_method: str = "parse",
    name: str | None = None,
) -> tuple[StageSummary, JudgingSummary]:
    """Both stages at once; the same records as :func:`run_generation` then :func:`run_judging`."""
    open_judging(run, judges, judge_sampling, dataset, score_self_report, verdict_method)  # refuse before sending
    by_id = {instance["id"]: instance for instance in instances}
    queues = {judge.spec: queue.Queue() for judge in judges}
    with run.responses() as existing:
        for record in existing.records.values():
            if record["id"] in by_id:
                for waiting in queues.values():
                    waiting.put(record)
    summaries = {judge.spec: JudgingSummary() for judge in judges}
    errors: list[BaseException] = []

    with run.judgments() as judgments, run.failures() as failures:

        def grade(judge: Backend) -> None:
            try:
                answers = iter(queues[judge.spec].get, _DONE)  # blocks for the next answer, ends at _DONE
                judge_answers(judge, answers, by_id, judge_sampling, score_self_report, verdict_method,
                              judgments, failures, summaries[judge.spec])  # fmt: skip
            except BaseException as error:  # reported in the main thread, after the answers are safe
                errors.append(error)
                for _ in iter(lambda q=queues[judge.spec]: q.get() is not _DONE, False):
                    pass  # drain, so the producer never blocks on a dead consumer

        threads = [threading.Thread(target=grade, args=(judge,), daemon=True) for judge in judges]
        for thread in threads:
            thread.start()
        try:
            generated = run_generation(
                run, instances, backend, sampling, dataset, name=name,
                on_answer=lambda record: [q.put(record) for q in queues.values()],
            )  # fmt: skip
        finally:
            for waiting in queues.values():
                waiting.put(_DONE)
            for thread in threads:
                thread.join()
    if errors:
        raise errors[0]
    judged = JudgingSummary()
    for summary in summaries.values():
        for field in ("requested", "skipped", "finished", "failed", "unparsable", "retried"):
            setattr(judged, field, getattr(judged, field) + getattr(summary, field))
    finish_judging(run, judged)
    return generated, judged
