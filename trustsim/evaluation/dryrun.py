"""``--dry-run``: what a command would send, before it sends anything.

Per model and judge: the requests left after resume (what the run folder already holds) and after
the request cache, and about how many prompt tokens they carry (counted by the model's own tokenizer
where it is local, otherwise estimated at four characters a token, and labelled so). Nothing is sent
and nothing is written: no run folder, no lock, no ``run.json``, no cache entry; a torn last line is
skipped in memory, not repaired.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trustsim.backends import Backend, Request, SamplingConfig
from trustsim.backends.cache import CachingBackend
from trustsim.evaluation.config import LIKELIHOOD_METHODS, EvalConfig
from trustsim.evaluation.generate import response_requests
from trustsim.evaluation.judge import awaiting_reminder, baseline_request, judgment_requests, templates_for
from trustsim.evaluation.run import JUDGE_NAMESPACE, SUBJECT_NAMESPACE, backends_for, selected_instances
from trustsim.evaluation.templates import VERDICT_CHOICES, judge_messages
from trustsim.runs import JUDGMENTS, RESPONSES, RunDir

#: Characters per token when a model's tokenizer is not at hand (an API model): a common rule of thumb.
CHARS_PER_TOKEN = 4


@dataclass
class Planned:
    """What one model or judge would be sent."""

    role: str
    spec: str
    requests: int
    from_cache: int
    already_done: int
    prompt_tokens: int
    exact_tokens: bool

    def __str__(self) -> str:
        tokens = f"{self.prompt_tokens:,} prompt tokens" + (
            "" if self.exact_tokens else f" (estimated: {CHARS_PER_TOKEN} characters a token)"
        )
        return (
            f"{self.role} {self.spec}: {self.requests} request(s), about {tokens}; "
            f"{self.from_cache} answered from the cache, {self.already_done} already done"
        )


def _tokens(backend: Backend, conversations: Sequence[Sequence[Mapping[str, str]]]) -> tuple[int, bool]:
    counted = backend.count_tokens(conversations) if conversations else 0
    if counted is not None:
        return counted, True
    characters = sum(len(m.get("content", "")) for conversation in conversations for m in conversation)
    return -(-characters // CHARS_PER_TOKEN), False


def _cached(backend: Backend, requests: Sequence[Request], sampling: SamplingConfig, choices: Any = None) -> set:
    if not isinstance(backend, CachingBackend):
        return set()
    return {r.key for r in backend.cached(requests, sampling, choices)}


def plan(config: EvalConfig, stages: Sequence[str]) -> list[Planned]:
    """What ``run_eval(config, stages)`` would send, per model and judge; reads, never writes."""
    run = RunDir(config.output)
    instances, _ = selected_instances(config, run)
    backends = backends_for(config)
    responses = run.records(RESPONSES, repair=False)
    planned: list[Planned] = []
    to_answer: list[Request] = []
    if "generate" in stages:
        if not config.model:
            raise ValueError("generating answers needs a model spec (--model)")
        backend = backends.get(config.model, config.backend_options.get("base_url"), SUBJECT_NAMESPACE)
        wanted = response_requests(instances)
        pending = [r for r in wanted if r.key not in responses]
        hits = _cached(backend, pending, config.sampling)
        to_answer = [r for r in pending if r.key not in hits]
        tokens, exact = _tokens(backend, [r.messages for r in to_answer])
        done = len(wanted) - len(pending)
        planned.append(Planned("model", backend.spec, len(to_answer), len(hits), done, tokens, exact))
    if "judge" in stages:
        if not config.judges:
            raise ValueError("judging needs at least one judge spec (--judge)")
        by_id = {instance["id"]: instance for instance in instances}
        answered = [r for r in responses.values() if r["id"] in by_id]
        judgments = run.records(JUDGMENTS, repair=False)
        base_url = config.judge_base_url or config.backend_options.get("base_url")
        for spec in dict.fromkeys(config.judges):
            judge = backends.get(spec, base_url, JUDGE_NAMESPACE)
            existing = judgment_requests(by_id, answered, judge.spec, config.score_self_report, judgments)
            likelihood = config.verdict_method in LIKELIHOOD_METHODS and judge.supports_choice
            hits: set = set()
            for template, choices in VERDICT_CHOICES.items():
                group = [r for r in existing if r.key[3] == template]
                hits |= _cached(judge, group, config.judge_sampling, list(choices) if likelihood else None)
            send = [r for r in existing if r.key not in hits]
            # Answers not written yet get judged too; their text is unknown, so their prompts are counted
            # with an empty answer (a lower bound) and none can be in the cache.
            future = [
                Request(
                    (r.key[0], r.key[1], judge.spec, template), judge_messages(template, by_id[r.key[0]], r.key[1], "")
                )
                for r in to_answer
                for template in templates_for(r.key[1], config.score_self_report)
            ]
            reminders = [
                key for key, record in judgments.items() if key[2] == judge.spec and key[0] in by_id
                and awaiting_reminder(record)
            ]  # fmt: skip
            if likelihood and config.verdict_method == "calibrated":  # one no-answer baseline per prompt, if not cached
                baselines = [baseline_request(r, by_id) for r in send + future]
                for template, choices in VERDICT_CHOICES.items():
                    group = [r for r in baselines if r.key[3] == template]
                    cached = _cached(judge, group, config.judge_sampling, list(choices))
                    send += [r for r in group if r.key not in cached]
            wanted = sum(len(templates_for(r["question_type"], config.score_self_report)) for r in answered)
            tokens, exact = _tokens(judge, [r.messages for r in send + future])
            requests = len(send) + len(future) + len(reminders)
            planned.append(Planned("judge", judge.spec, requests, len(hits), wanted - len(existing), tokens, exact))
    return planned


def total_line(planned: Sequence[Planned]) -> str:
    """The last line of a dry run: the total, for scripts."""
    requests = sum(p.requests for p in planned)
    tokens = sum(p.prompt_tokens for p in planned)
    estimated = "" if all(p.exact_tokens for p in planned) else " (partly estimated)"
    return f"{requests} requests would be sent, about {tokens:,} prompt tokens{estimated}; nothing was sent or written"
