"""The model card of an AdaORPO run: set-up, data, the adaptive-rate rule and TRUSTSIM results before and after.

The recipe (``recipes/adaorpo.py``) fills ``model_cards/adaorpo_template.md`` through huggingface_hub's
``ModelCard.from_template`` so the card reads the same however the run was launched (one GPU, DDP, FSDP, LoRA).
Two things a card must never carry are handled here, in one place, rather than trusted to every caller:

* local paths: a base model, pairs dataset or judge given as a local folder appears by its folder name only
  (:func:`public_name`); an absolute path says nothing to a reader and tells the world about the trainer's disk;
* secrets: the rendered text is scrubbed of the values of ``HF_TOKEN``, ``HUGGING_FACE_HUB_TOKEN`` and
  ``OPENAI_API_KEY`` (:func:`scrub_secrets`), the last line of defence should one ever reach a field.

Results follow the paper's Table 3b (self-report and open-ended satisfaction in %, mean 1-5 score), with the
trained model's numbers also written as Hub ``model-index`` metadata and, in the Hub's current format, as
``.eval_results/trustsim.yaml`` beside the card (:func:`save_eval_results`); both take their numbers from
:mod:`trustsim.evaluation.hub_results`.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from statistics import fmean
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from trustsim.evaluation.hub_results import (
    FALLBACK_BENCHMARK_ID,
    metric_value,
    result_entries,
    result_notes,
    write_results,
)
from trustsim.evaluation.hub_results import METRICS as RESULT_METRICS
from trustsim.formatting import percent, score_text
from trustsim.paths import MODEL_CARD_TEMPLATE
from trustsim.records import write_atomic
from trustsim.secrets import SECRET_ENV_VARS, redact

logger = logging.getLogger(__name__)

__all__ = [
    "SECRET_ENV_VARS",
    "TEMPLATE_PATH",
    "CardInputs",
    "build_model_card",
    "eval_results",
    "hyperparameters",
    "pairs_statistics",
    "public_name",
    "public_spec",
    "results_rows",
    "save_eval_results",
    "save_model_card",
    "scrub_secrets",
]

#: The Jinja template filled by :func:`build_model_card`.
TEMPLATE_PATH = MODEL_CARD_TEMPLATE

#: Where the results come from: the held-out half of TRUSTSIM (the paper's Appendix C 1:1 split).
EVAL_CONFIG = "adaorpo"
EVAL_SPLIT = "test"
#: ``metrics.json`` key, model-index metric type, display name, whether it is a rate shown in %
#: (the same numbers as the ``.eval_results`` tasks: one list, in ``trustsim.evaluation.hub_results``).
METRICS: tuple[tuple[str, str, str, bool], ...] = tuple((key, key, name, rate) for key, name, rate in RESULT_METRICS)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


# Names without local paths ---------------------------------------------------------------------------------


def _is_local(reference: str) -> bool:
    """Whether ``reference`` names something on this disk rather than on the Hub."""
    return os.path.isabs(reference) or reference.startswith((".", "~")) or Path(reference).expanduser().exists()


def public_name(reference: str | os.PathLike[str] | None) -> str:
    """A Hub id as it is; a local path as its folder (or file) name only, never the path."""
    if reference is None:
        return "unknown"
    text = os.fspath(reference)
    if _is_local(text):
        return Path(text).expanduser().resolve().name or text
    return text


def _hub_id(reference: str | None) -> str | None:
    """``reference`` if it can be a Hub repo id (for card metadata, which only takes Hub ids), else None."""
    if reference is None or _is_local(reference):
        return None
    return reference if _HUB_ID.match(reference) else None


def public_spec(spec: str) -> str:
    """A model spec (``hf:<path or id>``, ``openai:<model>``) with a local path reduced to its name."""
    scheme, sep, name = spec.partition(":")
    if not sep:
        return public_name(spec)
    return f"{scheme}:{public_name(name)}"


def scrub_secrets(text: str) -> str:
    """``text`` with the value of every secret environment variable replaced by ``<redacted>``.

    Nothing the card is built from should hold a secret; this is the guarantee that holds even if one does.
    Only the variable's name is logged, never its value.
    """
    redacted = redact(text)
    if redacted != text:
        logger.warning("the model card contained a secret (a key, a token or URL credentials); it was redacted")
    return redacted


# Pieces of the card ----------------------------------------------------------------------------------------


def pairs_statistics(rows: Iterable[Mapping[str, Any]], score_column: str = "chosen_score") -> dict[str, Any]:
    """What the card says about the training pairs: counts by question type, subject and source model, scores."""
    rows = list(rows)
    scores = [float(r[score_column]) for r in rows if r.get(score_column) is not None]
    return {
        "pairs": len(rows),
        "question_type": dict(Counter(str(r.get("question_type")) for r in rows if r.get("question_type"))),
        "dimension": dict(Counter(str(r.get("dimension")) for r in rows if r.get("dimension"))),
        "chosen_model": dict(Counter(public_spec(str(r["chosen_model"])) for r in rows if r.get("chosen_model"))),
        "score_mean": fmean(scores) if scores else None,
        "score_min": min(scores) if scores else None,
        "score_max": max(scores) if scores else None,
    }


def _enum_value(value: Any) -> Any:
    """``OptimizerNames.ADAMW_TORCH`` -> ``"adamw_torch"``: the name the user wrote, not the enum's repr."""
    return getattr(value, "value", value)


def _num(value: Any) -> str:
    """Numbers as a person writes them (8e-06, 0.1, 20), everything else as text."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _lora_text(peft_config: Any) -> str:
    """One line for the LoRA settings of a ``peft.LoraConfig`` (or "none")."""
    if peft_config is None:
        return "none (full fine-tuning)"
    targets = getattr(peft_config, "target_modules", None)
    if isinstance(targets, set | frozenset | list | tuple):
        targets = ", ".join(sorted(targets))
    parts = [
        f"r = {peft_config.r}",
        f"alpha = {peft_config.lora_alpha}",
        f"dropout = {_num(peft_config.lora_dropout)}",
        f"target modules: {targets or 'PEFT default for the architecture'}",
    ]
    if getattr(peft_config, "use_rslora", False):
        parts.append("rsLoRA")
    if getattr(peft_config, "use_dora", False):
        parts.append("DoRA")
    if getattr(peft_config, "modules_to_save", None):
        parts.append(f"also trained: {', '.join(peft_config.modules_to_save)}")
    return "; ".join(parts)


def _quantization_text(quantization_config: Any) -> str:
    """One line for a ``BitsAndBytesConfig`` (QLoRA), or "none"."""
    if quantization_config is None:
        return "none"
    get = (
        quantization_config.get
        if isinstance(quantization_config, Mapping)
        else lambda key, default=None: getattr(quantization_config, key, default)
    )
    if get("load_in_4bit", False):
        text = f"4-bit {str(get('bnb_4bit_quant_type', 'nf4')).upper()} base weights (bitsandbytes, QLoRA)"
        if get("bnb_4bit_use_double_quant", False):
            text += ", nested quantization"
        compute = get("bnb_4bit_compute_dtype", None)
        if compute is not None:
            text += f", compute dtype {str(compute).replace('torch.', '')}"
        return text
    if get("load_in_8bit", False):
        return "8-bit base weights (bitsandbytes)"
    return "none"


def _precision(args: Any) -> str:
    if getattr(args, "bf16", False):
        return "bf16 mixed precision"
    if getattr(args, "fp16", False):
        return "fp16 mixed precision"
    return "fp32"


def hyperparameters(inputs: CardInputs) -> list[tuple[str, str]]:
    """Every setting that decides what the run learned, read from the AdaORPOConfig (nothing typed by hand)."""
    args = inputs.training_args
    warmup = args.warmup_steps
    warmup_text = (
        f"{_num(warmup)} of the total steps" if isinstance(warmup, float) and 0 < warmup < 1 else _num(int(warmup))
    )
    per_device, accumulation = args.per_device_train_batch_size, args.gradient_accumulation_steps
    global_batch = per_device * accumulation * inputs.num_processes
    if getattr(args, "adaptive_lr", False):
        adaptive = f"on: factor = mean `{args.score_column}` of the global batch / {_num(args.score_normalizer)}"
    else:
        adaptive = "off (plain ORPO, the paper's w/o Ada ablation)"
    if args.max_steps and args.max_steps > 0:
        length = ("Training length", f"{args.max_steps} optimizer steps (`max_steps`; `num_train_epochs` not used)")
    else:
        length = ("Epochs", _num(args.num_train_epochs))
    return [
        ("Learning rate (peak, η)", _num(args.learning_rate)),
        ("Adaptive learning rate", adaptive),
        ("ORPO λ (`beta`)", _num(args.beta)),
        ("Learning-rate schedule", str(_enum_value(args.lr_scheduler_type))),
        ("Warmup steps", warmup_text),
        ("Per-device train batch size", _num(per_device)),
        ("Gradient accumulation steps", _num(accumulation)),
        ("Processes", _num(inputs.num_processes)),
        ("Global batch size", f"{global_batch} ({per_device} x {accumulation} x {inputs.num_processes})"),
        length,
        ("Optimizer", str(_enum_value(args.optim))),
        ("Weight decay", _num(args.weight_decay)),
        ("Max gradient norm", _num(args.max_grad_norm)),
        ("Max length (prompt + answer, tokens)", _num(args.max_length)),
        *(
            [("Max completion length (tokens)", _num(args.max_completion_length))]
            if getattr(args, "max_completion_length", None)
            else []
        ),
        (
            "Max prompt length (tokens)",
            f"{inputs.max_prompt_length} (longer pairs left out)" if inputs.max_prompt_length else "not set",
        ),
        ("Precision", _precision(args)),
        ("Model weights dtype", inputs.model_dtype or "as saved"),
        ("Gradient checkpointing", "on" if getattr(args, "gradient_checkpointing", False) else "off"),
        ("LoRA", _lora_text(inputs.peft_config)),
        ("Quantization", _quantization_text(inputs.quantization_config)),
        ("Seed", _num(args.seed)),
    ]


def _ci(metrics: Mapping[str, Any], key: str) -> str:
    interval = (metrics.get("ci") or {}).get(key)
    if not interval or any(v is None for v in interval):
        return "n/a"
    low, high = interval
    return f"{100 * low:.1f}-{100 * high:.1f}"


def _short_name(reference: str) -> str:
    """``meta-llama/Llama-3.1-8B-Instruct`` -> ``Llama-3.1-8B-Instruct`` (a table row label)."""
    return public_name(reference).rstrip("/").split("/")[-1]


def results_rows(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, base_model: str, adaptive_lr: bool
) -> list[dict[str, str]]:
    """Table 3b rows: the base model's numbers, then the trained model's (labelled like the paper's ablation)."""
    short = _short_name(base_model)
    rows = []
    for metrics, label in (
        (before, f"{short} (base)"),
        (after, f"{short} (AdaORPO)" if adaptive_lr else f"{short} w/o Ada"),
    ):
        if metrics is None:
            continue
        rows.append(
            {
                "label": label,
                "self_report": percent(metrics.get("self_report_satisfaction_rate"), 2, "n/a"),
                "open_ended": percent(metrics.get("open_ended_satisfaction_rate"), 2, "n/a"),
                "score": score_text(metrics.get("open_ended_mean_score"), "n/a"),
            }
        )
    return rows


DETAIL_COLUMNS: tuple[str, ...] = (
    "n",
    "Inconsistency (%)",
    "Both satisfied (%)",
    "Self-Rep. 95% CI",
    "Open-En. 95% CI",
    "Left out (failed / unparsable)",
)


def _detail_rows(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, labels: Sequence[str]
) -> list[dict[str, Any]]:
    rows = []
    present = [m for m in (before, after) if m is not None]
    for metrics, label in zip(present, labels, strict=True):
        rows.append(
            {
                "label": label,
                "values": [
                    str(metrics.get("n", "n/a")),
                    percent(metrics.get("inconsistency_rate"), 2, "n/a"),
                    percent(metrics.get("both_satisfied_rate"), 2, "n/a"),
                    _ci(metrics, "self_report_satisfaction_rate"),
                    _ci(metrics, "open_ended_satisfaction_rate"),
                    f"{metrics.get('failed_requests', 0)} / {metrics.get('unparsable_verdicts', 0)}",
                ],
            }
        )
    return rows


def _result_notes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, eval_failure: str | None = None
) -> list[str]:
    """Warnings a reader needs to read the two rows side by side."""
    notes = []
    if eval_failure:
        notes.append(f"The evaluation of the trained model failed ({eval_failure}); its row is missing.")
    elif after is None:
        notes.append("The trained model was not evaluated in this run (no `--eval_judges`).")
    if before is None:
        notes.append("No baseline run was given (`--baseline_run`): only the trained model's row is shown.")
    if before is not None and after is not None:
        if before.get("n") != after.get("n"):
            notes.append(
                f"The rows cover different numbers of instances (n = {before.get('n')} vs {after.get('n')}): "
                "evaluate both with the same `--limit` for a like-for-like comparison."
            )
        judges_before = [public_spec(j) for j in before.get("judges") or []]
        judges_after = [public_spec(j) for j in after.get("judges") or []]
        if judges_before and judges_after and judges_before != judges_after:
            notes.append(
                f"The rows were judged differently (base: {', '.join(judges_before)}; "
                f"trained: {', '.join(judges_after)}), so their difference mixes model and judge."
            )
    return notes


def eval_results(after: Mapping[str, Any], dataset_id: str) -> list[EvalResult]:
    """The trained model's TRUSTSIM numbers as model-index entries (rates in %, score on 1-5), missing ones left out."""
    results = []
    for key, metric_type, name, _ in METRICS:
        value = metric_value(after, key)
        if value is None:
            continue
        results.append(
            EvalResult(
                task_type="text-generation",
                task_name="Social character simulation",
                dataset_type=dataset_id,
                dataset_name="TRUSTSIM",
                dataset_config=EVAL_CONFIG,
                dataset_split=EVAL_SPLIT,
                metric_type=metric_type,
                metric_name=name,
                metric_value=value,
            )
        )
    return results


def _count(n: int, noun: str) -> str:
    """``1 pair``, ``2 pairs``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _data_lines(stats: Mapping[str, Any], max_prompt_length: int | None) -> list[str]:
    """The bullet points of the card's training-data section."""
    lines = []
    if stats.get("pairs") is not None:
        types = stats.get("question_type") or {}
        by_type = ", ".join(f"{n} {name.replace('_', '-')}" for name, n in sorted(types.items()))
        line = f"{_count(stats['pairs'], 'preference pair')} used for training"
        if by_type:
            line += f" ({by_type})"
        if stats.get("dimension"):
            line += f", over {_count(len(stats['dimension']), 'subject')}"
        lines.append(line)
    if stats.get("dropped_long_prompts"):
        lines.append(
            f"{_count(stats['dropped_long_prompts'], 'pair')} left out because the prompt is longer than "
            f"max_prompt_length = {max_prompt_length} tokens"
        )
    if stats.get("chosen_model"):
        sources = ", ".join(f"`{name}` ({n})" for name, n in sorted(stats["chosen_model"].items()))
        lines.append(f"chosen answers written by: {sources}")
    if stats.get("score_mean") is not None:
        lines.append(
            f"judge score of the chosen answers: mean {stats['score_mean']:.2f} "
            f"(min {_num(stats['score_min'])}, max {_num(stats['score_max'])})"
        )
    return lines


def _training_lines(log_history: Sequence[Mapping[str, Any]]) -> list[str]:
    """What the trainer's log says about the run: steps, the adaptive factors actually applied, losses, time."""
    logs = [entry for entry in log_history if "loss" in entry]
    summary = next((entry for entry in reversed(log_history) if "train_loss" in entry), {})
    lines = []
    steps = max((int(entry.get("step", 0)) for entry in log_history), default=0)
    if steps:
        lines.append(f"{steps} optimizer steps")
    factors = [float(entry["adaptive_lr_factor"]) for entry in logs if "adaptive_lr_factor" in entry]
    if factors:
        lines.append(
            f"adaptive factor over {len(factors)} logged steps: mean {fmean(factors):.3f}, "
            f"min {min(factors):.3f}, max {max(factors):.3f}"
        )
    rates = [float(entry["learning_rate"]) for entry in logs if "learning_rate" in entry]
    if rates:
        lines.append(f"largest applied learning rate: {max(rates):.3g}")
    if "train_loss" in summary:
        lines.append(f"mean training loss: {summary['train_loss']:.4f}")
    if logs:
        last = logs[-1]
        parts = [f"loss {last['loss']:.4f}"]
        for key in ("nll_loss", "log_odds_ratio", "rewards/accuracies"):
            if key in last:
                parts.append(f"{key} {float(last[key]):.4f}")
        lines.append(f"last logged step ({last.get('step')}): {', '.join(parts)}")
    if "train_runtime" in summary:
        lines.append(f"training time: {summary['train_runtime']:.0f} s")
    return lines


def _versions() -> str:
    found = []
    for package in ("trustsim", "trl", "transformers", "peft", "accelerate", "datasets", "torch"):
        try:
            found.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def _normalizer_text(score_normalizer: float) -> str:
    if score_normalizer == 5:
        return (
            "With $c = 5$ the factor stays in $(0, 1]$ for 1-5 scores, so the scheduled rate is never exceeded; "
            r"$c = 1$ would be the paper's formula literally ($\mathrm{lr} = \eta \cdot r_\mathrm{avg}$)."
        )
    if score_normalizer == 1:
        return r"$c = 1$ is the paper's formula literally ($\mathrm{lr} = \eta \cdot r_\mathrm{avg}$, up to 5x $\eta$)."
    return f"The factor lies in $(0, {5 / score_normalizer:g}]$ for 1-5 scores."


# The card --------------------------------------------------------------------------------------------------


@dataclass
class CardInputs:
    """Everything the card is written from; the recipe fills it after training (and evaluation)."""

    #: The trained model's name (the Hub repo's name, else the output folder's name).
    model_name: str
    #: Base model: Hub id or local path (a local path is shown by its folder name only).
    base_model: str
    #: The pairs dataset: Hub id or local folder (shown by its name only).
    dataset: str
    #: The :class:`~trustsim.training.adaorpo.AdaORPOConfig` the run used.
    training_args: Any
    #: Where the model is (or will be) on the Hub; defaults to ``model_name``.
    repo_id: str | None = None
    num_processes: int = 1
    model_dtype: str | None = None
    peft_config: Any = None
    quantization_config: Any = None
    max_prompt_length: int | None = None
    #: :func:`pairs_statistics` of the pairs trained on, plus ``dropped_long_prompts``.
    data_stats: Mapping[str, Any] = field(default_factory=dict)
    #: ``trainer.state.log_history``.
    log_history: Sequence[Mapping[str, Any]] = ()
    #: ``metrics.json`` of the trained model on the adaorpo test split.
    after: Mapping[str, Any] | None = None
    #: ``metrics.json`` of the base model on the same split (``--baseline_run``).
    before: Mapping[str, Any] | None = None
    #: Judge specs of the evaluation.
    judges: Sequence[str] = ()
    #: The TRUSTSIM dataset evaluated on (Hub id or local folder).
    eval_dataset: str | None = None
    #: File name of the recipe's YAML config.
    recipe_config: str | None = None
    #: Exception type of an evaluation that failed after training (its message may hold paths, so it stays out).
    eval_failure: str | None = None
    #: The LoRA adapter was merged into the base weights (``--merge_adapter``): the folder is a full model.
    merged: bool = False
    #: A sentence shown above the results (``--card_note``), e.g. that a demo's numbers mean nothing.
    note: str | None = None


def build_model_card(inputs: CardInputs, template_path: str | os.PathLike[str] = TEMPLATE_PATH) -> ModelCard:
    """Fill the template; the text is scrubbed of secrets before the card object is made."""
    args = inputs.training_args
    adaptive = bool(getattr(args, "adaptive_lr", False))
    trained_lora = inputs.peft_config is not None
    is_adapter = trained_lora and not inputs.merged  # what the folder (and the repo) holds
    base = public_name(inputs.base_model)
    dataset = public_name(inputs.dataset)
    eval_dataset_id = _hub_id(inputs.eval_dataset) or FALLBACK_BENCHMARK_ID

    tags = ["trl", "orpo", "trustsim", "role-play", "social-simulation"]
    tags.insert(2, "adaorpo" if adaptive else "orpo-without-ada")
    if trained_lora:
        tags.append("qlora" if inputs.quantization_config is not None else "lora")
    card_data = ModelCardData(
        base_model=_hub_id(inputs.base_model),
        datasets=[d for d in (_hub_id(inputs.dataset), _hub_id(inputs.eval_dataset)) if d] or None,
        library_name="peft" if is_adapter else "transformers",
        pipeline_tag="text-generation",
        tags=tags,
        model_name=inputs.model_name,
        eval_results=eval_results(inputs.after, eval_dataset_id) if inputs.after else None,
    )

    rows = results_rows(inputs.before, inputs.after, inputs.base_model, adaptive)
    judges = [f"`{public_spec(j)}`" for j in inputs.judges] or [
        f"`{public_spec(j)}`" for j in ((inputs.before or {}).get("judges") or [])
    ]
    card = ModelCard.from_template(
        card_data,
        template_path=str(template_path),
        model_name=inputs.model_name,
        repo_id=inputs.repo_id or inputs.model_name,
        base_model=base,
        method="AdaORPO" if adaptive else "ORPO (adaptive rate off)",
        adaptive_lr=adaptive,
        is_adapter=is_adapter,
        merged=trained_lora and inputs.merged,
        card_note=inputs.note,
        judges_text=", ".join(judges) if judges else "the run's judges",
        results_rows=rows,
        detail_columns=DETAIL_COLUMNS,
        detail_rows=_detail_rows(inputs.before, inputs.after, [row["label"] for row in rows]),
        result_notes=_result_notes(inputs.before, inputs.after, inputs.eval_failure),
        eval_failure=inputs.eval_failure,
        dataset_text=(
            f"Preference pairs `{dataset}`, built with `trustsim pairs` (the paper's Algorithm 1, lines 1-10) from "
            "several models' judged answers to the TRUSTSIM `adaorpo` train split: each answer the judge found "
            "not satisfied is the rejected answer, and the satisfied answer with the highest 1-5 judge score is "
            "the chosen one."
        ),
        data_lines=_data_lines(inputs.data_stats, inputs.max_prompt_length),
        schedule=str(_enum_value(args.lr_scheduler_type)),
        score_column=getattr(args, "score_column", "chosen_score"),
        score_normalizer=_num(getattr(args, "score_normalizer", 5.0)),
        normalizer_text=_normalizer_text(float(getattr(args, "score_normalizer", 5.0))),
        beta=_num(args.beta),
        hyperparameters=hyperparameters(inputs),
        training_lines=_training_lines(inputs.log_history),
        recipe_config=inputs.recipe_config or "<config>.yaml",
        versions=_versions(),
    )
    return ModelCard(scrub_secrets(str(card)))


def save_model_card(card: ModelCard, folder: str | os.PathLike[str]) -> Path:
    """Write ``README.md`` into ``folder`` (replacing the draft a trainer or PEFT may have left there)."""
    path = Path(folder) / "README.md"
    write_atomic(path, scrub_secrets(str(card)))
    return path


def save_eval_results(
    folder: str | os.PathLike[str], after: Mapping[str, Any], eval_dataset: str | None, judges: Sequence[str] = ()
) -> Path:
    """Write the trained model's ``.eval_results/trustsim.yaml`` into ``folder``, so it is pushed with the model.

    The same numbers as the card's ``model-index`` (TRUSTSIM ``adaorpo``/``test``, rates in %), in the
    format the Hub now aggregates into the benchmark's leaderboard; the benchmark is the evaluation
    dataset's Hub id, else the same fallback name the ``model-index`` uses.
    """
    dataset_id = _hub_id(eval_dataset) or FALLBACK_BENCHMARK_ID
    names = [public_spec(j) for j in (judges or after.get("judges") or [])]
    notes = result_notes(after, names)
    return write_results(folder, result_entries(after, dataset_id, EVAL_CONFIG, EVAL_SPLIT, notes=notes))
