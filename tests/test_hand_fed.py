"""Every stage can be fed by hand: answers and judgments from another pipeline, no ``run.json``.

The files are written here the way a researcher would write them from the documented record format
(docs/architecture.md), with their own model and judge names, and scored, reported and paired against
the shipped dataset by default.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import load_from_disk

from trustsim.cli import main
from trustsim.evaluation.instances import load_instances, select_instances
from trustsim.paths import SHIPPED_DATASET

JUDGE = "my-lab/judge-v2"


def _write(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def hand_run(folder: Path, model: str, instances: list[dict], satisfied: bool, score: int) -> Path:
    """responses.jsonl + judgments.jsonl with only the documented fields; no run.json."""
    responses, judgments = [], []
    for instance in instances:
        for question_type in ("self_report", "open_ended"):
            responses.append(
                {"id": instance["id"], "question_type": question_type, "model": model, "response": f"{model} says"}
            )
            templates = ("binary", "score")
            for template in templates:
                judgments.append(
                    {
                        "id": instance["id"],
                        "question_type": question_type,
                        "judge": JUDGE,
                        "template": template,
                        "verdict": satisfied if template == "binary" else None,
                        "score": score if template == "score" else None,
                        "raw": "analysis [[...]]",
                    }
                )
    _write(folder / "responses.jsonl", responses)
    _write(folder / "judgments.jsonl", judgments)
    return folder


@pytest.fixture
def train_instances() -> list[dict]:
    return select_instances(load_instances(SHIPPED_DATASET, "adaorpo", "train"), limit=4)


def test_a_hand_fed_run_is_scored_against_the_shipped_dataset(tmp_path: Path, train_instances, monkeypatch) -> None:
    run = hand_run(tmp_path / "theirs", "their-model", train_instances, satisfied=True, score=4)
    monkeypatch.chdir(tmp_path)  # found from the package, not the working directory
    assert main(["score", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n"] == 4 and metrics["judges"] == [JUDGE]
    assert metrics["self_report_satisfaction_rate"] == 1.0 and metrics["open_ended_mean_score"] == 4.0
    assert not (run / "run.json").exists()  # scoring never invents a manifest

    assert main(["report", str(run), "--output", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "their-model" in report  # the answers' own model name labels the row


def test_hand_fed_runs_make_pairs(tmp_path: Path, train_instances) -> None:
    good = hand_run(tmp_path / "good", "good-model", train_instances, satisfied=True, score=5)
    bad = hand_run(tmp_path / "bad", "bad-model", train_instances, satisfied=False, score=1)
    out = tmp_path / "pairs"
    assert main(["pairs", "--runs", str(good), "--target", str(bad), "--output", str(out)]) == 0
    pairs = load_from_disk(str(out))
    assert len(pairs) == 2 * len(train_instances)
    assert set(pairs["chosen_model"]) == {"good-model"} and set(pairs["chosen_score"]) == {5.0}


def test_a_hand_fed_run_against_another_dataset_copy(tmp_path: Path, dataset_copy: Path, train_instances) -> None:
    run = hand_run(tmp_path / "theirs", "their-model", train_instances[:2], satisfied=False, score=2)
    assert main(["score", str(run), "--dataset", str(dataset_copy)]) == 0
    assert json.loads((run / "metrics.json").read_text())["self_report_satisfaction_rate"] == 0.0
    assert main(["score", str(run), "--dataset", str(tmp_path / "nowhere")]) == 2
