"""The AdaORPO recipe (``recipes/adaorpo.py``), its YAML and accelerate configs, and the model card it writes.

One end-to-end run launches the recipe as a user would (``python recipes/adaorpo.py --config tiny-cpu.yaml ...``) in
a subprocess, on a tiny Llama and a handful of TRUSTSIM-based pairs, with a local chat-completions server as the
judge: it must train (the adaptive factors of a sequential run are known in advance), save, evaluate, and write a
card with exactly the numbers the judge implies. Everything else runs in-process and loads no model unless needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from types import ModuleType
from typing import Any

import huggingface_hub
import pytest
import torch
import yaml
from datasets import Dataset
from huggingface_hub import ModelCard

from trustsim.evaluation.instances import load_instances, select_instances
from trustsim.paths import SHIPPED_DATASET
from trustsim.testing.chat_server import ChatServer, Script
from trustsim.testing.tiny_lm import build_tiny_lm
from trustsim.training import recipe as recipe_module
from trustsim.training.adaorpo import AdaORPOConfig
from trustsim.training.model_card import CardInputs, build_model_card, public_name

REPO_ROOT = Path(__file__).resolve().parent.parent
RECIPE = REPO_ROOT / "recipes" / "adaorpo.py"
CONFIGS = sorted((REPO_ROOT / "recipes" / "configs").glob("*.yaml"))
ACCELERATE_CONFIGS = sorted((REPO_ROOT / "recipes" / "accelerate").glob("*.yaml"))
TINY_CPU = REPO_ROOT / "recipes" / "configs" / "tiny-cpu.yaml"

FAKE_HF_TOKEN = "hf_FAKEfakeFAKEfake0123456789abcdefXYZ"
FAKE_OPENAI_KEY = "sk-fake-openai-key-never-in-a-card-0123456789"
#: One score per pair; the last pair's prompt is made too long for max_prompt_length and must be left out.
SCORES = [5.0, 4.0, 3.0, 5.0, 2.0, 4.0, 3.0, 5.0, 1.0]
#: tiny-cpu.yaml: 2 per device x 2 accumulation = 4 pairs a step; 8 pairs kept, sequential sampler.
STEP_MEANS = [sum(SCORES[0:4]) / 4, sum(SCORES[4:8]) / 4, sum(SCORES[0:4]) / 4]


@pytest.fixture(scope="module")
def recipe() -> ModuleType:
    """The recipe's library part, behind the thin ``recipes/adaorpo.py`` script."""
    return recipe_module


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """A tiny model on a busy 2-core machine trains 30x faster on one thread (threads only contend)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_lm(tmp_path_factory.mktemp("recipe") / "tiny")


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nine pairs in the `trustsim pairs` format, saved with save_to_disk; one chosen model is a local path."""
    instances = load_instances(SHIPPED_DATASET, "adaorpo", "train")[: len(SCORES)]
    rows = []
    for i, (instance, score) in enumerate(zip(instances, SCORES, strict=True)):
        question_type = "self_report" if i % 2 == 0 else "open_ended"
        system = instance["system_prompt"] * (12 if i == len(SCORES) - 1 else 1)
        rows.append(
            {
                "id": instance["id"],
                "question_type": question_type,
                "dimension": instance["dimension"],
                "chosen_model": "openai:gpt-4o" if i % 3 else "hf:/models/local/judge-favourite",
                "prompt": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": instance[f"{question_type}_question"]},
                ],
                "chosen": [{"role": "assistant", "content": instance["explanation"][:200]}],
                "rejected": [{"role": "assistant", "content": "As an AI language model, I cannot say."}],
                "chosen_score": score,
            }
        )
    folder = tmp_path_factory.mktemp("recipe") / "pairs-tiny"
    Dataset.from_list(rows).save_to_disk(str(folder))
    return folder


def write_baseline(folder: Path, metrics: dict[str, Any], config: str = "adaorpo", split: str = "test") -> Path:
    """A base-model run directory as `trustsim eval` leaves it (only what the recipe reads)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "run.json").write_text(json.dumps({"dataset": {"config": config, "split": split}}))
    return folder


BASELINE = {
    "n": 2,
    "self_report_satisfaction_rate": 0.5,
    "open_ended_satisfaction_rate": 0.5,
    "both_satisfied_rate": 0.5,
    "inconsistency_rate": 0.0,
    "open_ended_mean_score": 3.5,
    "failed_requests": 0,
    "unparsable_verdicts": 0,
    "judges": ["openai:judge"],
}


# Configs ---------------------------------------------------------------------------------------------------


def _normalise(value: Any) -> Any:
    """A parsed value as the YAML wrote it: enums (``OptimizerNames.X``) by their value."""
    return getattr(value, "value", value)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_training_yaml_parses_with_the_recipe_parser_and_every_key_lands(
    recipe: ModuleType, path: Path, tmp_path: Path
) -> None:
    # --use_cpu: the GPU configs ask for bf16, which TrainingArguments refuses on a machine without GPU otherwise.
    argv = ["--config", str(path), "--output_dir", str(tmp_path), "--use_cpu", "true", "--dataset_name", "pairs/x"]
    parsed = recipe.make_parser().parse_args_and_config(argv)  # unknown YAML keys raise here
    _, training_args, _ = parsed
    assert isinstance(training_args, AdaORPOConfig)
    for key, value in yaml.safe_load(path.read_text()).items():
        if key == "use_cpu":
            continue
        owner = next(obj for obj in parsed if key in {f.name for f in fields(obj)})
        got = _normalise(getattr(owner, key))
        if key == "lora_target_modules" and isinstance(value, list) and len(value) == 1:
            value = value[0]  # ModelConfig unwraps a one-item list
        if key == "report_to" and value == "none":
            value = []  # TrainingArguments' spelling of "no integrations"
        assert got == value, f"{path.name}: {key} = {got!r}, YAML says {value!r}"
    # The command line overrides the YAML.
    overridden = recipe.make_parser().parse_args_and_config(
        [*argv, "--learning_rate", "3e-5", "--max_prompt_length", "7"]
    )
    assert overridden[1].learning_rate == 3e-5 and overridden[0].max_prompt_length == 7


def test_paper_yaml_is_appendix_c(recipe: ModuleType, tmp_path: Path) -> None:
    argv = ["--config", str(REPO_ROOT / "recipes/configs/paper.yaml"), "--output_dir", str(tmp_path), "--use_cpu", "1"]
    script_args, args, model_args = recipe.make_parser().parse_args_and_config(argv)
    assert (args.learning_rate, args.beta, _normalise(args.lr_scheduler_type), args.warmup_steps) == (
        8e-6,
        0.1,
        "linear",
        10,
    )
    assert (args.max_length, script_args.max_prompt_length) == (1024, 512)
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps, args.num_train_epochs) == (2, 4, 20)
    assert (_normalise(args.optim), args.logging_steps, args.bf16) == ("paged_adamw_8bit", 1, True)
    assert (args.adaptive_lr, args.score_column, args.score_normalizer) == (True, "chosen_score", 5.0)
    assert not model_args.use_peft and not model_args.load_in_4bit


def _launch_env(path: Path) -> dict[str, str]:
    """The environment `accelerate launch --config_file path` gives the script, built by accelerate's own code."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    args = launch_command_parser().parse_args(["--config_file", str(path), str(RECIPE)])
    args = _validate_launch_command(args)[0]
    return prepare_multi_gpu_env(args)


@pytest.mark.parametrize("path", ACCELERATE_CONFIGS, ids=lambda p: p.name)
def test_accelerate_configs_load_and_say_what_the_readme_says(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from accelerate.commands.config.config_args import ClusterConfig
    from accelerate.utils import FullyShardedDataParallelPlugin

    raw = yaml.safe_load(path.read_text())
    config = ClusterConfig.from_yaml_file(str(path))  # accelerate's loader: unknown keys raise
    assert config.mixed_precision == "bf16" and config.num_machines == 1 and config.num_processes >= 2
    assert config.use_cpu is False and raw["compute_environment"] == "LOCAL_MACHINE"
    kind = str(getattr(config.distributed_type, "value", config.distributed_type))
    expected = {"ddp.yaml": "MULTI_GPU", "fsdp.yaml": "FSDP", "deepspeed_zero3.yaml": "DEEPSPEED"}
    assert kind == expected[path.name]
    if path.name == "deepspeed_zero3.yaml":
        assert config.deepspeed_config["zero_stage"] == 3
        assert "adaptive_lr false" in path.read_text()  # the ablation-only warning travels with the file
        return
    env = _launch_env(path)
    if path.name == "fsdp.yaml":
        assert env["ACCELERATE_USE_FSDP"] == "true" and env["FSDP_VERSION"] == "2"
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        plugin = FullyShardedDataParallelPlugin()  # reads and checks the launcher's FSDP settings
        assert plugin.fsdp_version == 2 and "FULL_STATE_DICT" in str(plugin.state_dict_type)
        # Both kinds of activation checkpointing at once are refused by transformers: the config leaves FSDP's off.
        assert plugin.activation_checkpointing is False
    else:
        assert "ACCELERATE_USE_FSDP" not in env and env["ACCELERATE_MIXED_PRECISION"] == "bf16"


# The model card --------------------------------------------------------------------------------------------


def _card_inputs(tmp_path: Path, **overrides: Any) -> CardInputs:
    args = AdaORPOConfig(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        learning_rate=8e-6,
        warmup_steps=10,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=4,
        num_train_epochs=20,
        optim="paged_adamw_8bit",
        logging_steps=1,
        bf16=True,
        max_length=1024,
    )
    values: dict[str, Any] = {
        "model_name": "glm-4-adaorpo",
        "base_model": str(tmp_path / "models" / "glm-4-9b-chat"),
        "dataset": str(tmp_path / "pairs" / "glm-4-pairs"),
        "training_args": args,
        "num_processes": 2,
        "max_prompt_length": 512,
        "data_stats": {"pairs": 10, "question_type": {"self_report": 4, "open_ended": 6}, "dropped_long_prompts": 0},
        "log_history": [
            {"loss": 1.5, "learning_rate": 4e-6, "adaptive_lr_factor": 0.9, "step": 1},
            {"loss": 1.25, "learning_rate": 6e-6, "adaptive_lr_factor": 0.7, "step": 2},
            {"train_loss": 1.375, "train_runtime": 30.0, "step": 2},
        ],
        "before": {
            **BASELINE,
            "n": 370,
            "self_report_satisfaction_rate": 0.7392,
            "open_ended_satisfaction_rate": 0.7574,
            "open_ended_mean_score": 4.049,
            "inconsistency_rate": 0.21,
            "judges": [f"hf:{tmp_path}/judges/llama-3-70b"],
        },
        "after": {
            **BASELINE,
            "n": 370,
            "self_report_satisfaction_rate": 0.8053,
            "open_ended_satisfaction_rate": 0.8319,
            "open_ended_mean_score": 4.1512,
            "inconsistency_rate": 0.1,
            "judges": [f"hf:{tmp_path}/judges/llama-3-70b"],
        },
        "judges": [f"hf:{tmp_path}/judges/llama-3-70b"],
        "eval_dataset": str(SHIPPED_DATASET),
        "recipe_config": "paper.yaml",
    }
    values.update(overrides)
    return CardInputs(**values)


def test_card_has_table_3b_model_index_every_hyperparameter_and_no_path_or_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peft import LoraConfig

    monkeypatch.setenv("HF_TOKEN", FAKE_HF_TOKEN)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_OPENAI_KEY)
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=["q_proj", "v_proj"])
    text = str(build_model_card(_card_inputs(tmp_path, peft_config=lora)))

    # Table 3b: satisfaction rates in % with two decimals, score with two; base first, then AdaORPO.
    assert "| glm-4-9b-chat (base) | 73.92 | 75.74 | 4.05 |" in text
    assert "| glm-4-9b-chat (AdaORPO) | 80.53 | 83.19 | 4.15 |" in text
    assert text.index("(base) |") < text.index("(AdaORPO) |")
    assert "| glm-4-9b-chat (AdaORPO) | 370 | 10.00 |" in text  # details row: n, inconsistency

    # model-index: the trained model's numbers, on TRUSTSIM adaorpo/test, as the Hub parses them back.
    card = ModelCard(text)
    results = {r.metric_type: r for r in card.data.eval_results}
    assert {k: r.metric_value for k, r in results.items()} == {
        "self_report_satisfaction_rate": 80.53,
        "open_ended_satisfaction_rate": 83.19,
        "inconsistency_rate": 10.0,
        "open_ended_mean_score": 4.15,
    }
    for result in results.values():
        assert (result.task_type, result.dataset_name, result.dataset_config, result.dataset_split) == (
            "text-generation",
            "TRUSTSIM",
            "adaorpo",
            "test",
        )
    assert card.data.library_name == "peft" and "adaorpo" in card.data.tags and "lora" in card.data.tags
    assert card.data.base_model is None  # a local base model is not a Hub id: no metadata link

    for row in (
        "| Learning rate (peak, η) | 8e-06 |",
        "| ORPO λ (`beta`) | 0.1 |",
        "| Learning-rate schedule | linear |",
        "| Warmup steps | 10 |",
        "| Per-device train batch size | 2 |",
        "| Gradient accumulation steps | 4 |",
        "| Global batch size | 16 (2 x 4 x 2) |",
        "| Epochs | 20 |",
        "| Optimizer | paged_adamw_8bit |",
        "| Max length (prompt + answer, tokens) | 1024 |",
        "| Max prompt length (tokens) | 512 (longer pairs left out) |",
        "| Precision | bf16 mixed precision |",
        "| LoRA | r = 16; alpha = 32; dropout = 0.05; target modules: q_proj, v_proj |",
    ):
        assert row in text, row
    assert r"\mathrm{lr}_t = \eta_t \cdot \frac{\bar r_t}{c}" in text and "$c = 5$" in text
    assert "adaptive factor over 2 logged steps: mean 0.800, min 0.700, max 0.900" in text

    # Local paths appear by name only; the secrets in the environment nowhere.
    assert str(tmp_path) not in text and "/models/" not in text and "/judges/" not in text
    assert "`glm-4-pairs`" in text and "`hf:llama-3-70b`" in text
    assert FAKE_HF_TOKEN not in text and FAKE_OPENAI_KEY not in text


def test_card_without_ada_is_labelled_like_the_paper_and_a_leaked_secret_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", FAKE_HF_TOKEN)
    args = AdaORPOConfig(output_dir=str(tmp_path), use_cpu=True, adaptive_lr=False)
    # A secret that reached a field (here the dataset name) must still not reach the card.
    inputs = _card_inputs(tmp_path, training_args=args, dataset=f"someone/{FAKE_HF_TOKEN}", before=None)
    text = str(build_model_card(inputs))
    assert "| glm-4-9b-chat w/o Ada | 80.53 | 83.19 | 4.15 |" in text
    assert "(base)" not in text and "No baseline run was given" in text
    assert r"\frac{\bar r_t}{c}" not in text and "Plain ORPO" in text
    assert FAKE_HF_TOKEN not in text and "someone/<redacted>" in text
    assert "orpo-without-ada" in ModelCard(text).data.tags


def test_a_card_note_sits_above_the_results_and_no_note_leaves_no_trace(tmp_path: Path) -> None:
    note = "A demo run: these numbers mean nothing."
    with_note = str(build_model_card(_card_inputs(tmp_path, note=note)))
    results = with_note.split("## Results on TRUSTSIM")[1]
    assert results.index(f"> **{note}**") < results.index("| Model |")
    assert "> **" not in str(build_model_card(_card_inputs(tmp_path)))


def test_public_name_keeps_hub_ids_and_reduces_paths(tmp_path: Path) -> None:
    assert public_name("meta-llama/Llama-3.1-8B-Instruct") == "meta-llama/Llama-3.1-8B-Instruct"
    assert public_name(str(tmp_path / "pairs-llama")) == "pairs-llama"
    assert public_name("~/models/x") == "x"


# The recipe ------------------------------------------------------------------------------------------------


def _no_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoModelForCausalLM

    def must_not_load(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model was loaded before the recipe's checks")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", must_not_load)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the message is for machines without a GPU")
def test_qlora_yaml_on_cpu_stops_with_one_line_before_loading(
    recipe: ModuleType, tiny_model: Path, pairs_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    _no_loading(monkeypatch)
    argv = ["--config", str(REPO_ROOT / "recipes/configs/qlora.yaml"), "--model_name_or_path", str(tiny_model)]
    code = recipe.main([*argv, "--dataset_name", str(pairs_dir), "--output_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0 and err.startswith("error: QLoRA") and "CUDA GPU" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--hub_token", "hf_abc"], "--hub_token is not accepted"),
        (["--baseline_run", "WRONG_SPLIT"], "not adaorpo/test"),
        (["--baseline_run", "MISSING"], "no metrics.json"),
        (["--eval_judges", "openai:j", "--eval_output", "USED"], "already holds an evaluation"),
        (["--load_in_8bit", "true"], "only be trained through LoRA"),
        (["--merge_adapter", "true"], "--merge_adapter merges a LoRA adapter: add --use_peft true"),
        (["--chat_template", "MISSING"], "not 'plain' and no such file"),
    ],
)
def test_option_mistakes_are_refused_in_one_line_before_loading(
    recipe: ModuleType, tmp_path: Path, monkeypatch, capsys, extra: list[str], message: str
) -> None:
    _no_loading(monkeypatch)
    write_baseline(tmp_path / "wrong", BASELINE, config="default")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "responses.jsonl").write_text("{}\n")
    paths = {"WRONG_SPLIT": tmp_path / "wrong", "MISSING": tmp_path / "missing", "USED": tmp_path / "used"}
    extra = [str(paths.get(arg, arg)) for arg in extra]
    argv = ["--config", str(TINY_CPU), "--model_name_or_path", "tiny", "--dataset_name", "pairs"]
    assert recipe.main([*argv, "--output_dir", str(tmp_path / "out"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err


@pytest.fixture
def hub_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Record HfApi calls instead of making them; upload_folder also records the card as it is at upload time."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def create_repo(self: Any, repo_id: str, **kwargs: Any) -> Any:
        calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
        return type("RepoUrl", (), {"repo_id": repo_id})()

    def create_branch(self: Any, repo_id: str, **kwargs: Any) -> None:
        calls.append(("create_branch", {"repo_id": repo_id, **kwargs}))

    def upload_folder(self: Any, **kwargs: Any) -> Any:
        readme = Path(kwargs["folder_path"]) / "README.md"
        calls.append(
            ("upload_folder", {**kwargs, "card": readme.read_text(), "files": os.listdir(kwargs["folder_path"])})
        )
        return type("CommitInfo", (), {"commit_url": "https://hub.example/commit/1"})()

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_branch", create_branch)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    return calls


def test_push_to_hub_uploads_model_and_card_once_without_a_token_argument(
    recipe: ModuleType, tiny_model: Path, pairs_dir: Path, tmp_path: Path, monkeypatch, hub_calls
) -> None:
    monkeypatch.setenv("HF_TOKEN", FAKE_HF_TOKEN)
    out = tmp_path / "tiny-adaorpo"
    argv = [
        "--config", str(TINY_CPU), "--model_name_or_path", str(tiny_model), "--dataset_name", str(pairs_dir),
        "--output_dir", str(out), "--max_steps", "1", "--push_to_hub", "true",
        "--hub_model_id", "someone/tiny-adaorpo", "--hub_private_repo", "true", "--hub_revision", "v1",
    ]  # fmt: skip
    assert recipe.main(argv) == 0

    assert [name for name, _ in hub_calls] == ["create_repo", "create_branch", "upload_folder"]
    create, branch, upload = (kwargs for _, kwargs in hub_calls)
    assert create["repo_id"] == "someone/tiny-adaorpo" and create["private"] is True
    assert create["repo_type"] == "model" and create["exist_ok"] is True
    assert branch["branch"] == "v1" and upload["revision"] == "v1"
    assert upload["folder_path"] == str(out) and upload["repo_id"] == "someone/tiny-adaorpo"
    assert upload["repo_type"] == "model" and "checkpoint-*" in upload["ignore_patterns"]
    assert "model.safetensors" in upload["files"] and "tokenizer.json" in upload["files"]
    assert all("token" not in kwargs for _, kwargs in hub_calls)
    # The card uploaded is this recipe's (not TRL's generic one) and names the repo it is pushed to.
    assert "## Results on TRUSTSIM" in upload["card"] and 'model="someone/tiny-adaorpo"' in upload["card"]
    assert FAKE_HF_TOKEN not in upload["card"] and str(tmp_path) not in upload["card"]


def _tiny_argv(tiny_model: Path, pairs_dir: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--config", str(TINY_CPU), "--model_name_or_path", str(tiny_model), "--dataset_name", str(pairs_dir),
        "--output_dir", str(out), "--train_sampling_strategy", "sequential", *extra,
    ]  # fmt: skip


def test_resume_from_checkpoint_true_continues_from_the_latest_checkpoint(
    recipe: ModuleType, tiny_model: Path, pairs_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    saving = ("--save_strategy", "steps", "--save_steps", "2")
    assert recipe.main(_tiny_argv(tiny_model, pairs_dir, out, "--max_steps", "2", *saving)) == 0
    state_file = out / "checkpoint-2" / "trainer_state.json"
    state = json.loads(state_file.read_text())
    state["log_history"].insert(0, {"marker": "written into checkpoint-2", "step": 0})
    state_file.write_text(json.dumps(state))

    assert (
        recipe.main(_tiny_argv(tiny_model, pairs_dir, out, "--max_steps", "3", "--resume_from_checkpoint", "true")) == 0
    )
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    assert history[0].get("marker") == "written into checkpoint-2"  # the state came from the checkpoint
    logs = [entry for entry in history if "loss" in entry]
    assert [entry["step"] for entry in logs] == [1, 2, 3]
    assert [entry["adaptive_lr_factor"] for entry in logs] == pytest.approx([m / 5 for m in STEP_MEANS])
    assert "| Training length | 3 optimizer steps" in (out / "README.md").read_text()


def test_a_failed_evaluation_keeps_the_model_and_card_and_pushes_nothing(
    recipe: ModuleType, tiny_model: Path, pairs_dir: Path, tmp_path: Path, monkeypatch, capsys, caplog, hub_calls
) -> None:
    def judge_down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError(f"judge unreachable; key {FAKE_OPENAI_KEY} at {tmp_path}")

    monkeypatch.setenv("OPENAI_API_KEY", FAKE_OPENAI_KEY)
    monkeypatch.setattr(recipe, "evaluate", judge_down)
    out = tmp_path / "out"
    argv = _tiny_argv(tiny_model, pairs_dir, out, "--max_steps", "1", "--eval_judges", "openai:j", "--push_to_hub", "1")
    assert recipe.main([*argv, "--hub_model_id", "someone/x", "--eval_output", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "the evaluation failed (ConnectionError" in err
    assert "judge unreachable; key <redacted>" in caplog.text  # the traceback is logged, scrubbed
    assert FAKE_OPENAI_KEY not in err + caplog.text
    assert hub_calls == []
    assert (out / "model.safetensors").is_file()
    card = (out / "README.md").read_text()
    assert "The evaluation of the trained model failed (ConnectionError)" in card
    assert FAKE_OPENAI_KEY not in card and str(tmp_path) not in card


def _logits(model: Any, ids: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(input_ids=ids).logits


def test_merge_adapter_evaluates_and_pushes_the_merged_model_and_the_card_says_so(
    recipe: ModuleType, tiny_model: Path, pairs_dir: Path, tmp_path: Path, monkeypatch, hub_calls
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    monkeypatch.setenv("HF_TOKEN", FAKE_HF_TOKEN)
    out = tmp_path / "merged"
    lora = ("--use_peft", "true", "--lora_target_modules", "all-linear", "--lora_r", "4", "--learning_rate", "0.05")
    push = ("--push_to_hub", "true", "--hub_model_id", "someone/merged")
    argv = _tiny_argv(tiny_model, pairs_dir, out, "--max_steps", "2", *lora, "--merge_adapter", "true", *push)
    assert recipe.main(argv) == 0
    # The folder is an ordinary model; the adapter it came from is kept aside, in a folder never pushed.
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    assert (out / "_adapter" / "adapter_config.json").is_file()
    ids = torch.tensor([[1, 5, 9, 14, 3, 7]])
    merged = AutoModelForCausalLM.from_pretrained(out)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), out / "_adapter")
    assert torch.allclose(_logits(merged, ids), _logits(with_adapter, ids), atol=1e-4)  # merged == base + adapter
    assert not torch.allclose(_logits(merged, ids), _logits(base, ids), atol=1e-4)  # and training moved it
    upload = next(kwargs for name, kwargs in hub_calls if name == "upload_folder")
    assert "_*" in upload["ignore_patterns"] and "model.safetensors" in upload["files"]
    card = (out / "README.md").read_text()
    assert "merged into the base weights" in card and "AutoPeftModelForCausalLM" not in card
    assert ModelCard.load(out / "README.md").data.library_name == "transformers"
    assert "lora" in ModelCard.load(out / "README.md").data.tags


def test_a_base_model_trains_on_the_plain_template_and_is_evaluated_on_it_as_an_adapter(
    recipe: ModuleType, pairs_dir: Path, tmp_path: Path, capsys
) -> None:
    from peft import PeftModel

    from trustsim.backends import Request, SamplingConfig, load_backend
    from trustsim.backends.hf_backend import PLAIN_CHAT_TEMPLATE, plain_prompt

    base = build_tiny_lm(tmp_path / "base", chat_template=False)
    out = tmp_path / "adapter"
    lora = ("--use_peft", "true", "--lora_target_modules", "all-linear")
    argv = _tiny_argv(base, pairs_dir, out, "--max_steps", "1", *lora)
    assert recipe.main(argv) == 2  # a base model has no chat template: refused, pointing at the option
    assert "--chat_template plain" in capsys.readouterr().err
    assert recipe.main([*argv, "--chat_template", "plain"]) == 0
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(base)
    assert json.loads((out / "tokenizer_config.json").read_text()).get("chat_template", PLAIN_CHAT_TEMPLATE) == (
        PLAIN_CHAT_TEMPLATE
    ) or (out / "chat_template.jinja").read_text() == PLAIN_CHAT_TEMPLATE
    # `hf:<adapter folder>` loads base + adapter and serves the plain transcript the adapter was trained on.
    backend = load_backend(f"hf:{out}", device="cpu")
    messages = ({"role": "system", "content": "You are Ines."}, {"role": "user", "content": "Why?"})
    assert backend.render(messages) == plain_prompt(messages)
    done: dict[str, Any] = {}
    sampling = SamplingConfig(max_new_tokens=4, temperature=0.0)
    backend.generate([Request(("a",), messages)], sampling, lambda r, c: done.setdefault("c", c))
    assert isinstance(backend._model, PeftModel) and done["c"].ok


def test_report_to_trackio_logs_every_step_offline(tiny_model: Path, pairs_dir: Path, tmp_path: Path) -> None:
    """``--report_to trackio`` as a user runs it: local files under $TRACKIO_DIR, nothing sent anywhere."""
    import importlib.util

    if importlib.util.find_spec("trackio") is None:
        pytest.skip("needs the track extra: pip install -e '.[track]'")
    # In subprocesses: trackio reads $TRACKIO_DIR once, at import, and TRL imports it as soon as it is installed.
    env = {**os.environ, "TRACKIO_DIR": str(tmp_path / "trackio"), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    out = tmp_path / "tracked"
    extra = ["--max_steps", "2", "--report_to", "trackio", "--project", "trustsim-test", "--run_name", "tiny-run"]
    command = [sys.executable, str(RECIPE), *_tiny_argv(tiny_model, pairs_dir, out, *extra)]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    read = (
        "import json; from trackio.sqlite_storage import SQLiteStorage as S; "
        "print(json.dumps([S.get_runs('trustsim-test'), S.get_logs('trustsim-test', 'tiny-run')]))"
    )
    runs, logs = json.loads(
        subprocess.run([sys.executable, "-c", read], env=env, capture_output=True, text=True, check=True).stdout
    )
    assert runs == ["tiny-run"] and list((tmp_path / "trackio").glob("*.db"))
    logs = [entry for entry in logs if "train/loss" in entry]
    assert [entry["train/global_step"] for entry in logs] == [1, 2]
    # The factor trackio shows is the one the trainer applied (trainer_state.json), step for step.
    applied = [e["adaptive_lr_factor"] for e in json.loads((out / "trainer_state.json").read_text())["log_history"]
               if "loss" in e]  # fmt: skip
    assert [entry["train/adaptive_lr_factor"] for entry in logs] == pytest.approx(applied)


# End to end, as a user launches it -------------------------------------------------------------------------


def _judge_reply(self_report_questions: set[str]):
    """Judge: every self-report answer satisfied, every open-ended one not, open-ended score 2."""

    def reply(model: str, messages: list[dict[str, str]]) -> str:
        text = "\n".join(m["content"] for m in messages)
        if "rating score" in messages[0]["content"]:
            return "Some fit, mostly generic. [[2]]"
        if any(question in text for question in self_report_questions):
            return "Consistent with the character. [[Satisfied]]"
        return "Out of character. [[Not Satisfied]]"

    return reply


@pytest.fixture(scope="module")
def e2e(tiny_model: Path, pairs_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One recipe run in a subprocess: train, save, evaluate against a local judge server, write the card."""
    root = tmp_path_factory.mktemp("e2e")
    baseline = write_baseline(root / "runs" / "tiny-base", BASELINE)
    test_instances = select_instances(load_instances(SHIPPED_DATASET, "adaorpo", "test"), limit=2)
    with ChatServer(Script(reply=_judge_reply({i["self_report_question"] for i in test_instances}))) as server:
        command = [
            sys.executable, str(RECIPE), "--config", str(TINY_CPU),
            "--model_name_or_path", str(tiny_model), "--dataset_name", str(pairs_dir),
            "--output_dir", str(root / "tiny-adaorpo"), "--train_sampling_strategy", "sequential",
            "--eval_judges", "openai:judge", "--eval_judge_base_url", server.base_url, "--eval_limit", "2",
            "--eval_max_new_tokens", "8", "--eval_output", str(root / "runs" / "tiny-adaorpo"),
            "--baseline_run", str(baseline),
        ]  # fmt: skip
        env = {
            **os.environ,
            "HF_TOKEN": FAKE_HF_TOKEN,
            "OPENAI_API_KEY": FAKE_OPENAI_KEY,
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "OMP_NUM_THREADS": "1",  # a tiny model on a busy 2-core machine: threads only contend
            "PYTHONPATH": str(REPO_ROOT),
        }
        start = time.monotonic()
        done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
        seconds = time.monotonic() - start
        judge_requests = len(server.requests)
    assert done.returncode == 0, done.stderr[-4000:]
    yield {"root": root, "out": root / "tiny-adaorpo", "done": done, "seconds": seconds, "judged": judge_requests}


def test_recipe_trains_saves_and_logs_the_adaptive_factor(e2e: dict[str, Any], tiny_model: Path) -> None:
    from transformers import AutoModelForCausalLM

    out = e2e["out"]
    trained = AutoModelForCausalLM.from_pretrained(out).state_dict()
    initial = AutoModelForCausalLM.from_pretrained(tiny_model).state_dict()
    assert trained.keys() == initial.keys()
    assert any(not torch.equal(trained[name], initial[name]) for name in initial)  # it learned something
    assert (out / "tokenizer.json").is_file()

    logs = [e for e in json.loads((out / "trainer_state.json").read_text())["log_history"] if "loss" in e]
    # The long-prompt pair was left out before batching, so the steps' score means are exactly these.
    assert [e["adaptive_lr_factor"] for e in logs] == pytest.approx([m / 5 for m in STEP_MEANS])
    assert "1 of 9 pairs left out: prompt longer than 480 tokens" in e2e["done"].stderr


def test_recipe_card_has_the_evaluation_the_baseline_and_no_secret(e2e: dict[str, Any]) -> None:
    out, root = e2e["out"], e2e["root"]
    text = (out / "README.md").read_text()
    after = json.loads((root / "runs" / "tiny-adaorpo" / "metrics.json").read_text())
    # The local judge satisfied every self-report answer and no open-ended one, scoring those 2.
    assert (after["n"], after["self_report_satisfaction_rate"], after["open_ended_satisfaction_rate"]) == (2, 1.0, 0.0)
    assert (after["inconsistency_rate"], after["open_ended_mean_score"]) == (1.0, 2.0)
    assert e2e["judged"] == 2 * 3  # binary self-report, binary and score open-ended, per instance
    assert "| tiny (base) | 50.00 | 50.00 | 3.50 |" in text
    assert "| tiny (AdaORPO) | 100.00 | 0.00 | 2.00 |" in text
    assert {r.metric_type: r.metric_value for r in ModelCard(text).data.eval_results} == {
        "self_report_satisfaction_rate": 100.0,
        "open_ended_satisfaction_rate": 0.0,
        "inconsistency_rate": 100.0,
        "open_ended_mean_score": 2.0,
    }
    results = yaml.safe_load((out / ".eval_results" / "trustsim.yaml").read_text())  # the Hub's format, same numbers
    assert {r["dataset"]["task_id"]: r["value"] for r in results} == {
        "adaorpo_self_report_satisfaction": 100.0,
        "adaorpo_open_ended_satisfaction": 0.0,
        "adaorpo_inconsistency": 100.0,
        "adaorpo_open_ended_mean_score": 2.0,
    }
    assert "1 pair left out because the prompt is longer than max_prompt_length = 480 tokens" in text
    assert "`hf:judge-favourite` (3)" in text and "| Training length | 3 optimizer steps" in text
    assert "recipes/configs/tiny-cpu.yaml" in text
    assert str(root) not in text and str(REPO_ROOT) not in text and "/models/local" not in text
    # No secret in any file the run wrote (card, weights, training_args.bin, run records, report).
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert FAKE_HF_TOKEN.encode() not in data and FAKE_OPENAI_KEY.encode() not in data, path
    assert FAKE_OPENAI_KEY not in e2e["done"].stdout + e2e["done"].stderr
