"""Calibrated likelihood verdicts: the judge's probabilities for an answer minus those for no answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trustsim.backends import Completion, Request, SamplingConfig, load_backend
from trustsim.cli import main
from trustsim.evaluation.instances import load_instances
from trustsim.evaluation.judge import calibrate
from trustsim.evaluation.templates import BASELINE_RESPONSE, VERDICT_CHOICES, judge_messages
from trustsim.paths import SHIPPED_DATASET
from trustsim.runs import RunDir


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("TRUSTSIM_CACHE", str(folder))
    return folder


def _choice(completion: Completion, logprobs: dict[str, float]) -> Completion:
    completion.extra = {"choice_logprobs": logprobs}
    return completion


def test_calibration_picks_the_choice_the_answer_raises_most_not_the_most_probable():
    # Raw: "Satisfied" far ahead, as a small base model says after anything. The no-answer baseline is
    # even more sure of it, so this answer lowered it: the calibrated verdict is "Not Satisfied".
    analysis = "some analysis\n[[Satisfied]]"
    raw = _choice(Completion(analysis, prompt_tokens=10), {"Satisfied": -0.5, "Not Satisfied": -3.0})
    base = _choice(Completion("\n[[Satisfied]]", prompt_tokens=7), {"Satisfied": -0.1, "Not Satisfied": -5.0})
    out = calibrate(raw, base, VERDICT_CHOICES["binary"])
    assert out.text == "some analysis\n[[Not Satisfied]]"
    assert out.extra["choice_logprobs"] == {"Satisfied": -0.5, "Not Satisfied": -3.0}
    assert out.extra["baseline_logprobs"] == {"Satisfied": -0.1, "Not Satisfied": -5.0}
    assert out.prompt_tokens == 17  # the baseline's prompt is counted too
    # A failed baseline is a failed judgment (retried next run), never an uncalibrated verdict.
    failed = calibrate(_choice(Completion("[[1]]"), {"1": 0.0}), Completion(None, error="boom"), ("1",))
    assert not failed.ok and "baseline" in failed.error and "boom" in failed.error


def _run(run: Path, *extra: str) -> int:
    return main(["eval", "--model", "mock:m", "--judge", "mock:j", "--judge-verdict", "calibrated",
                 "--limit", "3", "--score-self-report", "--output", str(run), *extra])  # fmt: skip


def test_a_calibrated_run_records_both_probabilities_and_the_verdict_follows_their_difference(tmp_path: Path):
    run = tmp_path / "run"
    assert _run(run) == 0
    judgments = list(RunDir(run).records("judgments.jsonl").values())
    assert len(judgments) == 12 and all(j["method"] == "calibrated" and j["parsed"] for j in judgments)
    instances = {i["id"]: i for i in load_instances(str(SHIPPED_DATASET), "default", "test")}
    judge = load_backend("mock:j")
    sampling = SamplingConfig(max_new_tokens=1024, temperature=0.0)
    flips = 0
    for j in judgments:
        choices = VERDICT_CHOICES[j["template"]]
        # The baseline is the judge's own answer to the same prompt with no answer in it.
        got: list[Completion] = []
        messages = judge_messages(j["template"], instances[j["id"]], j["question_type"], BASELINE_RESPONSE)
        judge.choose([Request(("b",), messages)], sampling, choices, lambda r, c, got=got: got.append(c))
        assert j["baseline_logprobs"] == pytest.approx(got[0].extra["choice_logprobs"])
        best = max(choices, key=lambda c: j["choice_logprobs"][c] - j["baseline_logprobs"][c])
        picked = "Satisfied" if j["verdict"] else "Not Satisfied" if j["template"] == "binary" else str(j["score"])
        assert picked == best and j["raw"].endswith(f"[[{best}]]")
        flips += best != max(choices, key=j["choice_logprobs"].__getitem__)
    assert flips > 0  # calibration changed some verdicts, or this test would not tell the methods apart
    assert json.loads((run / "run.json").read_text())["judging"]["verdict_method"] == "calibrated"


def test_baselines_are_cached_across_runs_and_counted_by_a_dry_run(tmp_path: Path, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    capsys.readouterr()
    assert _run(first, "--dry-run") == 0
    planned = capsys.readouterr().out
    # 3 instances: 12 judgments (4 each with --score-self-report) and one no-answer baseline per judgment.
    judge_line = next(line for line in planned.splitlines() if "mock:j" in line)
    assert " 24 " in f" {judge_line} ", judge_line
    assert _run(first) == 0
    # A new folder with the same answers: every judgment and every baseline comes from the cache.
    assert _run(second) == 0
    records = RunDir(second).records("judgments.jsonl").values()
    assert all(r.get("cached") for r in records)
    assert [r["verdict"] for r in records] == [r["verdict"] for r in RunDir(first).records("judgments.jsonl").values()]
