"""Why the paper trains with ``paged_adamw_8bit``: optimizer-state bytes after one step, 8-bit over fp32 AdamW.

One AdaORPO optimizer step on the same model and data with ``optim="paged_adamw_8bit"`` and with
``optim="adamw_torch"``, then the bytes of every tensor in the optimizer state are summed. The model is a
Llama built like ``trustsim.testing.tiny_lm`` but wide enough (hidden 1024) that nearly all weights are matrices
above bitsandbytes' ``min_8bit_size`` (4096 elements), the size from which its blockwise 8-bit state
applies; smaller tensors (the norms) keep 32-bit state, and the Trainer keeps the embedding (tied to the
LM head here) in 32-bit on purpose, so the ratio sits a little above the ideal 2/8 = 0.25.

On CPU the paged optimizer runs non-paged (paging needs CUDA unified memory); paging only moves where the
state lives, not its size. The last line is the ratio (target <= 0.3).

    python bench/optimizer_state_bytes.py [--hidden-size 1024]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

# The tiny model builder lives in tests/, not in the installed package.
from trustsim.testing.tiny_lm import build_tiny_lm, preference_pairs
from trustsim.training.adaorpo import AdaORPOConfig, AdaORPOTrainer


def state_bytes(optimizer: Any) -> int:
    """Bytes of every tensor the optimizer keeps per parameter (moments, quantization maps, absmax, step)."""
    inner = getattr(optimizer, "optimizer", optimizer)
    return sum(
        value.numel() * value.element_size()
        for state in inner.state.values()
        for value in state.values()
        if isinstance(value, torch.Tensor)
    )


def one_step(model_dir: Path, out_dir: Path, optim: str) -> tuple[int, int, str]:
    """Train one step with ``optim``; return the state bytes, the trained parameter count, the class name."""
    args = AdaORPOConfig(
        output_dir=str(out_dir / optim),
        optim=optim,
        per_device_train_batch_size=2,
        max_steps=1,
        learning_rate=1e-5,
        save_strategy="no",
        report_to=[],
        bf16=False,
        use_cpu=True,
        max_length=64,
        disable_tqdm=True,
        seed=0,
    )
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    trainer = AdaORPOTrainer(
        model=model,
        args=args,
        train_dataset=preference_pairs([4.0] * 4),
        processing_class=AutoTokenizer.from_pretrained(model_dir),
    )
    trainer.train()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    inner = getattr(trainer.optimizer, "optimizer", trainer.optimizer)
    return state_bytes(trainer.optimizer), params, f"{type(inner).__module__}.{type(inner).__name__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden-size", type=int, default=1024)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_lm(Path(tmp) / "model", hidden_size=args.hidden_size)
        results = {optim: one_step(model_dir, Path(tmp), optim) for optim in ("paged_adamw_8bit", "adamw_torch")}

    for optim, (size, params, cls) in results.items():
        print(f"{optim:<17} {size / 2**20:8.2f} MiB  {size / params:5.2f} bytes/param  ({params:,} params, {cls})")
    ratio = results["paged_adamw_8bit"][0] / results["adamw_torch"][0]
    print(f"paged_adamw_8bit/adamw_torch optimizer state bytes ratio: {ratio:.4f}")


if __name__ == "__main__":
    main()
