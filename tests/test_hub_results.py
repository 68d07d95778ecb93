"""Results in the Hub's format: the benchmark's eval.yaml, and the .eval_results files of report and model card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from huggingface_hub import parse_eval_result_entries

from trustsim.cli import main
from trustsim.evaluation.hub_results import (
    RESULTS_DIR,
    RESULTS_FILE,
    benchmark_spec,
    render_benchmark_yaml,
    result_entries,
)
from trustsim.evaluation.report import RunSummary, write_hub_results
from trustsim.paths import SHIPPED_DATASET
from trustsim.runs import RunDir

HEADLINE = {
    "self_report_satisfaction": "self_report_satisfaction_rate",
    "open_ended_satisfaction": "open_ended_satisfaction_rate",
    "inconsistency": "inconsistency_rate",
}


def _entries(path: Path) -> dict[str, object]:
    return {e.task_id: e for e in parse_eval_result_entries(yaml.safe_load(path.read_text()))}


def test_the_shipped_eval_yaml_is_the_benchmark_spec_and_names_real_splits() -> None:
    path = SHIPPED_DATASET / "eval.yaml"
    assert path.read_text() == render_benchmark_yaml()  # regenerate it from hub_results.py if this fails
    spec = yaml.safe_load(path.read_text())
    assert spec == benchmark_spec() and set(spec) == {"name", "description", "tasks"}
    ids = [task["id"] for task in spec["tasks"]]
    assert len(ids) == len(set(ids)) == 8
    card = yaml.safe_load((SHIPPED_DATASET / "README.md").read_text().split("---\n")[1])
    splits = {(c["config_name"], f["split"]) for c in card["configs"] for f in c["data_files"]}
    assert {(task["config"], task["split"]) for task in spec["tasks"]} <= splits
    assert all(set(task) == {"id", "name", "config", "split"} for task in spec["tasks"])


def test_report_writes_the_model_side_results_file_from_metrics_json(mock_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    assert main(["report", str(mock_run), "--output", str(out), "--benchmark-id", "someone/trustsim"]) == 0
    path = out / RESULTS_DIR / RESULTS_FILE
    assert f"Hub results: {path}" in capsys.readouterr().out
    metrics = json.loads((mock_run / "metrics.json").read_text())
    entries = _entries(path)
    assert set(entries) == {*HEADLINE, "open_ended_mean_score"}
    for task, key in HEADLINE.items():
        assert entries[task].value == round(100 * metrics[key], 2)
    assert entries["open_ended_mean_score"].value == round(metrics["open_ended_mean_score"], 2)
    manifest = json.loads((mock_run / "run.json").read_text())
    for entry in entries.values():
        assert entry.dataset_id == "someone/trustsim" and entry.date == manifest["created"]
        assert entry.notes == (
            "judges: mock:judge-a, mock:judge-b; 6 of 740 instances (a subset: not comparable with full-split results)"
        )

    # The run folder of `trustsim eval` has its own file too (the report there is written by eval).
    assert (mock_run / RESULTS_DIR / RESULTS_FILE).is_file()
    assert _entries(mock_run / RESULTS_DIR / RESULTS_FILE)["inconsistency"].dataset_id == "trustsim"  # fallback


def test_a_leaderboard_report_writes_one_folder_per_model(mock_run: Path, tmp_path: Path) -> None:
    other = tmp_path / "runs" / "second"
    shutil.copytree(mock_run, other)
    out = tmp_path / "board"
    assert main(["report", str(mock_run), str(other), "--output", str(out)]) == 0
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob(RESULTS_FILE))
    assert files == [
        "eval_results/mock-subject-mock-run/.eval_results/trustsim.yaml",
        "eval_results/mock-subject-second/.eval_results/trustsim.yaml",
    ]


def test_a_malformed_benchmark_id_is_refused_before_anything_is_written(mock_run: Path, tmp_path: Path, capsys):
    assert main(["report", str(mock_run), "--output", str(tmp_path / "r"), "--benchmark-id", "not an id"]) == 2
    assert "not a Hub dataset id" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_splits_map_to_their_tasks_and_a_non_benchmark_split_gets_no_file(tmp_path: Path, caplog) -> None:
    metrics = {"n": 3, "self_report_satisfaction_rate": 0.5, "open_ended_satisfaction_rate": None,
               "inconsistency_rate": 0.25, "open_ended_mean_score": 3.456}  # fmt: skip
    entries = result_entries(metrics, "someone/trustsim", "adaorpo", "test")
    assert [(e.task_id, e.value) for e in entries] == [
        ("adaorpo_self_report_satisfaction", 50.0),
        ("adaorpo_inconsistency", 25.0),
        ("adaorpo_open_ended_mean_score", 3.46),
    ]  # an unknown number is left out, never written as 0
    assert result_entries(metrics, "someone/trustsim", "adaorpo", "train") == []
    run = RunDir(tmp_path / "train-run")
    run.path.mkdir()
    run.write_manifest({"dataset": {"path": "someone/trustsim", "config": "adaorpo", "split": "train"}})
    assert write_hub_results([RunSummary("m", metrics)], [run], tmp_path / "out") == []
    assert "no TRUSTSIM benchmark task" in caplog.text and not (tmp_path / "out").exists()
    run.write_manifest({"dataset": {"path": "someone/trustsim", "config": "adaorpo", "split": "test"}})
    [path] = write_hub_results([RunSummary("m", metrics)], [run], tmp_path / "out")
    assert {e.dataset_id for e in _entries(path).values()} == {"someone/trustsim"}  # the run's Hub dataset


def test_the_model_cards_results_file_has_the_model_index_numbers(tmp_path: Path) -> None:
    from trustsim.training.model_card import eval_results, save_eval_results

    after = {"n": 370, "self_report_satisfaction_rate": 0.8053, "open_ended_satisfaction_rate": 0.8319,
             "open_ended_mean_score": 4.1512, "inconsistency_rate": 0.1,
             "judges": [f"hf:{tmp_path}/judge-70b"]}  # fmt: skip
    (tmp_path / "judge-70b").mkdir()
    path = save_eval_results(tmp_path / "model", after, "someone/trustsim")
    assert path == tmp_path / "model" / ".eval_results" / "trustsim.yaml"
    entries = _entries(path)
    index = {r.metric_type: r.metric_value for r in eval_results(after, "someone/trustsim")}
    values = {task: e.value for task, e in entries.items()}
    assert values == {
        "adaorpo_self_report_satisfaction": 80.53,
        "adaorpo_open_ended_satisfaction": 83.19,
        "adaorpo_inconsistency": 10.0,
        "adaorpo_open_ended_mean_score": 4.15,
    }
    assert sorted(values.values()) == sorted(index.values())  # the same numbers as the card's model-index
    assert {e.dataset_id for e in entries.values()} == {"someone/trustsim"}
    assert entries["adaorpo_inconsistency"].notes == "judges: hf:judge-70b; 370 instances"
    assert str(tmp_path) not in path.read_text()
    local = save_eval_results(tmp_path / "other", after, str(SHIPPED_DATASET))
    assert {e.dataset_id for e in _entries(local).values()} == {"trustsim"}  # a local dataset: the fallback name


@pytest.mark.parametrize("name", ["dataset-stats", "validate-dataset"])
def test_the_dataset_tools_accept_the_benchmark_file(dataset_copy: Path, name: str) -> None:
    assert (dataset_copy / "eval.yaml").is_file()
    args = [name, str(dataset_copy)] + (["--no-near-duplicates"] if name == "validate-dataset" else [])
    assert main(args) == 0
    assert (dataset_copy / "eval.yaml").read_text() == (SHIPPED_DATASET / "eval.yaml").read_text()
