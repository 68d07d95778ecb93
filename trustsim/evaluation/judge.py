"""Stage 2: every judge grades every answer with the paper's templates, into ``judgments.jsonl``.

The self-report answer gets the binary template (and the 1-5 template when ``score_self_report``,
which Algorithm 1's training pairs need); the open-ended answer gets both. A reply with no parsable
verdict is asked once more with a reminder of the format; if it still has none it is recorded with
``verdict``/``score`` null and ``parsed: false``, counted later, never read as "Not Satisfied". A
request that fails (HTTP error, timeout) goes to ``failures.jsonl`` and is retried by the next run;
it never reaches the parser.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from trustsim.backends import Backend, Completion, Request, SamplingConfig
from trustsim.evaluation.config import JUDGE_SAMPLING, LIKELIHOOD_METHODS, VERDICT_METHODS
from trustsim.evaluation.stage import StageSummary, failure_record
from trustsim.evaluation.templates import (
    BASELINE_RESPONSE,
    TEMPLATE_VERSION,
    VERDICT_CHOICES,
    judge_messages,
    reminder_messages,
)
from trustsim.evaluation.verdicts import parse_binary, parse_score
from trustsim.records import RecordFile
from trustsim.runs import RunDir, bind_dataset, open_section, record_usage

logger = logging.getLogger(__name__)



@dataclass
class JudgingSummary(StageSummary):
    """A :class:`StageSummary` that also counts replies still unparsable after the reminder."""

    unparsable: int = 0
    retried: int = 0

    def __str__(self) -> str:
        return f"{super().__str__()}; {self.retried} re-asked for the format, {self.unparsable} still unparsable"


def templates_for(question_type: str, score_self_report: bool = False) -> tuple[str, ...]:
    """The templates an answer of ``question_type`` is graded with."""
    if question_type == "open_ended" or score_self_report:
        return ("binary", "score")
    return ("binary",)


def parse_verdict(template: str, text: str) -> tuple[bool | None, int | None]:
    """``(verdict, score)`` read from a judge's text; the field the template does not give is None."""
    if template == "binary":
        return parse_binary(text), None
    return None, parse_score(text)


def judgment_requests(
    instances: Mapping[str, Mapping[str, Any]],
    responses: Sequence[Mapping[str, Any]],
    judge: str,
    score_self_report: bool = False,
    done: Any = (),
) -> list[Request]:
    """One request per (answer, template) this judge has not graded yet; keyed like ``judgments.jsonl``."""
    requests = []
    for response in responses:
        instance = instances.get(response["id"])
        if instance is None:
            continue  # an answer to an instance outside this selection is left alone
        for template in templates_for(response["question_type"], score_self_report):
            key = (response["id"], response["question_type"], judge, template)
            if key not in done:
                messages = judge_messages(template, instance, response["question_type"], response["response"])
                requests.append(Request(key=key, messages=messages))
    return requests


def judgment_record(
    request: Request, completion: Completion, method: str, attempts: int, first: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The ``judgments.jsonl`` line for a judge's reply (parsable or not).

    ``first`` is the record of the unparsable first reply when this is the reminder's reply: its text
    is kept as ``first_raw`` and its requests and tokens are added, so usage counts both.
    """
    identifier, question_type, judge, template = request.key
    verdict, score = parse_verdict(template, completion.text or "")
    record = {
        "id": identifier,
        "question_type": question_type,
        "judge": judge,
        "template": template,
        "verdict": verdict,
        "score": score,
        "parsed": (verdict if template == "binary" else score) is not None,
        "raw": completion.text,
        "method": method,
        "attempts": attempts,
        "template_version": TEMPLATE_VERSION,
        "requests": 1 + (int(first.get("requests", 1)) if first else 0),
        "prompt_tokens": completion.prompt_tokens + (int(first.get("prompt_tokens") or 0) if first else 0),
        "completion_tokens": completion.completion_tokens + (int(first.get("completion_tokens") or 0) if first else 0),
    }
    if completion.extra.get("cached"):  # answered from the request cache: nothing was sent
        record["cached"] = True
        record["requests"] -= 1
    if first is not None:
        record["first_raw"] = first.get("raw")
    for field in ("choice_logprobs", "baseline_logprobs"):
        if field in completion.extra:
            record[field] = completion.extra[field]
    return record


def baseline_request(request: Request, instances: Mapping[str, Mapping[str, Any]]) -> Request:
    """The same judge prompt with the answer replaced by :data:`BASELINE_RESPONSE`, for calibration."""
    identifier, question_type, _, template = request.key
    messages = judge_messages(template, instances[identifier], question_type, BASELINE_RESPONSE)
    return Request(key=(*request.key, "baseline"), messages=messages)


def calibrate(completion: Completion, baseline: Completion, choices: Sequence[str]) -> Completion:
    """Re-pick a likelihood verdict by log P(choice | answer) - log P(choice | no answer).

    A small base model says "Satisfied" (or "1") after almost any text: its prior over the verdict strings
    swamps what it read. Subtracting its log-probabilities for the same prompt with no answer (contextual
    calibration, Zhao et al. 2021) leaves how much *this answer* moves it. Both sets stay in the record.
    """
    if not baseline.ok:
        return Completion(None, error=f"calibration baseline failed: {baseline.error}")
    raw, prior = completion.extra["choice_logprobs"], baseline.extra["choice_logprobs"]
    best = max(choices, key=lambda c: raw[c] - prior[c])
    analysis = (completion.text or "").rsplit("[[", 1)[0].rstrip()
    completion.text = f"{analysis}\n[[{best}]]".lstrip()
    completion.prompt_tokens += baseline.prompt_tokens
    completion.completion_tokens += baseline.completion_tokens
    completion.extra = {**completion.extra, "baseline_logprobs": prior}
    return completion


def _grade(
    judge: Backend,
    requests: Sequence[Request],
    sampling: SamplingConfig,
    method: str,
    on_done,
    instances: Mapping[str, Mapping[str, Any]],
) -> None:
    """Send ``requests`` to ``judge``; a likelihood judge is asked one template at a time.

    A ``calibrated`` judge first scores each prompt with no answer (one baseline per instance, question
    and template; deterministic, so the request cache shares them across runs), then the answers.
    """
    if method == "parse":
        judge.generate(requests, sampling, on_done)
        return
    for template, choices in VERDICT_CHOICES.items():
        group = [r for r in requests if r.key[3] == template]
        if method == "calibrated" and group:
            _choose_calibrated(judge, group, sampling, choices, on_done, instances)
        else:
            judge.choose(group, sampling, choices, on_done)


def _choose_calibrated(
    judge: Backend,
    group: Sequence[Request],
    sampling: SamplingConfig,
    choices: Sequence[str],
    on_done,
    instances: Mapping[str, Mapping[str, Any]],
) -> None:
    """One template's requests: their no-answer baselines first, then the answers, each calibrated on arrival."""
    baselines: dict[tuple, Completion] = {}

    def keep(request: Request, completion: Completion) -> None:
        baselines[request.key[:-1]] = completion

    def done(request: Request, completion: Completion) -> None:
        on_done(request, calibrate(completion, baselines[request.key], choices) if completion.ok else completion)

    judge.choose([baseline_request(r, instances) for r in group], sampling, choices, keep)
    judge.choose(group, sampling, choices, done)


def awaiting_reminder(record: Mapping[str, Any]) -> bool:
    """A parsed-text reply with no verdict that has not had its one format reminder yet."""
    return not record.get("parsed", True) and record.get("attempts", 1) == 1 and record.get("method") == "parse"


def reminder_request(key: tuple, instance: Mapping[str, Any], answer: str, first: Mapping[str, Any]) -> Request:
    """The one format reminder for an unparsable first reply (``first``, its record), keyed like it.

    The judge's chat is the same prompt, its own reply and the reminder: asking the same prompt again
    would be pointless with a deterministic judge. Shared by this stage and the inspect_ai scorer.
    """
    _, question_type, _, template = key
    messages = judge_messages(template, instance, question_type, answer)
    return Request(key, reminder_messages(template, messages, first.get("raw") or ""))


def judge_answers(
    judge: Backend,
    responses: Iterable[Mapping[str, Any]],
    instances: Mapping[str, Mapping[str, Any]],
    sampling: SamplingConfig,
    score_self_report: bool,
    verdict_method: str,
    judgments: RecordFile,
    failures: RecordFile,
    summary: JudgingSummary,
) -> None:
    """One judge's pass over the answers it has not graded, then one format reminder for the unparsable.

    Every reply is written the moment it arrives, an unparsable one too (``parsed: false``,
    ``attempts: 1``); the reminder's reply is its own record, which supersedes it. So a crash during
    the reminders loses nothing already received, and the next run sends only the reminders still due.

    ``responses`` may be a list, or (for a ``concurrent_safe`` judge) an iterator that yields answers as
    they are written: each answer's requests are then sent as soon as it arrives (the pipelined stages).
    """
    likelihood = verdict_method in LIKELIHOOD_METHODS and judge.supports_choice
    if verdict_method in LIKELIHOOD_METHODS and not likelihood:
        logger.warning("%s cannot give token probabilities; its verdicts are parsed from its text", judge.spec)
    method = verdict_method if likelihood else "parse"
    seen: list[Mapping[str, Any]] = []

    def requests_for_answers() -> Iterator[Request]:
        for response in responses:
            seen.append(response)
            asked = judgment_requests(instances, [response], judge.spec, score_self_report, judgments)
            summary.requested += len(asked)
            summary.skipped += len(templates_for(response["question_type"], score_self_report)) - len(asked)
            yield from asked

    streaming = judge.concurrent_safe and not likelihood and not isinstance(responses, Sequence)
    requests = requests_for_answers() if streaming else list(requests_for_answers())

    def on_done(request: Request, completion: Completion, first: Mapping[str, Any] | None = None) -> None:
        if not completion.ok:
            failures.append(failure_record("judge", request.key, judge.spec, request.key[3], completion.error or "?"))
            summary.failed += 1
            return
        record = judgment_record(request, completion, method, 1 if first is None else 2, first)
        judgments.append(record)
        if first is None:
            summary.finished += 1
        summary.unparsable += not record["parsed"] and (first is not None or likelihood)

    judge.progress = f"judging with {judge.spec}"
    _grade(judge, requests, sampling, method, on_done, instances)
    if likelihood:
        return
    by_key = {(r["id"], r["question_type"]): r for r in seen}
    due = [
        record
        for key, record in list(judgments.records.items())  # other judges append from their threads
        if key[2] == judge.spec and awaiting_reminder(record) and (key[0], key[1]) in by_key
    ]
    if not due:
        return
    summary.retried += len(due)
    firsts = {tuple(r[f] for f in judgments.key_fields): r for r in due}
    reminders = [
        reminder_request(key, instances[key[0]], by_key[(key[0], key[1])]["response"], record)
        for key, record in firsts.items()
    ]
    judge.progress = f"re-asking {judge.spec} for the verdict format"
    judge.generate(reminders, sampling, lambda r, c: on_done(r, c, firsts[r.key]))


def run_judging(
    run: RunDir,
    instances: Sequence[Mapping[str, Any]],
    judges: Sequence[Backend],
    sampling: SamplingConfig = JUDGE_SAMPLING,
    dataset: Mapping[str, Any] | None = None,
    score_self_report: bool = False,
    verdict_method: str = "parse",
) -> JudgingSummary:
    """Grade every answer in ``responses.jsonl`` that a judge has not graded yet."""
    open_judging(run, judges, sampling, dataset, score_self_report, verdict_method)
    by_id = {instance["id"]: instance for instance in instances}
    summary = JudgingSummary()
    with run.responses() as response_file:
        responses = [r for r in response_file.records.values() if r["id"] in by_id]
    with run.judgments() as judgments, run.failures() as failures:
        for judge in judges:
            judge_answers(
                judge, responses, by_id, sampling, score_self_report, verdict_method, judgments, failures, summary
            )
    finish_judging(run, summary)
    return summary


def open_judging(
    run: RunDir,
    judges: Sequence[Backend],
    sampling: SamplingConfig,
    dataset: Mapping[str, Any] | None,
    score_self_report: bool,
    verdict_method: str,
) -> None:
    """Check the judging settings against ``run.json`` (refusing a mismatch) and record them."""
    if verdict_method not in VERDICT_METHODS:
        raise ValueError(f"verdict method {verdict_method!r} must be one of {', '.join(VERDICT_METHODS)}")
    if dataset is not None:
        bind_dataset(run, dataset)
    recorded = run.manifest().get("judging", {})
    open_section(
        run,
        "judging",
        compared={"sampling": asdict(sampling), "template_version": TEMPLATE_VERSION, "verdict_method": verdict_method},
        extra={
            "judges": list(dict.fromkeys([*recorded.get("judges", []), *(j.spec for j in judges)])),
            "score_self_report": bool(recorded.get("score_self_report")) or score_self_report,
            "backends": {**recorded.get("backends", {}), **{j.spec: j.settings() for j in judges}},
        },
    )


def finish_judging(run: RunDir, summary: JudgingSummary) -> None:
    """Usage into ``run.json``, and a warning for replies that stayed unparsable."""
    record_usage(run)
    if summary.unparsable:
        logger.warning(
            "%d judge replies had no parsable verdict even after a reminder; recorded as null", summary.unparsable
        )
