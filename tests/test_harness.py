"""``trustsim eval`` end to end against a real local chat-completions server.

Covers resume without new requests, refusal of changed settings, unparsable and failed judge
replies, several judges, torn record files, ``kill -9`` mid-run, and that no key lands on disk.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from trustsim.cli import main
from trustsim.evaluation.aggregate import majority
from trustsim.evaluation.instances import resolve_subject, select_instances
from trustsim.evaluation.templates import FORMAT_REMINDER
from trustsim.runs import RunDir
from trustsim.testing.chat_server import JUDGE_OPENING, ChatServer, Script, judge_aware

SECRET = "sk-test-secret-do-not-write-0123456789"


@pytest.fixture(autouse=True)
def _secret_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)


def _eval(server: ChatServer, output: Path, *extra: str, judges=("openai:judge",)) -> int:
    judge_args = [arg for spec in judges for arg in ("--judge", spec)]
    return main(
        [
            "eval", "--model", "openai:subject", *judge_args, "--output", str(output),
            "--base-url", server.base_url, "--judge-base-url", server.base_url, "--limit", "6",
            "--concurrency", "8", "--max-retries", "1", *extra,
        ]
    )  # fmt: skip


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_eval_writes_every_record_once_and_a_rerun_requests_nothing(tmp_path):
    run = tmp_path / "run"
    with ChatServer(Script(reply=judge_aware())) as server:
        assert _eval(server, run) == 0
        first = len(server.requests)
        assert _eval(server, run) == 0
        assert len(server.requests) == first  # resumed: nothing asked again
    responses, judgments = _lines(run / "responses.jsonl"), _lines(run / "judgments.jsonl")
    assert first == 6 * 2 + 6 * 3  # two answers and three judge calls per instance
    assert len(responses) == 12 and len({(r["id"], r["question_type"]) for r in responses}) == 12
    assert len(judgments) == 18
    assert Counter((j["question_type"], j["template"]) for j in judgments) == {
        ("self_report", "binary"): 6, ("open_ended", "binary"): 6, ("open_ended", "score"): 6,
    }  # fmt: skip
    self_reports = [r for r in responses if r["question_type"] == "self_report"]
    assert all(r["self_report_answer"] == "Yes" for r in self_reports)
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["generation"]["model"] == "openai:subject"
    assert manifest["judging"]["judges"] == ["openai:judge"]
    assert manifest["judging"]["sampling"]["temperature"] == 0.0
    assert len(manifest["dataset"]["fingerprint"]) == 16
    assert manifest["usage"]["model"]["openai:subject"]["requests"] == 12
    assert manifest["usage"]["judges"]["openai:judge"]["completion_tokens"] > 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n"] == 6 and metrics["self_report_satisfaction_rate"] == 1.0
    assert metrics["open_ended_mean_score"] == 4.0 and metrics["failed_requests"] == 0
    assert (run / "report.md").exists() and (run / "instances.parquet").exists()
    # the key reached the server, and no file of the run
    assert server.requests[0]["authorization"] == f"Bearer {SECRET}"
    for path in run.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_resume_with_other_settings_is_refused_and_changes_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    with ChatServer(Script(reply=judge_aware())) as server:
        assert _eval(server, run) == 0
        before = {p.name: p.read_bytes() for p in run.glob("*.jsonl")}
        assert _eval(server, run, "--temperature", "0.2") == 2
        assert "temperature': 0.7" in capsys.readouterr().err
        assert _eval(server, run, "--judge-temperature", "0.5") == 2
        err = capsys.readouterr().err
        assert "judging differs" in err and "new --output" in err
    assert {p.name: p.read_bytes() for p in run.glob("*.jsonl")} == before


def test_an_unparsable_verdict_is_asked_once_more_then_recorded_as_null(tmp_path):
    def reply(model, messages):
        if not messages[0]["content"].startswith(JUDGE_OPENING):
            return "No. I would not."
        fixed = messages[-1]["content"] == FORMAT_REMINDER["binary"] and "Tariq" not in messages[0]["content"]
        if "rating score" in messages[0]["content"]:
            return "I'd say a [[4.5]]"  # malformed: not a verdict, even after the reminder
        return "[[Not Satisfied]]" if fixed else "Hard to say."

    run = tmp_path / "run"
    with ChatServer(Script(reply=reply)) as server:
        assert _eval(server, run) == 0
        asked = len(server.requests)
    lines = _lines(run / "judgments.jsonl")
    # Each first reply was written the moment it arrived; the reminder's reply is its own, later record.
    by_key: dict[tuple, list[dict]] = {}
    for line in lines:
        by_key.setdefault((line["id"], line["question_type"], line["template"]), []).append(line)
    assert len(by_key) == 18 and all([j["attempts"] for j in records] == [1, 2] for records in by_key.values())
    assert all(not records[0]["parsed"] for records in by_key.values())
    judgments = RunDir(run).read("judgments.jsonl")  # the last record per key, as every reader sees them
    assert len(judgments) == 18
    binary = [j for j in judgments if j["template"] == "binary"]
    scores = [j for j in judgments if j["template"] == "score"]
    assert all(j["attempts"] == 2 and j["first_raw"] == "Hard to say." for j in binary)
    assert all(j["verdict"] is False and j["parsed"] for j in binary)
    assert all(j["score"] is None and not j["parsed"] and j["raw"] == "I'd say a [[4.5]]" for j in scores)
    assert asked == 12 + 2 * 18  # every judge call needed its one reminder
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["unparsable_verdicts"] == 6
    assert metrics["open_ended_mean_score"] is None  # never a guessed number
    assert metrics["self_report_satisfaction_rate"] == 0.0  # parsed "Not Satisfied" after the reminder


def test_failed_requests_are_recorded_counted_and_retried_on_the_next_run(tmp_path):
    script = Script(reply=judge_aware(), always={"rating score": 400})
    run = tmp_path / "run"
    with ChatServer(script) as server:
        assert _eval(server, run) == 3  # finished, but with requests left failed: scripts can tell
        failures = _lines(run / "failures.jsonl")
        assert len(failures) == 6 and all(f["stage"] == "judge" and f["template"] == "score" for f in failures)
        assert "HTTP 400" in failures[0]["error"] and "bad request" in failures[0]["error"]
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["failed_requests"] == 6 and metrics["open_ended_mean_score"] is None
        assert metrics["open_ended_satisfaction_rate"] == 1.0  # the binary verdicts still count
        script.always.clear()  # the server is fixed: the next run asks only for what failed
        before = len(server.requests)
        assert _eval(server, run) == 0
        assert len(server.requests) - before == 6
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["failed_requests"] == 0 and metrics["open_ended_mean_score"] == 4.0


def test_several_judges_vote_and_average_and_keep_their_own_records(tmp_path):
    def reply(model, messages):
        if not messages[0]["content"].startswith(JUDGE_OPENING):
            return "Yes."
        score = {"openai:a": 5, "openai:b": 2, "openai:c": 2}[f"openai:{model}"]
        if "rating score" in messages[0]["content"]:
            return f"[[{score}]]"
        return "[[Satisfied]]" if model == "a" else "[[Not Satisfied]]"

    run = tmp_path / "run"
    with ChatServer(Script(reply=reply)) as server:
        assert _eval(server, run, judges=("openai:a", "openai:b", "openai:c")) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["open_ended_satisfaction_rate"] == 0.0  # b and c outvote a
    assert metrics["open_ended_mean_score"] == pytest.approx(3.0)  # (5 + 2 + 2) / 3
    assert metrics["per_judge"]["openai:a"]["open_ended_satisfaction_rate"] == 1.0
    assert {(p["judge_a"], p["judge_b"]): p["raw_agreement"] for p in metrics["agreement"]["pairwise"]}[
        ("openai:b", "openai:c")
    ] == 1.0
    assert len(_lines(run / "judgments.jsonl")) == 3 * 18


def test_majority_ties_go_to_the_first_judge_with_a_verdict():
    assert majority([True, False]) is True
    assert majority([False, True]) is False
    assert majority([None, False, True]) is False
    assert majority([True, False, False]) is False
    assert majority([None, None]) is None


def test_a_torn_last_line_is_repaired_and_redone(tmp_path):
    run = tmp_path / "run"
    with ChatServer(Script(reply=judge_aware())) as server:
        assert _eval(server, run) == 0
        responses = run / "responses.jsonl"
        lines = responses.read_text().splitlines(keepends=True)
        responses.write_text("".join(lines[:-1]) + lines[-1][:25])  # a write cut off mid-line
        before = len(server.requests)
        assert _eval(server, run) == 0
        assert len(server.requests) - before == 1
    assert len(_lines(responses)) == 12


def test_a_second_process_cannot_write_to_a_run_in_use(tmp_path, capsys):
    run = tmp_path / "run"
    with ChatServer(Script(reply=judge_aware())) as server, RunDir(run).locked():
        assert _eval(server, run) == 2
    assert "another trustsim process" in capsys.readouterr().err


def test_limit_takes_subjects_in_turn_and_subjects_filter():
    instances = [{"id": f"{p}-{i:03d}", "dimension": d} for p, d in (("psy", "Psychology"), ("eco", "Economics"))
                 for i in range(3)]  # fmt: skip
    assert [r["id"] for r in select_instances(instances, limit=3)] == ["psy-000", "eco-000", "psy-001"]
    assert [r["id"] for r in select_instances(instances, subjects=["Eco."])] == ["eco-000", "eco-001", "eco-002"]
    assert resolve_subject("political science").name == "Political Science"
    with pytest.raises(ValueError, match="unknown subject 'maths'"):
        select_instances(instances, subjects=["maths"])


def _count_keys(path: Path, fields: tuple[str, ...]) -> Counter:
    return Counter(tuple(r[f] for f in fields) for r in _lines(path))


def test_kill_9_mid_run_loses_nothing_finished_and_the_rerun_completes(tmp_path):
    run = tmp_path / "run"
    with ChatServer(Script(reply=judge_aware(), latency=0.05)) as server:
        command = [
            sys.executable, "-m", "trustsim", "eval", "--model", "openai:subject", "--judge", "openai:judge",
            "--output", str(run), "--base-url", server.base_url, "--judge-base-url", server.base_url,
            "--limit", "40", "--concurrency", "4",
        ]  # fmt: skip
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        responses = run / "responses.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not responses.exists() or len(responses.read_bytes().splitlines()) < 20):
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        killed_with = len(responses.read_bytes().splitlines())
        assert 20 <= killed_with < 80, "the run was not killed mid-generation"
        assert subprocess.run(command, env=env, capture_output=True).returncode == 0
    answers = _count_keys(responses, ("id", "question_type"))
    judgments = _count_keys(run / "judgments.jsonl", ("id", "question_type", "judge", "template"))
    assert len(answers) == 80 and set(answers.values()) == {1}
    assert len(judgments) == 120 and set(judgments.values()) == {1}
    assert json.loads((run / "metrics.json").read_text())["n"] == 40


@pytest.mark.parametrize(("config", "split"), [("default", "test"), ("adaorpo", "train"), ("adaorpo", "test")])
def test_reading_the_folder_directly_gives_the_rows_load_dataset_gives(config, split):
    from trustsim.dataset import DEFAULT_DATASET_PATH, load_trustsim
    from trustsim.evaluation.instances import load_instances

    direct = sorted(json.dumps(r, sort_keys=True) for r in load_instances(DEFAULT_DATASET_PATH, config, split))
    loaded = sorted(json.dumps(dict(r), sort_keys=True) for r in load_trustsim(DEFAULT_DATASET_PATH, config, split))
    assert direct == loaded and len(direct) > 100


def test_the_same_model_name_on_two_servers_is_two_backends(tmp_path):
    with ChatServer(Script(reply=judge_aware())) as subject, ChatServer(Script(reply=judge_aware())) as judge:
        args = ["eval", "--model", "openai:same", "--judge", "openai:same", "--output", str(tmp_path / "run"),
                "--base-url", subject.base_url, "--judge-base-url", judge.base_url, "--limit", "2"]  # fmt: skip
        assert main(args) == 0
    assert (len(subject.requests), len(judge.requests)) == (4, 6)


def test_human_labels_give_each_judges_alignment(tmp_path, capsys):
    run = tmp_path / "run"
    with ChatServer(Script(reply=judge_aware())) as server:
        assert _eval(server, run) == 0
    answers = _lines(run / "responses.jsonl")
    labels = tmp_path / "labels.csv"
    # people agree with the judge ("Satisfied") on the self-report answers and disagree on the open-ended ones
    rows = [f"{r['id']},{r['question_type']},{'Satisfied' if r['question_type'] == 'self_report' else 'Not Satisfied'}"
            for r in answers]  # fmt: skip
    labels.write_text("id,question_type,label\n" + "\n".join(rows) + "\n")
    assert main(["score", str(run), "--human-labels", str(labels)]) == 0
    human = json.loads((run / "metrics.json").read_text())["agreement"]["human"]["openai:judge"]
    assert (human["n"], human["alignment_rate"]) == (12, 0.5)
    labels.write_text("id,question_type,label\npsy-001,self_report,maybe\n")
    assert main(["score", str(run), "--human-labels", str(labels)]) == 2
    err = capsys.readouterr().err
    assert "labels.csv:2" in err and "label" in err


def test_a_vllm_spec_without_vllm_says_how_to_get_it():
    try:
        import vllm  # noqa: F401
    except ImportError:
        from trustsim.backends import load_backend

        with pytest.raises(ImportError, match=r"pip install 'trustsim\[vllm\]'.*openai:<model> --base-url"):
            load_backend("vllm:Qwen/Qwen2.5-7B-Instruct")
    else:
        pytest.skip("vLLM is installed here")
