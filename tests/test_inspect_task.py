"""The inspect_ai task gives ``trustsim eval``'s numbers: both run against one scripted local chat server.

The server answers subject and judge prompts deterministically from their text: Yes and No, satisfied
and not, scores 1-5, first replies without a verdict (the format reminder fixes some, not all) and a
reply that only echoes the instructions. Two judges (inspect's ``grader`` role bound to two models)
exercise the majority, the tie going to the first, and the mean score.
"""

# ruff: noqa: E402 - the imports below need the optional inspect extra, checked first
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

inspect_ai = pytest.importorskip("inspect_ai")

from inspect_ai import eval as inspect_eval

from trustsim.cli import main
from trustsim.dataset import DEFAULT_DATASET_PATH
from trustsim.evaluation.config import EvalConfig
from trustsim.evaluation.instances import load_instances, select_instances
from trustsim.evaluation.run import run_eval
from trustsim.evaluation.score import score_run
from trustsim.evaluation.templates import FORMAT_REMINDER, SELF_REPORT_INSTRUCTION
from trustsim.integrations.inspect_log import inspect_log_to_run, log_metrics
from trustsim.integrations.inspect_task import METRIC_KEYS, RESPONSES_STORE_KEY, SCORER_NAME, trustsim_task
from trustsim.runs import RunDir
from trustsim.testing.chat_server import JUDGE_OPENING, ChatServer, Script

SUBJECTS = ("psy", "eco", "pol")
LIMIT = 6
JUDGES = ("judge-a", "judge-b")
SECRET = "sk-inspect-secret-do-not-write-0123456789"


def _digest(*parts: str) -> int:
    return int(hashlib.sha256("\0".join(parts).encode()).hexdigest(), 16)


def scripted(model: str, messages: list[dict[str, str]]) -> str:
    """Deterministic replies from the request's text alone, so both runs get the same ones."""
    first = messages[0]["content"]
    if not first.startswith(JUDGE_OPENING):  # the subject model, in the character's system prompt
        h = _digest(model, first, messages[-1]["content"])
        if SELF_REPORT_INSTRUCTION in messages[-1]["content"]:
            return "Yes, that is what I would do." if h % 2 else "No. I would not."
        return f"In my position I would weigh it carefully (reason {h % 97})."
    h = _digest(model, first)
    reminded = messages[-1]["content"] in FORMAT_REMINDER.values()
    if "rating score" in first:
        if h % 5 == 0 and not reminded:
            return "A fair attempt overall."  # no verdict: the reminder is sent
        if h % 7 == 0:
            return "I would say [[4.5]]"  # malformed, even after the reminder
        return f"The analysis first. [[{1 + h % 5}]]"
    if h % 4 == 0 and not reminded:
        return "Return '[[Satisfied]]' or '[[Not Satisfied]]', I was told."  # only the instructions echoed
    return "[[Satisfied]]" if h % 3 else "[[Not Satisfied]]"


def _selected_ids() -> list[str]:
    instances = load_instances(DEFAULT_DATASET_PATH, "default", "test")
    return [r["id"] for r in select_instances(instances, list(SUBJECTS), LIMIT)]


def _bodies(requests: list[dict]) -> Counter:
    return Counter(json.dumps(r["body"], sort_keys=True) for r in requests)


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """One server; the inspect task, then ``trustsim eval``, on the same instances with the same two judges."""
    root = tmp_path_factory.mktemp("inspect")
    with pytest.MonkeyPatch.context() as patch, ChatServer(Script(reply=scripted)) as server:
        patch.setenv("LOCAL_BASE_URL", server.base_url)
        patch.setenv("LOCAL_API_KEY", SECRET)
        patch.setenv("OPENAI_API_KEY", SECRET)
        [log] = inspect_eval(
            "trustsim/trustsim",
            model="openai-api/local/subject",
            model_roles={"grader": [f"openai-api/local/{j}" for j in JUDGES]},
            task_args={"subjects": ",".join(SUBJECTS), "limit": LIMIT},
            log_dir=str(root / "logs"),
            log_format="json",
            display="none",
        )
        inspect_requests = list(server.requests)
        config = EvalConfig(
            model="openai:subject",
            judges=[f"openai:{j}" for j in JUDGES],
            output=root / "trustsim-run",
            subjects=list(SUBJECTS),
            limit=LIMIT,
            backend_options={"base_url": server.base_url},
            cache=False,
        )
        metrics = run_eval(config, stages=("generate", "judge", "score"), echo=lambda *_: None)
        trustsim_requests = server.requests[len(inspect_requests) :]
    return {
        "log": log,
        "metrics": metrics,
        "run": RunDir(config.output),
        "inspect_requests": inspect_requests,
        "trustsim_requests": trustsim_requests,
        "root": root,
    }


def test_the_inspect_task_gives_trustsim_evals_metrics_overall_and_per_subject(both):
    log, metrics = both["log"], both["metrics"]
    assert log.status == "success", log.error
    numbers = log_metrics(log)
    for key in METRIC_KEYS:
        assert numbers[key] == metrics[key], key
    assert numbers["per_dimension"].keys() == metrics["per_dimension"].keys() == {
        "Psychology", "Economics", "Political Science"
    }  # fmt: skip
    for dimension, expected in metrics["per_dimension"].items():
        for key in METRIC_KEYS:
            assert numbers["per_dimension"][dimension].get(key) == expected[key], (dimension, key)
    # the script really exercised what it is meant to: verdicts both ways, re-asks, unparsable grades
    assert 0 < metrics["self_report_satisfaction_rate"] < 1 and 0 < metrics["open_ended_satisfaction_rate"] < 1
    assert numbers["unparsable_verdicts"] == metrics["unparsable_verdicts"] > 0
    judgments = both["run"].read("judgments.jsonl")
    assert any(j["attempts"] == 2 and j["parsed"] for j in judgments)  # a reminder that fixed the format
    assert len({j["score"] for j in judgments} - {None}) >= 3


def test_sample_ids_are_what_limit_and_subjects_select_and_the_wire_traffic_is_identical(both):
    log = both["log"]
    assert sorted(s.id for s in log.samples) == sorted(_selected_ids())
    task = trustsim_task(subjects="psy,eco,pol", limit=LIMIT)
    assert [s.id for s in task.dataset] == _selected_ids()  # the same order: inspect's own --limit agrees
    inspect_requests, trustsim_requests = both["inspect_requests"], both["trustsim_requests"]
    assert len(inspect_requests) == len(trustsim_requests) > LIMIT * (2 + 2 * 3)  # with re-asks
    # every request, byte for byte: messages, model, max_tokens, temperature, top_p and seed
    assert _bodies(inspect_requests) == _bodies(trustsim_requests)


def test_the_log_keeps_every_record_and_no_key(both):
    log, run = both["log"], both["run"]
    sample = log.samples[0]
    assert [r["question_type"] for r in sample.store[RESPONSES_STORE_KEY]] == ["self_report", "open_ended"]
    judgments = sample.scores[SCORER_NAME].metadata["judgments"]
    assert {j["judge"] for j in judgments} == {f"openai-api/local/{j}" for j in JUDGES}

    def strip(record: dict, field: str) -> str:
        return json.dumps({**record, field: record[field].split("/")[-1].split(":")[-1]}, sort_keys=True)

    inspect_answers = {strip(r, "model") for s in log.samples for r in s.store[RESPONSES_STORE_KEY]}
    assert inspect_answers == {strip(r, "model") for r in run.read("responses.jsonl")}
    inspect_grades = {strip(j, "judge") for s in log.samples for j in s.scores[SCORER_NAME].metadata["judgments"]}
    trustsim_grades = [json.loads(line) for line in run.file("judgments.jsonl").read_text().splitlines()]
    assert inspect_grades == {strip(j, "judge") for j in trustsim_grades}  # first replies and re-asks alike
    for path in Path(log.location).parent.rglob("*"):
        assert SECRET.encode() not in path.read_bytes(), path


def test_the_converted_log_scores_like_the_trustsim_run(both, capsys):
    imported = both["root"] / "imported"
    assert main(["import-inspect", both["log"].location, "--output", str(imported)]) == 0
    assert "6 instances, 12 answers" in capsys.readouterr().out
    assert main(["score", str(imported)]) == 0
    converted = json.loads((imported / "metrics.json").read_text())
    expected = json.loads(both["run"].file("metrics.json").read_text())
    names = {f"openai-api/local/{j}": f"openai:{j}" for j in JUDGES}
    text = json.dumps(converted)
    for inspect_name, trustsim_name in names.items():
        text = text.replace(inspect_name, trustsim_name)
    renamed = json.loads(text)
    for metrics in (renamed, expected):
        metrics.pop("inputs_fingerprint")
    assert renamed == expected  # every number, per judge and agreement included
    manifest = json.loads((imported / "run.json").read_text())
    assert manifest["judging"]["judges"] == list(names)  # in the grader role's order: ties go to the first
    assert manifest["generation"]["sampling"] == json.loads(both["run"].file("run.json").read_text())[
        "generation"]["sampling"]  # fmt: skip
    assert manifest["dataset"]["fingerprint"] == json.loads(both["run"].file("run.json").read_text())[
        "dataset"]["fingerprint"]  # fmt: skip
    assert main(["report", str(imported), "--output", str(both["root"] / "report")]) == 0
    assert (both["root"] / "report" / "report.md").is_file()


def test_import_refuses_a_used_folder_a_broken_log_and_another_tasks_log(both, tmp_path, capsys):
    assert main(["import-inspect", both["log"].location, "--output", str(both["run"].path)]) == 2
    assert "already holds responses.jsonl" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": 2, "status": ')
    assert main(["import-inspect", str(broken), "--output", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a readable inspect log" in err and str(broken) in err and len(err.splitlines()) == 1
    assert main(["import-inspect", str(tmp_path / "missing.eval"), "--output", str(tmp_path / "y")]) == 2
    assert "no such inspect log" in capsys.readouterr().err
    from inspect_ai import Task
    from inspect_ai.dataset import Sample

    [other] = inspect_eval(Task(dataset=[Sample(input="hi", target="x")]), model="mockllm/model",
                           log_dir=str(tmp_path / "logs"), display="none")  # fmt: skip
    assert main(["import-inspect", other.location, "--output", str(tmp_path / "z")]) == 2
    assert "only TRUSTSIM logs convert" in capsys.readouterr().err
    assert not (tmp_path / "z").exists() and not (tmp_path / "x").exists()


def test_pairs_from_converted_logs_are_the_pairs_of_trustsim_runs(tmp_path, monkeypatch):
    """Algorithm 1 on two imported inspect logs (self-report answers scored too) and on two ``trustsim eval`` runs."""
    from datasets import load_from_disk

    models = ("subject-a", "subject-b")
    with ChatServer(Script(reply=scripted)) as server:
        monkeypatch.setenv("LOCAL_BASE_URL", server.base_url)
        monkeypatch.setenv("LOCAL_API_KEY", SECRET)
        for model in models:
            [log] = inspect_eval("trustsim/trustsim", model=f"openai-api/local/{model}", log_dir=str(tmp_path / "logs"),
                                 model_roles={"grader": "openai-api/local/judge-a"}, display="none",
                                 task_args={"limit": 8, "score_self_report": True})  # fmt: skip
            assert main(["import-inspect", log.location, "--output", str(tmp_path / f"inspect-{model}")]) == 0
            config = EvalConfig(model=f"openai:{model}", judges=["openai:judge-a"], limit=8, score_self_report=True,
                                output=tmp_path / f"trustsim-{model}", backend_options={"base_url": server.base_url},
                                cache=False)  # fmt: skip
            run_eval(config, stages=("generate", "judge"), echo=lambda *_: None)
    found = {}
    for source in ("inspect", "trustsim"):
        runs = [str(tmp_path / f"{source}-{model}") for model in models]
        output = tmp_path / f"pairs-{source}"
        assert main(["pairs", "--runs", *runs, "--target", runs[0], "--output", str(output), "--split", "all"]) == 0
        found[source] = [{**row, "chosen_model": row["chosen_model"].split("/")[-1].split(":")[-1]}
                         for row in load_from_disk(str(output))]  # fmt: skip
    assert found["inspect"] == found["trustsim"] and len(found["inspect"]) > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"subjects": "psy,maths"}, "unknown subject 'maths'"),
        ({"subjects": " , "}, "names no subject"),
        ({"limit": 0}, "-T limit must be at least 1, not 0"),
        ({"limit": -3}, "-T limit must be at least 1, not -3"),
        ({"limit": "ten"}, "whole number of instances, not 'ten'"),
    ],
)
def test_bad_task_arguments_are_refused_naming_the_value(args, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        inspect_eval("trustsim/trustsim", model="mockllm/model", task_args=args, display="none", log_dir=str(tmp_path))
    assert not list(tmp_path.iterdir())  # refused before anything ran


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_no_grader_or_an_unreachable_one_fails_with_a_clear_line(tmp_path, monkeypatch):
    with ChatServer(Script(reply=scripted)) as server:
        monkeypatch.setenv("LOCAL_BASE_URL", server.base_url)
        monkeypatch.setenv("LOCAL_API_KEY", SECRET)
        monkeypatch.setenv("DEAD_BASE_URL", f"http://127.0.0.1:{_closed_port()}/v1")
        monkeypatch.setenv("DEAD_API_KEY", SECRET)
        [log] = inspect_eval("trustsim/trustsim", model="openai-api/local/subject", task_args={"limit": 2},
                             log_dir=str(tmp_path), display="none")  # fmt: skip
        assert log.status == "error" and "--model-role grader=<model>" in log.error.message
        assert server.requests == []  # refused before any answer was generated
        [log] = inspect_eval("trustsim/trustsim", model="openai-api/local/subject", task_args={"limit": 1},
                             model_roles={"grader": "openai-api/dead/judge"}, max_retries=0, timeout=2,
                             log_dir=str(tmp_path), display="none")  # fmt: skip
    assert log.status == "error"
    message = log.error.message
    assert "grader openai-api/dead/judge (http://127.0.0.1:" in message and "gave no reply to psy-001" in message
    assert SECRET not in message
    # converted, the sample that failed is counted as left out, never dropped
    imported = inspect_log_to_run(log.location, tmp_path / "failed")
    assert (imported.samples, imported.responses, imported.judgments, imported.failed_samples) == (1, 2, 0, 1)
    failures = imported.run.read("failures.jsonl")
    assert {(f["stage"], f["question_type"], f["template"]) for f in failures} == {
        ("judge", "self_report", "binary"), ("judge", "open_ended", "binary"), ("judge", "open_ended", "score")
    }  # fmt: skip
    assert all("gave no reply" in f["error"] and f["spec"] == "openai-api/dead/judge" for f in failures)
    metrics = score_run(imported.run)
    assert metrics["failed_requests"] == 3 and metrics["self_report_satisfaction_rate"] is None


def test_the_inspect_command_finds_the_task_through_the_entry_point(tmp_path):
    """The README's command, run from a folder outside the repository: the package's entry point finds it."""
    from importlib.metadata import entry_points

    [point] = [ep for ep in entry_points(group="inspect_ai") if ep.name == "trustsim"]
    assert point.value == "trustsim.integrations._registry"
    with ChatServer(Script(reply=scripted)) as server:
        env = {**os.environ, "LOCAL_BASE_URL": server.base_url, "LOCAL_API_KEY": SECRET}
        command = [
            sys.executable, "-m", "inspect_ai", "eval", "trustsim/trustsim", "--model", "openai-api/local/subject",
            "--model-role", "grader=openai-api/local/judge-a", "-T", "subjects=eco,pol", "-T", "limit=3",
            "--log-dir", str(tmp_path / "logs"), "--display", "none",
        ]  # fmt: skip
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert len(server.requests) == 3 * (2 + 3) + sum(
            1 for r in server.requests if r["body"]["messages"][-1]["content"] in FORMAT_REMINDER.values()
        )
    [path] = (tmp_path / "logs").glob("*.eval")
    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(path))
    assert log.status == "success" and sorted(s.id for s in log.samples) == sorted(
        r["id"] for r in select_instances(load_instances(DEFAULT_DATASET_PATH), ["eco", "pol"], 3)
    )
