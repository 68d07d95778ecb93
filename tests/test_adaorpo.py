"""AdaORPO (paper section 6.1, Algorithm 1): the adaptive rate, its logging, and the training set-ups it must survive.

Every run trains the tiny two-layer Llama from ``tiny_lm`` for a few steps on CPU. The applied rate is read
where it matters, inside ``optimizer.step``, and compared with schedules computed here independently.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, HfArgumentParser, TrainerCallback
from trl.experimental.orpo import ORPOConfig, ORPOTrainer

from trustsim.testing.tiny_lm import build_tiny_lm, preference_pairs
from trustsim.training.adaorpo import (
    AdaORPOConfig,
    AdaORPOTrainer,
    QLoRARequiresGPUError,
    adaptive_lr_factor,
    check_4bit_supported,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
BASE_LR = 1e-3


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny model on disk for the whole module; every test loads a fresh copy of it."""
    return build_tiny_lm(tmp_path_factory.mktemp("adaorpo") / "tiny")


def config(tmp_path: Path, cls: type = AdaORPOConfig, **overrides: Any) -> Any:
    """Small, deterministic CPU settings; gradient checkpointing stays on (the ORPO default)."""
    values: dict[str, Any] = {
        "output_dir": str(tmp_path / "out"),
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 2,
        "max_steps": 2,
        "learning_rate": BASE_LR,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": [],
        "bf16": False,
        "use_cpu": True,
        "max_length": 64,
        "disable_tqdm": True,
        "seed": 0,
        "train_sampling_strategy": "sequential",
    }
    values.update(overrides)
    return cls(**values)


def load(model_dir: Path) -> tuple[Any, Any]:
    return AutoModelForCausalLM.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir)


def make_trainer(model_dir: Path, args: Any, scores: Sequence[float], cls: type = AdaORPOTrainer, **kw: Any) -> Any:
    model, tokenizer = load(model_dir)
    return cls(model=model, args=args, train_dataset=preference_pairs(scores), processing_class=tokenizer, **kw)


class StepLRRecorder(TrainerCallback):
    """Records every param group's rate at the moment ``optimizer.step`` runs (the rate the update uses)."""

    def __init__(self) -> None:
        self.lrs: list[list[float]] = []

    def on_train_begin(self, args: Any, state: Any, control: Any, optimizer: Any = None, **kwargs: Any) -> None:
        inner = getattr(optimizer, "optimizer", optimizer)  # accelerate wraps the torch optimizer
        original_step = inner.step

        def recording_step(*step_args: Any, **step_kwargs: Any) -> Any:
            self.lrs.append([float(group["lr"]) for group in inner.param_groups])
            return original_step(*step_args, **step_kwargs)

        inner.step = recording_step


def train_logs(trainer: Any) -> list[dict[str, float]]:
    return [entry for entry in trainer.state.log_history if "loss" in entry]


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


# Seven pairs, micro-batches of 2, accumulation 2: step 1 sees scores [1, 2 | 3, 4] (mean 2.5) and step 2
# sees [1, 1 | 5] (mean 7/3 over examples; the mean of the micro-batch means would be 3). A second epoch
# repeats the order (sequential sampler).
SCORES = [1, 2, 3, 4, 1, 1, 5]
STEP_MEANS = [2.5, 7 / 3, 2.5, 7 / 3]


@pytest.mark.parametrize("normalizer", [5.0, 1.0])
def test_applied_rate_is_scheduled_rate_times_mean_score(model_dir: Path, tmp_path: Path, normalizer: float) -> None:
    recorder = StepLRRecorder()
    args = config(tmp_path, max_steps=4, score_normalizer=normalizer)
    trainer = make_trainer(model_dir, args, SCORES, callbacks=[recorder])
    trainer.train()

    scheduled = [BASE_LR * (4 - step) / 4 for step in range(4)]  # linear decay, no warm-up
    expected = [rate * mean / normalizer for rate, mean in zip(scheduled, STEP_MEANS, strict=True)]
    assert len(recorder.lrs) == 4
    for step_lrs, want in zip(recorder.lrs, expected, strict=True):
        assert step_lrs == pytest.approx([want] * len(step_lrs), rel=1e-12)
    logs = train_logs(trainer)
    assert [log["learning_rate"] for log in logs] == pytest.approx(expected, rel=1e-12)
    assert [log["adaptive_lr_factor"] for log in logs] == pytest.approx([m / normalizer for m in STEP_MEANS])
    # The scheduler kept its own schedule: what it reports is unscaled.
    assert trainer.lr_scheduler.get_last_lr() == pytest.approx([0.0] * len(recorder.lrs[0]))


def test_chained_scheduler_never_sees_the_scaled_rate(model_dir: Path, tmp_path: Path) -> None:
    """ExponentialLR computes each rate from the param group's current one: a leaked factor would compound."""
    model, tokenizer = load(model_dir)
    optimizer = torch.optim.AdamW(model.parameters(), lr=BASE_LR)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.5)
    recorder = StepLRRecorder()
    trainer = AdaORPOTrainer(
        model=model,
        args=config(tmp_path, max_steps=4),
        train_dataset=preference_pairs(SCORES),
        processing_class=tokenizer,
        optimizers=(optimizer, scheduler),
        callbacks=[recorder],
    )
    trainer.train()

    expected = [BASE_LR * 0.5**step * mean / 5 for step, mean in enumerate(STEP_MEANS)]
    assert [lrs[0] for lrs in recorder.lrs] == pytest.approx(expected, rel=1e-12)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(BASE_LR * 0.5**4, rel=1e-12)


def test_logs_factor_and_applied_rate_every_logging_step(model_dir: Path, tmp_path: Path) -> None:
    recorder = StepLRRecorder()
    trainer = make_trainer(model_dir, config(tmp_path, max_steps=4, logging_steps=2), SCORES, callbacks=[recorder])
    trainer.train()

    logs = train_logs(trainer)
    assert [log["step"] for log in logs] == [2, 4]
    for log in logs:
        assert {"loss", "learning_rate", "adaptive_lr_factor", "nll_loss", "log_odds_ratio"} <= log.keys()
        last_step = log["step"] - 1  # the log reports the step just taken
        assert log["learning_rate"] == pytest.approx(recorder.lrs[last_step][0], rel=1e-12)
        assert log["adaptive_lr_factor"] == pytest.approx(STEP_MEANS[last_step] / 5)
    assert all("adaptive_lr_factor" not in entry for entry in trainer.state.log_history if "train_loss" in entry)


def test_adaptive_lr_off_is_stock_orpo_loss_for_loss_and_weight_for_weight(model_dir: Path, tmp_path: Path) -> None:
    common = {"max_steps": 3, "train_sampling_strategy": "random", "weight_decay": 0.01}
    scores = [1, 5, 2, 4, 3, 3, 5, 1, 2, 4]
    ada = make_trainer(model_dir, config(tmp_path / "a", adaptive_lr=False, **common), scores)
    stock = make_trainer(model_dir, config(tmp_path / "b", cls=ORPOConfig, **common), scores, cls=ORPOTrainer)
    initial = weights(ada.model)
    ada.train()
    stock.train()

    ada_logs, stock_logs = train_logs(ada), train_logs(stock)
    assert len(ada_logs) == 3
    assert [log["loss"] for log in ada_logs] == [log["loss"] for log in stock_logs]
    assert [log["learning_rate"] for log in ada_logs] == [log["learning_rate"] for log in stock_logs]
    assert all("adaptive_lr_factor" not in log for log in ada_logs)
    assert_same_weights(weights(ada.model), weights(stock.model))
    assert any(not torch.equal(initial[name], tensor) for name, tensor in weights(ada.model).items())


def test_paged_adamw_8bit_falls_back_loudly_on_cpu_and_uses_the_applied_rate(
    model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="trustsim.training.adaorpo"):
        trainer = make_trainer(model_dir, config(tmp_path, optim="paged_adamw_8bit"), SCORES)
        initial = weights(trainer.model)
        trainer.train()
    assert "optim=paged_adamw_8bit: bitsandbytes paged optimizers need CUDA" in caplog.text

    optimizer = trainer.optimizer.optimizer
    assert type(optimizer).__module__.startswith("bitsandbytes")
    assert optimizer.is_paged is False
    q_proj = trainer.model.model.layers[0].self_attn.q_proj.weight  # 64 x 64 = 4096 elements: 8-bit state
    assert optimizer.state[q_proj]["state1"].dtype == torch.uint8
    assert not torch.equal(initial["model.layers.0.self_attn.q_proj.weight"], q_proj.detach())
    assert [log["adaptive_lr_factor"] for log in train_logs(trainer)] == pytest.approx([m / 5 for m in STEP_MEANS[:2]])

    # All scores 0: the factor is 0, so if bitsandbytes really uses the applied rate nothing may move.
    still = make_trainer(model_dir, config(tmp_path / "zero", optim="paged_adamw_8bit"), [0.0] * len(SCORES))
    before = weights(still.model)
    still.train()
    assert_same_weights(before, weights(still.model))


def test_lora_with_gradient_checkpointing_trains_only_the_adapter(model_dir: Path, tmp_path: Path) -> None:
    from peft import LoraConfig

    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    trainer = make_trainer(model_dir, config(tmp_path, gradient_checkpointing=True), SCORES, peft_config=lora)
    base_before = weights(AutoModelForCausalLM.from_pretrained(model_dir))
    trainer.train()

    after = trainer.model.state_dict()
    lora_b = [name for name in after if "lora_B" in name]
    assert lora_b and all(after[name].abs().sum() > 0 for name in lora_b)  # lora_B starts at zero
    merged_names = {name.replace("base_model.model.", "").replace(".base_layer", ""): name for name in after}
    compared = [name for name in base_before if name in merged_names]
    assert len(compared) == len(base_before)  # every base weight, the LoRA-wrapped ones included
    for name in compared:
        assert torch.equal(base_before[name], after[merged_names[name]]), name
    assert [log["adaptive_lr_factor"] for log in train_logs(trainer)] == pytest.approx([m / 5 for m in STEP_MEANS[:2]])


def test_resume_from_checkpoint_applies_the_rates_of_an_uninterrupted_run(model_dir: Path, tmp_path: Path) -> None:
    scores = [5, 1, 4, 2, 3, 1, 1, 2, 5, 5, 4, 3]  # three steps per epoch: the checkpoint is mid-epoch
    common = {"max_steps": 5, "train_sampling_strategy": "random", "save_strategy": "steps", "save_steps": 2}
    full = make_trainer(model_dir, config(tmp_path / "full", **common), scores)
    full.train()
    recorder = StepLRRecorder()
    resumed = make_trainer(model_dir, config(tmp_path / "resumed", **common), scores, callbacks=[recorder])
    resumed.train(resume_from_checkpoint=str(tmp_path / "full" / "out" / "checkpoint-2"))

    def by_step(trainer: Any) -> dict[int, tuple[float, float]]:
        return {log["step"]: (log["learning_rate"], log["adaptive_lr_factor"]) for log in train_logs(trainer)}

    full_steps, resumed_steps = by_step(full), by_step(resumed)
    assert len(recorder.lrs) == 3  # only steps 3, 4 and 5 ran after resuming
    assert [lrs[0] for lrs in recorder.lrs] == [full_steps[step][0] for step in (3, 4, 5)]
    assert {step: full_steps[step] for step in (3, 4, 5)} == {step: resumed_steps[step] for step in (3, 4, 5)}
    assert len({factor for _, factor in full_steps.values()}) > 1  # the factors really vary by step
    assert_same_weights(weights(full.model), weights(resumed.model))


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU message is only raised without a GPU")
def test_qlora_on_cpu_fails_before_loading_with_one_clear_line(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peft import LoraConfig
    from transformers import BitsAndBytesConfig

    def must_not_load(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model was loaded before the 4-bit check")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", must_not_load)
    args = config(tmp_path, model_init_kwargs={"quantization_config": BitsAndBytesConfig(load_in_4bit=True)})
    with pytest.raises(QLoRARequiresGPUError) as error:
        AdaORPOTrainer(
            model=str(model_dir), args=args, train_dataset=preference_pairs(SCORES), peft_config=LoraConfig(r=4)
        )
    message = str(error.value)
    assert "QLoRA" in message and "CUDA GPU" in message and "\n" not in message

    with pytest.raises(QLoRARequiresGPUError):
        check_4bit_supported({"load_in_4bit": True, "bnb_4bit_quant_type": "nf4"})
    with pytest.raises(QLoRARequiresGPUError):  # an already-quantized model object is refused as well
        AdaORPOTrainer(model=types.SimpleNamespace(is_loaded_in_4bit=True), args=config(tmp_path))
    check_4bit_supported({"load_in_8bit": True})  # only 4-bit is refused
    check_4bit_supported(None)


def test_config_fields_reach_the_command_line_and_bad_values_are_refused(tmp_path: Path) -> None:
    parser = HfArgumentParser(AdaORPOConfig)
    assert "score_normalizer" in parser.format_help() and "(AdaORPO)" in parser.format_help()
    argv = ["--output_dir", str(tmp_path), "--use_cpu", "--adaptive_lr", "false"]
    (parsed,) = parser.parse_args_into_dataclasses([*argv, "--score_normalizer", "1", "--score_column", "s"])
    assert (parsed.adaptive_lr, parsed.score_normalizer, parsed.score_column) == (False, 1.0, "s")
    defaults = AdaORPOConfig(output_dir=str(tmp_path), use_cpu=True)
    assert (defaults.adaptive_lr, defaults.score_column, defaults.score_normalizer) == (True, "chosen_score", 5.0)
    for bad in (0.0, -5.0, float("nan")):
        with pytest.raises(ValueError, match="score_normalizer"):
            AdaORPOConfig(output_dir=str(tmp_path), use_cpu=True, score_normalizer=bad)
    assert adaptive_lr_factor(10.0, 4, 5.0) == pytest.approx(0.5)
    with pytest.raises(RuntimeError):
        adaptive_lr_factor(0.0, 0, 5.0)


def test_missing_or_invalid_scores_are_refused(model_dir: Path, tmp_path: Path) -> None:
    model, tokenizer = load(model_dir)
    with pytest.raises(ValueError, match="chosen_score"):
        AdaORPOTrainer(
            model=model,
            args=config(tmp_path),
            train_dataset=preference_pairs(SCORES, "score"),
            processing_class=tokenizer,
        )
    with pytest.raises(TypeError, match="AdaORPOConfig"):
        AdaORPOTrainer(model=model, args=config(tmp_path, cls=ORPOConfig), train_dataset=preference_pairs(SCORES))
    with pytest.raises(ValueError, match="inside backward"):
        AdaORPOTrainer(model=model, args=config(tmp_path, optim="adalomo"), train_dataset=preference_pairs(SCORES))
    trainer = make_trainer(model_dir, config(tmp_path), [3.0, float("nan"), 2.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        trainer.train()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_cpu_processes_apply_the_global_mean_and_stay_identical(model_dir: Path, tmp_path: Path) -> None:
    """Gloo DDP, two replicas with different local scores: same factor (the global mean), same weights."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={_free_port()}",
        str(REPO_ROOT / "tests" / "adaorpo_ddp_worker.py"),
        str(model_dir),
        str(tmp_path),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-4000:]

    records = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert len(records[0]) == len(records[1]) == 2
    for step0, step1 in zip(*records, strict=True):
        assert step0["world_size"] == step1["world_size"] == 2
        local_means = [r["local_sum"] / r["local_count"] for r in (step0, step1)]
        assert local_means[0] != local_means[1]
        global_mean = (step0["local_sum"] + step1["local_sum"]) / (step0["local_count"] + step1["local_count"])
        assert step0["factor"] == step1["factor"] == pytest.approx(global_mean / 5, rel=1e-12)
        assert step0["applied_lr"] == step1["applied_lr"]
    assert records[0][0]["factor"] != records[0][1]["factor"]
    assert_same_weights(torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt"))
