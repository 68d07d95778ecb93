"""The judge-free lm-evaluation-harness tasks in ``integrations/lm_eval/`` load offline and score a tiny model.

Each document is a TRUSTSIM instance of its subject, in TrustSim's order; its prompt is exactly what
TrustSim sends (the plain transcript of a base model, or the chat template of the character's system
turn and the question), and its target the answer the character would give.
"""

# ruff: noqa: E402 - the imports below need the optional lmeval extra, checked first
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

lm_eval = pytest.importorskip("lm_eval")

from lm_eval.tasks import TaskManager

from trustsim.backends.hf_backend import plain_prompt
from trustsim.dataset import DEFAULT_DATASET_PATH
from trustsim.evaluation.instances import load_instances, select_instances
from trustsim.evaluation.templates import subject_messages
from trustsim.paths import REPO_ROOT
from trustsim.schema import EXPECTED_ANSWERS, SUBJECTS
from trustsim.testing.tiny_lm import build_tiny_lm

TASKS = REPO_ROOT / "integrations" / "lm_eval"
GROUPS = {"trustsim_self_report": "", "trustsim_self_report_chat": "_chat"}
LIMIT = 3


class _Loader(yaml.SafeLoader):
    """Reads lm-eval's YAML without importing anything: ``!function`` becomes its text."""


_Loader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")


def _yaml(path: Path) -> dict:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)


def _instances(prefix: str, limit: int | None = None) -> list[dict]:
    return select_instances(load_instances(DEFAULT_DATASET_PATH, "default", "test"), [prefix], limit)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_lm(tmp_path_factory.mktemp("lm-eval") / "tiny")


def _evaluate(tiny: Path, tasks: list[str], metadata: dict | None = None, limit: int = LIMIT, **options):
    return lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={tiny},dtype=float32",
        device="cpu",
        tasks=tasks,
        task_manager=TaskManager(include_path=str(TASKS), include_defaults=False, metadata=metadata),
        limit=limit,
        log_samples=True,
        batch_size=8,
        **options,
    )


def test_every_subject_has_one_task_in_each_group():
    for group, suffix in GROUPS.items():
        listed = _yaml(TASKS / f"_{group}.yaml")
        assert listed["group"] == group
        assert listed["task"] == [f"trustsim_self_report{suffix}_{s.slug}" for s in SUBJECTS]
        assert listed["aggregate_metric_list"] == [{"metric": "acc", "aggregation": "mean", "weight_by_size": True}]
        for subject, name in zip(SUBJECTS, listed["task"], strict=True):
            config = _yaml(TASKS / f"{name}.yaml")
            assert (config["task"], config["task_alias"]) == (name, subject.name)
            assert config["dataset_kwargs"] == {"subject": subject.id_prefix}
            template = _yaml(TASKS / config["include"])
            assert template["custom_dataset"] == "!function utils.load_subject"
            assert template["output_type"] == "multiple_choice"
    assert set(GROUPS) | {f"trustsim_self_report_{s.slug}" for s in SUBJECTS} <= set(
        TaskManager(include_path=str(TASKS), include_defaults=False).all_tasks
    )


def test_the_group_scores_a_tiny_model_offline_with_trustsims_own_prompts(tiny):
    results = _evaluate(tiny, ["trustsim_self_report"])
    per_subject = {s: results["results"][f"trustsim_self_report_{s.slug}"] for s in SUBJECTS}
    for subject, numbers in per_subject.items():
        name = f"trustsim_self_report_{subject.slug}"
        assert 0.0 <= numbers["acc,none"] <= 1.0
        assert results["n-samples"][name] == {"original": len(_instances(subject.id_prefix)), "effective": LIMIT}
        samples = results["samples"][name]
        expected = _instances(subject.id_prefix, LIMIT)
        assert [s["doc"]["id"] for s in samples] == [i["id"] for i in expected]  # TrustSim's order
        for sample, instance in zip(samples, expected, strict=True):
            assert sample["target"] == EXPECTED_ANSWERS.index(instance["self_report_expected"])
            prompt = plain_prompt(subject_messages(instance, "self_report"))
            assert [tuple(a) for a in sample["arguments"]] == [(prompt, " Yes"), (prompt, " No")]
            yes, no = (loglikelihood for loglikelihood, _ in sample["filtered_resps"])
            assert sample["acc"] == float((yes > no) == (instance["self_report_expected"] == "Yes"))
    accuracy = sum(n["acc,none"] for n in per_subject.values()) / len(per_subject)  # equal sizes: weights equal
    assert results["results"]["trustsim_self_report"]["acc,none"] == pytest.approx(accuracy)


def test_the_chat_variant_puts_the_character_in_the_system_turn(tiny):
    from transformers import AutoTokenizer

    results = _evaluate(tiny, ["trustsim_self_report_chat_economics"], apply_chat_template=True)
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    samples = results["samples"]["trustsim_self_report_chat_economics"]
    assert len(samples) == LIMIT
    for sample, instance in zip(samples, _instances("eco", LIMIT), strict=True):
        chat = list(subject_messages(instance, "self_report"))
        prompt = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        assert [tuple(a) for a in sample["arguments"]] == [(prompt, "Yes"), (prompt, "No")]


def test_metadata_picks_another_split_of_the_dataset(tiny):
    """``--metadata '{"trustsim_config": "adaorpo", "trustsim_split": "test"}'``: the AdaORPO test half."""
    results = _evaluate(tiny, ["trustsim_self_report_law_and_jurisprudence"], limit=1,
                        metadata={"trustsim_config": "adaorpo", "trustsim_split": "test"})  # fmt: skip
    half = select_instances(load_instances(DEFAULT_DATASET_PATH, "adaorpo", "test"), ["law"])
    assert results["n-samples"]["trustsim_self_report_law_and_jurisprudence"]["original"] == len(half)
    assert len(half) < len(_instances("law"))
    assert results["samples"]["trustsim_self_report_law_and_jurisprudence"][0]["doc"]["id"] == half[0]["id"]


def test_the_readme_command_runs_from_the_repository_root(tiny, tmp_path):
    command = [
        sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args", f"pretrained={tiny},dtype=float32",
        "--device", "cpu", "--tasks", "trustsim_self_report_psychology", "--include_path", "integrations/lm_eval",
        "--limit", "2", "--output_path", str(tmp_path / "out"),
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "trustsim_self_report_psychology" in done.stdout or "Psychology" in done.stdout
    assert list((tmp_path / "out").rglob("results_*.json"))
