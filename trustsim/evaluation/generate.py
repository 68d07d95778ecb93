"""Stage 1: the subject model answers both questions of every instance, into ``responses.jsonl``.

Each answer is appended the moment it arrives; a request that fails after the backend's retries is
appended to ``failures.jsonl`` with its error instead, and asked again on the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from trustsim.backends import Backend, Completion, Request, SamplingConfig
from trustsim.evaluation.stage import StageSummary, failure_record
from trustsim.evaluation.templates import SUBJECT_PROMPT_VERSION, subject_messages
from trustsim.evaluation.verdicts import parse_self_report
from trustsim.runs import FAILURES, RunDir, bind_dataset, open_section, record_usage
from trustsim.schema import QUESTION_TYPES

logger = logging.getLogger(__name__)


def response_requests(instances: Sequence[Mapping[str, Any]], done: Any = ()) -> list[Request]:
    """One request per instance and question type whose answer is not in ``done`` yet."""
    return [
        Request(key=(instance["id"], question_type), messages=subject_messages(instance, question_type))
        for instance in instances
        for question_type in QUESTION_TYPES
        if (instance["id"], question_type) not in done
    ]


def response_record(instance: Mapping[str, Any], question_type: str, spec: str, completion: Completion) -> dict:
    """The ``responses.jsonl`` line for a finished answer."""
    record = {
        "id": instance["id"],
        "question_type": question_type,
        "dimension": instance["dimension"],
        "model": spec,
        "response": completion.text,
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
    }
    if completion.extra.get("cached"):  # answered from the request cache: nothing was sent
        record["cached"], record["requests"] = True, 0
    if question_type == "self_report":
        # The parsed Yes/No sits beside the text; None when the answer did not start with either.
        record["self_report_answer"] = parse_self_report(completion.text)
    return record


def run_generation(
    run: RunDir,
    instances: Sequence[Mapping[str, Any]],
    backend: Backend,
    sampling: SamplingConfig,
    dataset: Mapping[str, Any],
    name: str | None = None,
    on_answer: Callable[[dict[str, Any]], None] | None = None,
) -> StageSummary:
    """Answer every missing (instance, question type); refuses a run made with other settings.

    ``on_answer`` receives every answer record the moment it is written (the pipelined judge stage).
    """
    bind_dataset(run, dataset)
    open_section(
        run,
        "generation",
        compared={"model": backend.spec, "sampling": asdict(sampling), "prompt_version": SUBJECT_PROMPT_VERSION},
        extra={"backend": backend.settings(), **({"name": name} if name else {})},
    )
    by_id = {instance["id"]: instance for instance in instances}
    summary = StageSummary()
    with run.responses() as responses, run.failures() as failures:
        requests = response_requests(instances, responses)
        summary.requested, summary.skipped = len(requests), 2 * len(instances) - len(requests)

        def on_done(request: Request, completion: Completion) -> None:
            if completion.ok:
                record = response_record(by_id[request.key[0]], request.key[1], backend.spec, completion)
                responses.append(record)
                summary.finished += 1
                if on_answer is not None:
                    on_answer(record)
            else:
                failures.append(failure_record("generate", request.key, backend.spec, None, completion.error or "?"))
                summary.failed += 1

        backend.progress = backend.progress or f"answering with {backend.spec}"
        backend.generate(requests, sampling, on_done)
    record_usage(run)
    if summary.failed:
        logger.warning(
            "%d answers failed; see %s (re-run the command to retry them)", summary.failed, run.file(FAILURES)
        )
    return summary
