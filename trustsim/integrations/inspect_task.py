"""TRUSTSIM as an inspect_ai task: ``inspect eval trustsim/trustsim --model M --model-role grader=J``.

One sample per instance (its id the TRUSTSIM id, its metadata the instance's fields, its target the
answer the character would give). The solver asks both questions in the character's system prompt
with :func:`~trustsim.evaluation.templates.subject_messages` and keeps each answer as the
``responses.jsonl`` record :func:`~trustsim.evaluation.generate.response_record` writes; the scorer
grades them the way ``trustsim judge`` does: the requests of
:func:`~trustsim.evaluation.judge.judgment_requests`, the records of
:func:`~trustsim.evaluation.judge.judgment_record`, one format reminder
(:func:`~trustsim.evaluation.judge.reminder_request`) for a reply without a verdict, and several
judges combined by :func:`~trustsim.evaluation.aggregate.instance_rows` (majority, ties to the first
grader; mean score). The metrics are ``compute_consistency``'s, under ``metrics.json``'s keys, overall
and per subject (``<key>/<Subject>``). Nothing here restates a prompt, a template or a rule.

The judge is inspect's ``grader`` model role; binding several models to it
(``--model-role grader=a,b``) gives several judges, in that order. Judges sample as in ``trustsim
judge`` (temperature 0, seed 0, up to 1024 tokens) unless the role's own config says otherwise; the
subject model's defaults are ``trustsim generate``'s, which ``--temperature`` and friends override.

Every answer's and every judge's raw text stays in the log (the sample's store and the score's
metadata), so :mod:`trustsim.integrations.inspect_log` turns a log into a TrustSim run folder losslessly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    Model,
    ModelOutput,
    model_roles,
)
from inspect_ai.scorer import Metric, SampleScore, Score, Scorer, Target, Value, metric, scorer
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.util import LimitExceededError, registry_info

from trustsim.backends import Completion, Request, SamplingConfig
from trustsim.backends.base import Message
from trustsim.dataset import DEFAULT_DATASET_PATH
from trustsim.evaluation.aggregate import instance_rows, metric_inputs
from trustsim.evaluation.config import JUDGE_SAMPLING
from trustsim.evaluation.consistency import compute_consistency
from trustsim.evaluation.generate import response_record
from trustsim.evaluation.instances import choose_instances, resolve_subject
from trustsim.evaluation.judge import awaiting_reminder, judgment_record, judgment_requests, reminder_request
from trustsim.evaluation.templates import SUBJECT_PROMPT_VERSION, TEMPLATE_VERSION, subject_messages
from trustsim.records import JUDGMENT_KEY
from trustsim.schema import COLUMNS, QUESTION_TYPES
from trustsim.secrets import redact, redact_url

#: The task's registry name: ``inspect eval trustsim/trustsim``.
TASK_NAME = "trustsim/trustsim"
#: The inspect model role TRUSTSIM's judges are bound to (``--model-role grader=...``).
GRADER_ROLE = "grader"
#: Where the solver leaves the two ``responses.jsonl`` records in the sample's store.
RESPONSES_STORE_KEY = "trustsim/responses"
#: The scorer's name in ``EvalSample.scores``.
SCORER_NAME = "trustsim_judge"
#: ``metrics.json`` keys the task reports, overall and per subject.
METRIC_KEYS: tuple[str, ...] = (
    "self_report_satisfaction_rate",
    "open_ended_satisfaction_rate",
    "both_satisfied_rate",
    "inconsistency_rate",
    "open_ended_mean_score",
)
#: The per-sample columns of ``compute_consistency`` a score value carries (from ``metric_inputs``).
VALUE_COLUMNS: tuple[str, ...] = ("self_report_satisfied", "open_ended_satisfied", "open_ended_score")
#: Per-sample count of grades that stayed unparsable after the reminder (``metrics.json``'s key).
UNPARSABLE = "unparsable_verdicts"

_ROLES = {"system": ChatMessageSystem, "user": ChatMessageUser, "assistant": ChatMessageAssistant}


def chat_messages(messages: Sequence[Message]) -> list[ChatMessage]:
    """TrustSim's chat dicts (what every backend is sent) as inspect messages, text unchanged."""
    return [_ROLES[m["role"]](content=m["content"]) for m in messages]


def generate_config(sampling: SamplingConfig) -> GenerateConfig:
    """A :class:`~trustsim.backends.SamplingConfig` as inspect's generate config (the same four settings)."""
    return GenerateConfig(
        max_tokens=sampling.max_new_tokens, temperature=sampling.temperature, top_p=sampling.top_p, seed=sampling.seed
    )


def completion(output: ModelOutput) -> Completion:
    """An inspect reply as the :class:`~trustsim.backends.Completion` the record builders take."""
    usage = output.usage
    return Completion(
        output.completion,
        prompt_tokens=usage.input_tokens if usage else 0,
        completion_tokens=usage.output_tokens if usage else 0,
    )


# Task arguments ------------------------------------------------------------------------------


def subject_names(subjects: str | Sequence[str] | None) -> list[str] | None:
    """``-T subjects=psy,eco`` (or a YAML list) as names; an unknown one is a ``ValueError`` naming it.

    Commas separate subjects, since a subject's name may hold spaces (``Political Science``).
    """
    if subjects is None:
        return None
    items = subjects.split(",") if isinstance(subjects, str) else list(subjects)
    names = [str(item).strip() for item in items if str(item).strip()]
    if not names:
        raise ValueError(f"-T subjects={subjects!r} names no subject; give names or id prefixes, e.g. psy,eco")
    for name in names:
        resolve_subject(name)
    return names


def instance_limit(limit: Any) -> int | None:
    """``-T limit=N`` checked: a whole number of at least 1 (None: every instance)."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise ValueError(f"-T limit must be a whole number of instances, not {limit!r}")
    if limit < 1:
        raise ValueError(f"-T limit must be at least 1, not {limit}")
    return limit


def instance_sample(instance: Mapping[str, Any]) -> Sample:
    """One inspect sample per instance: the TRUSTSIM id, the instance's fields as metadata.

    The input is the self-report chat, so the viewer shows what the model is asked first; the
    solver builds both chats itself from the metadata.
    """
    return Sample(
        id=instance["id"],
        input=chat_messages(subject_messages(instance, "self_report")),
        target=instance["self_report_expected"],
        metadata={column: instance[column] for column in COLUMNS},
    )


def sample_instance(state: TaskState) -> dict[str, Any]:
    """The instance a sample carries in its metadata (every column of the dataset contract)."""
    missing = [column for column in COLUMNS if column not in state.metadata]
    if missing:
        raise ValueError(f"sample {state.sample_id!r} lacks the TRUSTSIM field(s) {', '.join(missing)} in its metadata")
    return {column: state.metadata[column] for column in COLUMNS}


# Graders -------------------------------------------------------------------------------------


def role_graders(role: str = GRADER_ROLE) -> list[Model]:
    """The models bound to the grader role, in order, each once (like repeated ``--judge`` specs).

    TRUSTSIM needs a judge: grading with the model under evaluation would grade itself, so an unbound
    role is an error that says how to bind one, never a silent fallback.
    """
    bound = model_roles().get(role)
    if bound is None:
        raise ValueError(
            f"TRUSTSIM's judge is inspect's {role!r} model role, and none is bound: pass "
            f"--model-role {role}=<model> (several judges: --model-role {role}=<model>,<model>)"
        )
    unique: dict[str, Model] = {}
    for model in bound if isinstance(bound, list) else [bound]:
        unique.setdefault(str(model), model)
    return list(unique.values())


def judge_config(grader: Model) -> GenerateConfig:
    """``trustsim judge``'s sampling, with whatever the grader role's own config sets on top."""
    return generate_config(JUDGE_SAMPLING).merge(grader.config)


def _cause(err: BaseException) -> str:
    """The innermost reason of a failed request (through tenacity's RetryError and ``__cause__``), one line."""
    last = getattr(err, "last_attempt", None)
    if last is not None and last.failed:
        err = last.exception()
    while err.__cause__ is not None:
        err = err.__cause__
    return redact(f"{type(err).__name__}: {' '.join(str(err).split())}")[:300]


async def _ask(grader: Model, request: Request, config: GenerateConfig) -> Completion:
    """The grader's reply; a request that fails after inspect's retries fails the sample in one clear line.

    The line names the grader, its server and the request; inspect's own sample limits pass through.
    """
    identifier, question_type, _, template = request.key
    where = f"grader {grader} ({redact_url(getattr(grader.api, 'base_url', None)) or 'its default server'})"
    try:
        output = await grader.generate(chat_messages(request.messages), config=config)
    except LimitExceededError:
        raise
    except Exception as err:
        request_name = f"{identifier} {question_type} ({template})"
        raise RuntimeError(f"{where} gave no reply to {request_name}: {_cause(err)}") from err
    if output.error:
        raise RuntimeError(f"{where} failed on {identifier} {question_type} ({template}): {redact(output.error)}")
    return completion(output)


async def grade(grader: Model, request: Request, instance: Mapping[str, Any], answer: str) -> list[dict[str, Any]]:
    """One judge request and, when its reply has no verdict, the one format reminder: their records.

    Both records are kept, in order, as ``trustsim judge`` appends them (the reminder's supersedes).
    """
    config = judge_config(grader)
    first = judgment_record(request, await _ask(grader, request, config), "parse", 1, None)
    if not awaiting_reminder(first):
        return [first]
    reminder = reminder_request(request.key, instance, answer, first)
    return [first, judgment_record(reminder, await _ask(grader, reminder, config), "parse", 2, first)]


# Solver, scorer, metrics ---------------------------------------------------------------------


@solver
def require_graders() -> Solver:
    """Fail a sample before its answers are generated when no grader is bound (setup step)."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        role_graders()
        return state

    return solve


@solver
def trustsim_answers() -> Solver:
    """Both questions, each in its own chat under the character's system prompt, as ``trustsim generate`` asks.

    The answers' ``responses.jsonl`` records go to the sample's store; the sample's messages end as the
    open-ended chat (the self-report exchange is in the transcript).
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        instance = sample_instance(state)
        records = []
        for question_type in QUESTION_TYPES:
            state.messages = chat_messages(subject_messages(instance, question_type))
            state = await generate(state)
            records.append(response_record(instance, question_type, str(state.model), completion(state.output)))
        state.store.set(RESPONSES_STORE_KEY, records)
        return state

    return solve


def _columns(scores: Sequence[SampleScore]) -> dict[str, list]:
    """``compute_consistency``'s inputs from the samples' score values (NaN, an unscored value, as None)."""
    columns: dict[str, list] = {"dimension": [], **{name: [] for name in VALUE_COLUMNS}}
    for sample_score in scores:
        value = sample_score.score.value
        if not isinstance(value, Mapping):
            continue  # an unscored sample: nothing to count
        columns["dimension"].append((sample_score.sample_metadata or {}).get("dimension"))
        for name in VALUE_COLUMNS:
            item = value.get(name)
            columns[name].append(None if isinstance(item, float) and item != item else item)
    return columns


def _consistency_metric(key: str):
    """The inspect metric reporting ``compute_consistency``'s ``key``, overall and per subject.

    Only point estimates are read, so the bootstrap is skipped (``n_bootstrap=0``): the rates do not
    depend on it. Each epoch counts as its own observation (``scores="unreduced"``): inspect's epoch
    reducers would turn a verdict of None into 0, which TrustSim never does.
    """

    def factory() -> Metric:
        def compute(scores: list[SampleScore]) -> Value:
            result = compute_consistency(**_columns(scores), n_bootstrap=0)
            values: dict[str, float | None] = {key: result[key]}
            for dimension, numbers in result["per_dimension"].items():
                values[f"{key}/{dimension}"] = numbers[key]
            return values

        return compute

    factory.__name__ = factory.__qualname__ = key
    factory.__doc__ = f"``metrics.json``'s ``{key}``, overall and per subject (``{key}/<Subject>``)."
    return metric(name=key, scores="unreduced")(factory)


self_report_satisfaction_rate = _consistency_metric("self_report_satisfaction_rate")
open_ended_satisfaction_rate = _consistency_metric("open_ended_satisfaction_rate")
both_satisfied_rate = _consistency_metric("both_satisfied_rate")
inconsistency_rate = _consistency_metric("inconsistency_rate")
open_ended_mean_score = _consistency_metric("open_ended_mean_score")


@metric(name=UNPARSABLE, scores="unreduced")
def unparsable_verdicts() -> Metric:
    """Grades with no verdict even after the reminder: left out of the rates, counted here."""

    def compute(scores: list[SampleScore]) -> Value:
        return sum(int(s.score.value.get(UNPARSABLE) or 0) for s in scores if isinstance(s.score.value, Mapping))

    return compute


def consistency_metrics() -> list[Metric]:
    """The task's metrics: the five rates of ``metrics.json`` and its count of unparsable verdicts."""
    return [
        self_report_satisfaction_rate(),
        open_ended_satisfaction_rate(),
        both_satisfied_rate(),
        inconsistency_rate(),
        open_ended_mean_score(),
        unparsable_verdicts(),
    ]


def _verdict_text(verdict: bool | None) -> str:
    return "n/a" if verdict is None else ("Satisfied" if verdict else "Not Satisfied")


@scorer(metrics=consistency_metrics(), name=SCORER_NAME)
def trustsim_judge(score_self_report: bool = False) -> Scorer:
    """Every grader grades both answers with the paper's templates, as ``trustsim judge`` does.

    The score's value holds the instance's three metric inputs (verdicts None when no judge gave one);
    its metadata holds the judges and every ``judgments.jsonl`` record, raw judge text included.
    """

    async def score(state: TaskState, target: Target) -> Score:
        instance = sample_instance(state)
        responses = state.store.get(RESPONSES_STORE_KEY)
        if not responses:
            raise ValueError(f"sample {state.sample_id!r} has no TRUSTSIM answers; the scorer needs trustsim_answers()")
        graders = role_graders()
        answers = {record["question_type"]: record["response"] for record in responses}
        by_id = {instance["id"]: instance}
        work = [
            grade(grader, request, instance, answers[request.key[1]])
            for grader in graders
            for request in judgment_requests(by_id, responses, str(grader), score_self_report)
        ]
        judgments = [record for records in await asyncio.gather(*work) for record in records]
        judges = [str(grader) for grader in graders]
        columns = metric_inputs(instance_rows([instance], responses, judgments, judges))
        final = {tuple(record[f] for f in JUDGMENT_KEY): record for record in judgments}.values()
        value: dict[str, Any] = {name: columns[name][0] for name in VALUE_COLUMNS}
        value[UNPARSABLE] = sum(not record["parsed"] for record in final)
        score_text = "n/a" if value["open_ended_score"] is None else f"{value['open_ended_score']:g}"
        return Score(
            value=value,
            answer=responses[0].get("self_report_answer"),
            explanation=(
                f"self-report {_verdict_text(value['self_report_satisfied'])}; open-ended "
                f"{_verdict_text(value['open_ended_satisfied'])}, score {score_text} (judges: {', '.join(judges)})"
            ),
            metadata={"judges": judges, "judgments": judgments},
        )

    return score


def trustsim_task_factory(
    subjects: str | list[str] | None = None,
    limit: int | None = None,
    dataset: str | None = None,
    dataset_config: str = "default",
    split: str = "test",
    score_self_report: bool = False,
) -> Task:
    """TRUSTSIM: does the model answer like its character, and consistently? (``inspect eval trustsim/trustsim``)

    Args:
        subjects: Only these subjects (names, abbreviations or id prefixes, comma-separated), like ``--subjects``.
        limit: The first N instances, taking subjects in turn, like ``--limit`` (``--limit N`` of inspect
            itself takes the same N, since the samples come in that order).
        dataset: A dataset folder or Hub id (default: the shipped ``trustsim_dataset/``).
        dataset_config: ``default`` (every instance) or ``adaorpo``.
        split: The config's split (``test``; ``adaorpo`` also has ``train``).
        score_self_report: Also give self-report answers the 1-5 template (AdaORPO's pairs need it).
    """
    names = subject_names(subjects)
    chosen = instance_limit(limit)
    path = dataset or str(DEFAULT_DATASET_PATH)
    instances, reference = choose_instances(path, dataset_config, split, names, chosen)
    if not instances:
        raise ValueError(f"{path} ({dataset_config}/{split}) has no instance of the subjects {', '.join(names or [])}")
    return Task(
        dataset=MemoryDataset([instance_sample(i) for i in instances], name="trustsim", location=str(Path(path))),
        setup=require_graders(),
        solver=trustsim_answers(),
        scorer=trustsim_judge(score_self_report=score_self_report),
        config=generate_config(SamplingConfig()),
        version=f"{SUBJECT_PROMPT_VERSION}+{TEMPLATE_VERSION}",
        metadata={
            "trustsim": {
                "dataset": reference,
                "subjects": names,
                "limit": chosen,
                "score_self_report": score_self_report,
                "prompt_version": SUBJECT_PROMPT_VERSION,
                "template_version": TEMPLATE_VERSION,
                "sampling": asdict(SamplingConfig()),
                "judge_sampling": asdict(JUDGE_SAMPLING),
            }
        },
    )


def _register(factory):
    """``factory`` registered as the task ``trustsim/trustsim``, however inspect sees this package.

    inspect prefixes a package's names (``trustsim/``) only when it can tell the package is installed,
    which it reads from the distribution's metadata. A ``trustsim.egg-info`` folder in the working
    directory (what ``pip install -e .`` leaves in the repository root) shadows that metadata whenever
    the working directory is on ``sys.path`` (``python -m ...``, a notebook, pytest), and the task would
    be registered as plain ``trustsim``; the namespaced name is then registered explicitly.
    """
    registered = task(name="trustsim")(factory)
    if registry_info(registered).name != TASK_NAME:
        registered = task(name=TASK_NAME)(factory)
    return registered


trustsim_task = _register(trustsim_task_factory)
