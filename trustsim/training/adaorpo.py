"""AdaORPO: ORPO whose learning rate follows the judged quality of the preferred answers.

The paper (section 6.1, Algorithm 1) scales the base learning rate of every update by the mean 1-5 judge
score of the batch's chosen answers, so that pairs whose "good" answer is only mediocre move the model
less. Here that is a thin layer over TRL's ``ORPOTrainer``:

* :meth:`AdaORPOTrainer.training_step` takes the score column out of every micro-batch and adds it to a
  running sum and count (the ORPO collator passes unknown columns through as plain lists, and the ORPO
  trainer already sets ``remove_unused_columns=False`` for its collator, so the column reaches the batch).
* Just before ``optimizer.step`` (the Trainer's ``on_pre_optimizer_step`` event, which comes after the
  last micro-batch and after gradient clipping), the sum and count are all-reduced over data-parallel
  processes, and every param group's rate becomes ``scheduled rate * mean score / score_normalizer``.
  Every replica therefore applies the identical factor and the replicas cannot drift apart.
* Right after ``optimizer.step`` (``on_optimizer_step``) the scheduled rates are put back, so the scheduler
  (and the optimizer state saved in checkpoints) never sees the scaled value: the schedule continues from
  its base rate and a resumed run applies the same rates as an uninterrupted one.

With ``adaptive_lr=False`` none of this is installed and the trainer is stock ORPO.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

with warnings.catch_warnings():
    # Importing from trl.experimental warns on every import; the project pins TRL, so the warning is noise.
    warnings.filterwarnings("ignore", message=".*trl.experimental.*")
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

logger = logging.getLogger(__name__)

__all__ = ["AdaORPOConfig", "AdaORPOTrainer", "QLoRARequiresGPUError", "adaptive_lr_factor", "check_4bit_supported"]

#: Optimizers that update the weights inside ``backward``, before the rate could be scaled.
_IN_BACKWARD_OPTIMIZERS = ("lomo", "layerwise")


class QLoRARequiresGPUError(RuntimeError):
    """4-bit bitsandbytes weights (QLoRA) were asked for on a machine without a GPU."""


@dataclass
class AdaORPOConfig(ORPOConfig):
    """ORPO configuration plus the three AdaORPO knobs (paper section 6.1 and Appendix C).

    The applied learning rate at each optimizer step is ``scheduled rate * mean(score) / score_normalizer``,
    where the mean runs over every example of the step: all gradient-accumulation micro-batches on all
    processes. ``score_normalizer=5`` (the default) keeps the factor in ``(0, 1]`` for 1-5 judge scores, so
    ``learning_rate`` stays the largest rate ever applied; ``score_normalizer=1`` is the paper's formula
    literally (``lr = eta * r_avg``, up to 5x the scheduled rate).
    """

    adaptive_lr: bool = field(
        default=True,
        metadata={
            "help": "Scale the scheduled learning rate of every optimizer step by mean(score column over the "
            "global batch) / score_normalizer (AdaORPO). False gives plain ORPO."
        },
    )
    score_column: str = field(
        default="chosen_score",
        metadata={"help": "Dataset column holding the judge score (1-5) of each chosen answer."},
    )
    score_normalizer: float = field(
        default=5.0,
        metadata={
            "help": "Divisor of the mean score. 5 keeps the factor in (0, 1] for 1-5 scores; 1 is the paper's "
            "formula literally (lr x mean score, up to 5x the scheduled rate)."
        },
    )

    def __post_init__(self) -> None:
        """Reject knob values that would silently train with a zero, negative or undefined rate."""
        if not (isinstance(self.score_normalizer, int | float) and math.isfinite(self.score_normalizer)):
            raise ValueError(f"score_normalizer must be a finite number, got {self.score_normalizer!r}")
        if self.score_normalizer <= 0:
            raise ValueError(f"score_normalizer must be > 0, got {self.score_normalizer}")
        if not self.score_column:
            raise ValueError("score_column must name a dataset column")
        super().__post_init__()


def adaptive_lr_factor(score_sum: float, score_count: float, score_normalizer: float) -> float:
    """The factor ``mean score / normalizer``; kept separate so the formula is stated (and tested) once."""
    if score_count <= 0:
        raise RuntimeError("AdaORPO reached an optimizer step without having seen a single score")
    return score_sum / score_count / score_normalizer


def _wants_4bit(quantization_config: Any) -> bool:
    """Whether a ``BitsAndBytesConfig`` (object or its dict form) asks for 4-bit weights."""
    if quantization_config is None:
        return False
    if isinstance(quantization_config, dict):
        return bool(quantization_config.get("load_in_4bit", False))
    return bool(getattr(quantization_config, "load_in_4bit", False))


def _gpu_available(use_cpu: bool = False) -> bool:
    """A device bitsandbytes 4-bit training supports: CUDA (or XPU), unless the run is forced onto CPU."""
    if use_cpu:
        return False
    xpu = getattr(torch, "xpu", None)
    return torch.cuda.is_available() or bool(xpu is not None and xpu.is_available())


def check_4bit_supported(quantization_config: Any, use_cpu: bool = False) -> None:
    """Raise a one-line :class:`QLoRARequiresGPUError` before loading if 4-bit weights are asked for on CPU.

    Called by the trainer, and meant for recipes to call before ``from_pretrained``: without it the failure
    surfaces much later, deep inside bitsandbytes or the first training step.
    """
    if _wants_4bit(quantization_config) and not _gpu_available(use_cpu):
        raise QLoRARequiresGPUError(
            "QLoRA (4-bit bitsandbytes weights) needs a CUDA GPU and none is available here; "
            "drop the 4-bit quantization_config to train LoRA on full-precision weights on CPU."
        )


def _optim_name(args: TrainingArguments) -> str:
    """``args.optim`` as the user wrote it (it is an ``OptimizerNames`` enum after parsing)."""
    return str(getattr(args.optim, "value", args.optim))


def _as_floats(scores: Any) -> list[float]:
    """One micro-batch's score column as floats (a list from the ORPO collator, a tensor from others)."""
    if isinstance(scores, torch.Tensor):
        return [float(s) for s in scores.detach().reshape(-1).tolist()]
    if isinstance(scores, int | float):
        return [float(scores)]
    return [float(s) for s in scores]


class _AdaptiveLRCallback(TrainerCallback):
    """Routes the Trainer's optimizer-step events to the trainer that owns the score accumulator."""

    def __init__(self, trainer: AdaORPOTrainer) -> None:
        self.trainer = trainer

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Drop scores a previous, interrupted ``train()`` call may have left behind."""
        self.trainer._reset_scores()

    def on_pre_optimizer_step(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Scale the rate after all micro-batches (and gradient clipping), right before the update."""
        self.trainer._scale_learning_rate()

    def on_optimizer_step(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Put the scheduled rate back before the scheduler steps or a checkpoint is written."""
        self.trainer._restore_learning_rate()


class AdaORPOTrainer(ORPOTrainer):
    """TRL's ``ORPOTrainer`` with the AdaORPO adaptive learning rate (paper Algorithm 1, lines 11-16).

    Takes the same arguments as ``ORPOTrainer`` but ``args`` must be an :class:`AdaORPOConfig`. The train
    dataset needs the score column (``args.score_column``) when ``adaptive_lr`` is on. Besides ORPO's metrics
    it logs ``adaptive_lr_factor`` (the factor of the last optimizer step before the log) and reports as
    ``learning_rate`` the rate actually applied at that step, not the scheduler's.

    On CPU, ``optim="paged_adamw_8bit"`` (the paper's optimizer) runs as the non-paged 8-bit AdamW with a
    logged message: paging needs CUDA unified memory, and the update rule and state are the same. QLoRA
    (a 4-bit ``quantization_config``) raises :class:`QLoRARequiresGPUError` on CPU before any loading.
    """

    _tag_names: ClassVar[list[str]] = [*ORPOTrainer._tag_names, "adaorpo"]
    _name = "AdaORPO"

    def __init__(self, model: Any = None, args: AdaORPOConfig | None = None, *pargs: Any, **kwargs: Any) -> None:
        if not isinstance(args, AdaORPOConfig):
            raise TypeError(f"AdaORPOTrainer needs an AdaORPOConfig as `args`, got {type(args).__name__}")
        train_dataset = kwargs.get("train_dataset", pargs[1] if len(pargs) > 1 else None)
        self._check_before_loading(model, args, train_dataset)
        self._reset_scores()
        self._scheduled_lrs: list[Any] | None = None
        self._applied_lr: float | None = None
        self._lr_factor: float | None = None
        super().__init__(model, args, *pargs, **kwargs)
        if args.adaptive_lr:
            if self.is_deepspeed_enabled:
                raise NotImplementedError(
                    "adaptive_lr with DeepSpeed is not supported: DeepSpeed steps the optimizer inside backward, "
                    "before the rate can be scaled; use DDP or FSDP, or adaptive_lr=False"
                )
            self.add_callback(_AdaptiveLRCallback(self))

    @staticmethod
    def _check_before_loading(model: Any, args: AdaORPOConfig, train_dataset: Any) -> None:
        """Fail fast, with one clear line, on set-ups that would otherwise break deep inside training."""
        init_kwargs = args.model_init_kwargs if isinstance(args.model_init_kwargs, dict) else {}
        check_4bit_supported(init_kwargs.get("quantization_config"), use_cpu=args.use_cpu)
        if getattr(model, "is_loaded_in_4bit", False):
            check_4bit_supported({"load_in_4bit": True}, use_cpu=args.use_cpu)
        if not args.adaptive_lr:
            return
        optim = _optim_name(args)
        if any(name in optim for name in _IN_BACKWARD_OPTIMIZERS):
            raise ValueError(f"adaptive_lr cannot scale optim={optim!r}: it updates the weights inside backward")
        columns = getattr(train_dataset, "column_names", None)
        if columns is not None and args.score_column not in columns:
            raise ValueError(
                f"adaptive_lr needs the score column {args.score_column!r} in train_dataset (columns: {columns}); "
                "set score_column or adaptive_lr=False"
            )

    @staticmethod
    def get_optimizer_cls_and_kwargs(args: TrainingArguments, model: Any = None) -> tuple[Any, dict[str, Any]]:
        """Stock optimizer choice, except that paged bitsandbytes optimizers on CPU become non-paged, loudly.

        bitsandbytes itself falls back on CPU with a ``UserWarning`` raised at the first step; doing it here
        makes the choice visible in the training log when the optimizer is built.
        """
        optimizer_cls, optimizer_kwargs = ORPOTrainer.get_optimizer_cls_and_kwargs(args, model)
        if optimizer_kwargs.get("is_paged") and args.device.type == "cpu":
            logger.warning(
                "optim=%s: bitsandbytes paged optimizers need CUDA unified memory; on CPU using the non-paged "
                "8-bit/32-bit variant (same update rule, same state size)",
                _optim_name(args),
            )
            optimizer_kwargs = {**optimizer_kwargs, "is_paged": False}
        return optimizer_cls, optimizer_kwargs

    def training_step(
        self, model: torch.nn.Module, inputs: dict[str, Any], num_items_in_batch: torch.Tensor | int | None = None
    ) -> torch.Tensor:
        """Take the micro-batch's scores out of the batch (the model must not see them) and accumulate them."""
        if self.args.adaptive_lr:
            if self.args.score_column not in inputs:
                raise KeyError(
                    f"batch has no {self.args.score_column!r}: keep the score column through the data collator "
                    "(the default ORPO collator does; with a custom collator set remove_unused_columns=False)"
                )
            self._add_scores(_as_floats(inputs.pop(self.args.score_column)))
        return super().training_step(model, inputs, num_items_in_batch)

    def _reset_scores(self) -> None:
        """Start a new optimizer step's accumulation."""
        self._score_sum = 0.0
        self._score_count = 0

    def _add_scores(self, scores: Iterable[float]) -> None:
        """Accumulate one micro-batch; a missing or negative score would silently corrupt the step's rate."""
        for score in scores:
            if not math.isfinite(score) or score < 0:
                raise ValueError(f"{self.args.score_column} must be finite and >= 0, got {score}")
            self._score_sum += score
            self._score_count += 1

    def _global_score_sum_and_count(self) -> tuple[float, float]:
        """Sum and count over all data-parallel processes, so every replica computes the same factor."""
        if self.accelerator.num_processes == 1:
            return self._score_sum, float(self._score_count)
        dtype = torch.float32 if self.accelerator.device.type == "mps" else torch.float64
        local = torch.tensor([self._score_sum, float(self._score_count)], dtype=dtype, device=self.accelerator.device)
        total, count = self.accelerator.reduce(local, reduction="sum").tolist()
        return total, count

    def _scale_learning_rate(self) -> None:
        """Apply ``scheduled rate * factor`` to every param group for the coming ``optimizer.step``."""
        total, count = self._global_score_sum_and_count()
        self._reset_scores()
        factor = adaptive_lr_factor(total, count, self.args.score_normalizer)
        groups = self.optimizer.param_groups
        self._scheduled_lrs = [group["lr"] for group in groups]
        for group, scheduled in zip(groups, self._scheduled_lrs, strict=True):
            group["lr"] = scheduled * factor
        self._lr_factor = factor
        applied = groups[0]["lr"] if groups else 0.0
        self._applied_lr = float(applied.item() if isinstance(applied, torch.Tensor) else applied)

    def _restore_learning_rate(self) -> None:
        """Undo :meth:`_scale_learning_rate` so the scheduler and checkpoints only ever hold scheduled rates."""
        if self._scheduled_lrs is None:
            return
        for group, scheduled in zip(self.optimizer.param_groups, self._scheduled_lrs, strict=True):
            group["lr"] = scheduled
        self._scheduled_lrs = None

    def _get_learning_rate(self) -> float:
        """The rate applied at the last optimizer step, which is what the Trainer logs as ``learning_rate``."""
        if self.args.adaptive_lr and self._applied_lr is not None:
            return self._applied_lr
        return super()._get_learning_rate()

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add ``adaptive_lr_factor`` to every training log (those carrying ``loss``)."""
        if self.args.adaptive_lr and "loss" in logs and self._lr_factor is not None:
            logs["adaptive_lr_factor"] = self._lr_factor
        super().log(logs, start_time)
