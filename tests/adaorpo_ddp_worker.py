"""One data-parallel replica of a tiny AdaORPO run, launched twice by ``tests/test_adaorpo.py`` via torchrun.

Usage: ``python -m torch.distributed.run --nproc_per_node 2 tests/adaorpo_ddp_worker.py MODEL_DIR OUT_DIR``.

Each process trains the same tiny model on its own shard of a preference set whose chosen scores differ
by shard, then writes ``rank{R}.pt`` (its final weights) and ``rank{R}.json`` (per optimizer step: the
score sum and count it saw locally, the factor and the rate it applied). The test compares the ranks:
identical weights and a factor equal to the global mean prove the replicas do not drift.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from trustsim.testing.tiny_lm import preference_pairs
from trustsim.training.adaorpo import AdaORPOConfig, AdaORPOTrainer

#: Per-device batch 2, two processes, sequential sampler: global batch k goes to rank k % 2. Batches that
#: land on rank 0 get low scores, those on rank 1 high ones, so the local means differ from the global one.
SCORES = [1.0, 2.0, 5.0, 4.0, 1.0, 1.0, 5.0, 5.0, 2.0, 2.0, 4.0, 3.0, 1.0, 3.0, 5.0, 1.0]


class RecordingAdaORPOTrainer(AdaORPOTrainer):
    """Records what this replica saw locally, before the all-reduce, and what it then applied."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.records: list[dict[str, float]] = []

    def _global_score_sum_and_count(self) -> tuple[float, float]:
        self.records.append({"local_sum": self._score_sum, "local_count": float(self._score_count)})
        return super()._global_score_sum_and_count()

    def _scale_learning_rate(self) -> None:
        super()._scale_learning_rate()
        self.records[-1].update(
            factor=float(self._lr_factor or 0.0),
            applied_lr=float(self.optimizer.param_groups[0]["lr"]),
            world_size=float(self.accelerator.num_processes),
        )


def main(model_dir: str, out_dir: str) -> None:
    """Train two optimizer steps and write this rank's weights and records."""
    torch.set_num_threads(1)
    out = Path(out_dir)
    args = AdaORPOConfig(
        output_dir=str(out / "trainer"),
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
        max_steps=2,
        learning_rate=1e-3,
        train_sampling_strategy="sequential",
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        bf16=False,
        use_cpu=True,
        max_length=64,
        disable_tqdm=True,
        seed=0,
    )
    trainer = RecordingAdaORPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(model_dir),
        args=args,
        train_dataset=preference_pairs(SCORES),
        processing_class=AutoTokenizer.from_pretrained(model_dir),
    )
    trainer.train()
    rank = trainer.accelerator.process_index
    weights = {name: tensor.detach().cpu() for name, tensor in trainer.model.state_dict().items()}
    torch.save(weights, out / f"rank{rank}.pt")
    (out / f"rank{rank}.json").write_text(json.dumps(trainer.records))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
