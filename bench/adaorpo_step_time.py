"""What the adaptive learning rate costs per step: AdaORPO's mean step time over stock ORPO's.

Both trainers train the same tiny Llama (``trustsim.testing.tiny_lm``) on the same preference pairs with the same
seed. Each optimizer step is timed from ``on_step_begin`` to ``on_step_end`` (forward and backward of every
micro-batch, the score all-reduce and rate scaling, the optimizer and scheduler step). The trainers are
rebuilt every round and built and run in alternating (ABBA) order, so drift in the machine's load hits
both alike; the first steps of every round are dropped as warm-up.

On a shared machine the round-to-round noise is larger than the cost being measured, so the script also
times the AdaORPO hooks alone (score accumulation for every micro-batch, rate scaling and restoring, as
run once per optimizer step) and prints what that adds to the stock mean step; ``--aa`` runs stock ORPO in
both slots to show the noise floor. The last line is the median over rounds of the ratio of the two mean
step times measured in that round (target <= 1.02): a round disturbed by another process on the machine
moves the pooled means, not the median.

    python bench/adaorpo_step_time.py [--rounds 12] [--steps 40] [--warmup 5] [--aa]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from trustsim.training.adaorpo import AdaORPOConfig, AdaORPOTrainer

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*trl.experimental.*")
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

# The tiny model builder lives in tests/, not in the installed package.
from trustsim.testing.tiny_lm import build_tiny_lm, preference_pairs


class StepTimer(TrainerCallback):
    """Wall time of every optimizer step, per ``train()`` call."""

    def __init__(self) -> None:
        self.rounds: list[list[float]] = []
        self._start = 0.0

    def on_train_begin(self, *args: Any, **kwargs: Any) -> None:
        self.rounds.append([])

    def on_step_begin(self, *args: Any, **kwargs: Any) -> None:
        self._start = time.perf_counter()

    def on_step_end(self, *args: Any, **kwargs: Any) -> None:
        self.rounds[-1].append(time.perf_counter() - self._start)


def build(kind: str, model_dir: Path, out_dir: Path, steps: int, timer: StepTimer, aa: bool = False) -> Any:
    """One trainer of the given kind; everything but the class is identical."""
    common = {
        "output_dir": str(out_dir / kind),
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 2,
        "max_steps": steps,
        "learning_rate": 1e-4,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": [],
        "bf16": False,
        "use_cpu": True,
        "max_length": 64,
        "disable_tqdm": True,
        "seed": 0,
    }
    adaptive = kind == "adaorpo" and not aa
    config_cls, trainer_cls = (AdaORPOConfig, AdaORPOTrainer) if adaptive else (ORPOConfig, ORPOTrainer)
    return trainer_cls(
        model=AutoModelForCausalLM.from_pretrained(model_dir),
        args=config_cls(**common),
        train_dataset=preference_pairs([1 + i % 5 for i in range(4 * steps)]),
        processing_class=AutoTokenizer.from_pretrained(model_dir),
        callbacks=[timer],
    )


def trimmed_mean(values: list[float], cut: float = 0.05) -> float:
    """Mean without the fastest and slowest ``cut`` share: one step descheduled by another process on a
    shared machine can otherwise move the plain mean by more than the effect being measured."""
    ordered = sorted(values)
    k = int(len(ordered) * cut)
    return statistics.fmean(ordered[k : len(ordered) - k])


def hook_seconds_per_step(trainer: AdaORPOTrainer, repeats: int = 20000) -> float:
    """Mean wall time of the AdaORPO work done per optimizer step, without the model around it."""
    micro_batch = [3.0] * trainer.args.per_device_train_batch_size
    start = time.perf_counter()
    for _ in range(repeats):
        for _ in range(trainer.args.gradient_accumulation_steps):
            trainer._add_scores(micro_batch)
        trainer._scale_learning_rate()
        trainer._restore_learning_rate()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=12, help="rounds (one train() per trainer), ABBA order")
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps per round")
    parser.add_argument("--warmup", type=int, default=5, help="steps dropped at the start of every round")
    parser.add_argument("--aa", action="store_true", help="stock ORPO in both slots: the noise floor")
    args = parser.parse_args()
    torch.set_num_threads(1)  # fewer threads, less sensitivity to the other processes on the machine

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_lm(Path(tmp) / "tiny")
        timers = {"orpo": StepTimer(), "adaorpo": StepTimer()}
        for round_index in range(args.rounds):
            # Fresh trainers every round, built and run in alternating order: which trainer is built or run
            # first measurably changes its speed (memory layout, caches) even when both are stock ORPO.
            order = ("orpo", "adaorpo") if round_index % 2 == 0 else ("adaorpo", "orpo")
            trainers = {kind: build(kind, model_dir, Path(tmp), args.steps, timers[kind], args.aa) for kind in order}
            for kind in order:
                trainers[kind].train()
        hook = 0.0 if args.aa else hook_seconds_per_step(trainers["adaorpo"])

    kept = {kind: [t for r in timer.rounds for t in r[args.warmup :]] for kind, timer in timers.items()}
    for kind, times in kept.items():
        print(
            f"{kind:<8} steps {len(times):4d}  mean {statistics.fmean(times) * 1e3:7.3f} ms  "
            f"median {statistics.median(times) * 1e3:7.3f} ms  stdev {statistics.stdev(times) * 1e3:6.3f} ms"
        )
    per_round = [
        statistics.fmean(a[args.warmup :]) / statistics.fmean(o[args.warmup :])
        for a, o in zip(timers["adaorpo"].rounds, timers["orpo"].rounds, strict=True)
    ]
    print(f"per-round ratios: {' '.join(f'{r:.3f}' for r in per_round)}")
    ada, orpo = kept["adaorpo"], kept["orpo"]
    print(f"AdaORPO hooks alone: {hook * 1e6:.2f} us/step -> {1 + hook / statistics.fmean(orpo):.5f} x the ORPO step")
    print(f"ratio of medians: {statistics.median(ada) / statistics.median(orpo):.4f}")
    print(f"ratio of plain means: {statistics.fmean(ada) / statistics.fmean(orpo):.4f}")
    print(f"ratio of 5%-trimmed means: {trimmed_mean(ada) / trimmed_mean(orpo):.4f}")
    print(f"adaorpo/orpo mean step time ratio (median of per-round ratios): {statistics.median(per_round):.4f}")


if __name__ == "__main__":
    main()
