"""Runs that cost less (issue 15): the request cache, --dry-run, pipelined stages, a cheap finished re-run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trustsim.cli import main
from trustsim.runs import RunDir
from trustsim.testing.chat_server import JUDGE_OPENING, ChatServer, Script, judge_aware


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("TRUSTSIM_CACHE", str(folder))
    return folder


def _judged(server: ChatServer) -> int:
    return sum(r["body"]["messages"][0]["content"].startswith(JUDGE_OPENING) for r in server.requests)


def _eval(server: ChatServer, run: Path, *extra: str) -> int:
    return main(["eval", "--model", "openai:subject", "--judge", "openai:judge", "--base-url", server.base_url,
                 "--limit", "4", "--output", str(run), *extra])  # fmt: skip


def _grades(run: Path) -> dict:
    return {k: (r["verdict"], r["score"], r["raw"]) for k, r in RunDir(run).records("judgments.jsonl").items()}


def test_rejudging_the_same_answers_in_a_new_folder_sends_no_judge_request(tmp_path: Path, private_cache: Path):
    first, second = tmp_path / "first", tmp_path / "second"
    with ChatServer(Script(reply=judge_aware())) as server:
        assert _eval(server, first) == 0
        judged = _judged(server)
        assert judged == 12
        second.mkdir()
        (second / "responses.jsonl").write_bytes((first / "responses.jsonl").read_bytes())  # the same answers
        assert main(["judge", "--judge", "openai:judge", "--judge-base-url", server.base_url, "--output", str(second),
                     "--limit", "4"]) == 0  # fmt: skip
        assert _judged(server) == judged  # nothing new was sent
    assert _grades(second) == _grades(first)
    records = RunDir(second).read("judgments.jsonl")
    assert all(r["cached"] and r["requests"] == 0 for r in records)
    usage = json.loads((second / "run.json").read_text())["usage"]["judges"]["openai:judge"]
    assert usage["cache_hits"] == 12 and usage["requests"] == 0
    assert any(private_cache.rglob("*.json"))


def test_no_cache_sends_every_request_and_sampled_answers_are_never_cached(tmp_path: Path):
    with ChatServer(Script(reply=judge_aware())) as server:
        assert _eval(server, tmp_path / "a") == 0
        before = len(server.requests)
        assert _eval(server, tmp_path / "b") == 0  # new folder: answers (temperature 0.7) sent again, judges cached
        assert len(server.requests) - before == 8
        before = len(server.requests)
        assert _eval(server, tmp_path / "c", "--no-cache") == 0
        assert len(server.requests) - before == 8 + 12


def test_a_broken_cache_entry_is_a_miss_not_a_failure(tmp_path: Path, private_cache: Path):
    with ChatServer(Script(reply=judge_aware())) as server:
        assert _eval(server, tmp_path / "a") == 0
        for entry in private_cache.rglob("*.json"):
            entry.write_text('{"text": ')  # a torn entry (a crash mid-write would leave none, but a disk can)
        before = _judged(server)
        assert _eval(server, tmp_path / "b") == 0
        assert _judged(server) - before == 12


def test_a_dry_run_counts_what_the_run_then_sends_and_writes_nothing(tmp_path: Path, private_cache: Path, capsys):
    run = tmp_path / "run"
    with ChatServer(Script(reply=judge_aware())) as server:
        assert _eval(server, run, "--dry-run") == 0
        out = capsys.readouterr().out.strip().splitlines()
        assert not run.exists() and not private_cache.exists() and not server.requests
        assert out[-1].startswith("20 requests would be sent") and "estimated" in out[-1]
        assert _eval(server, run) == 0
        assert len(server.requests) == 20
        # Resumed and cached: a second dry run on the finished run says nothing is left.
        assert _eval(server, run, "--dry-run") == 0
        assert capsys.readouterr().out.strip().splitlines()[-1].startswith("0 requests would be sent")
        # A new judge on the same answers; the first judge's requests would come from the cache.
        assert main(["judge", "--judge", "openai:judge", "--judge", "openai:other", "--judge-base-url", server.base_url,
                     "--output", str(tmp_path / "copy"), "--limit", "4", "--dry-run"]) == 0  # fmt: skip
        assert capsys.readouterr().out.strip().splitlines()[-1].startswith("0 requests")  # no answers there yet


def test_a_dry_run_counts_a_local_models_tokens_with_its_own_tokenizer(tmp_path: Path, capsys):
    from trustsim.testing.tiny_lm import build_tiny_lm

    model = build_tiny_lm(tmp_path / "tiny")
    run = tmp_path / "run"
    argv = ["generate", "--model", f"hf:{model}", "--limit", "2", "--output", str(run), "--max-new-tokens", "4",
            "--device", "cpu"]  # fmt: skip
    assert main([*argv, "--dry-run"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[0]
    assert "estimated" not in line
    counted = int(line.split("about ")[1].split(" prompt")[0].replace(",", ""))
    assert main(argv) == 0
    assert counted == sum(r["prompt_tokens"] for r in RunDir(run).read("responses.jsonl"))


def test_pipelined_stages_overlap_and_write_the_same_records(tmp_path: Path):
    pipelined, sequential = tmp_path / "pipelined", tmp_path / "sequential"
    with ChatServer(Script(reply=judge_aware(), latency=0.05)) as server:
        assert _eval(server, pipelined, "--no-cache", "--concurrency", "2") == 0
        order = [r["body"]["messages"][0]["content"].startswith(JUDGE_OPENING) for r in server.requests]
    first_judged = order.index(True)
    last_answer = len(order) - 1 - order[::-1].index(False)
    assert first_judged < last_answer  # judging began before the last answer was asked for
    with ChatServer(Script(reply=judge_aware())) as server:
        assert main(["generate", "--model", "openai:subject", "--base-url", server.base_url, "--limit", "4",
                     "--output", str(sequential)]) == 0  # fmt: skip
        assert main(["judge", "--judge", "openai:judge", "--judge-base-url", server.base_url, "--limit", "4",
                     "--output", str(sequential), "--no-cache"]) == 0  # fmt: skip
    assert set(RunDir(pipelined).records("judgments.jsonl")) == set(RunDir(sequential).records("judgments.jsonl"))
    keys = [set(json.loads(line)) for line in (pipelined / "judgments.jsonl").read_text().splitlines()]
    assert keys[0] == set(json.loads((sequential / "judgments.jsonl").read_text().splitlines()[0]))


def test_a_finished_rerun_reuses_its_report_and_a_changed_one_is_scored_afresh(tmp_path: Path):
    run = tmp_path / "run"
    assert main(["eval", "--model", "mock:m", "--judge", "mock:j", "--limit", "3", "--output", str(run)]) == 0
    code = (
        "import sys; from trustsim.cli import main; "
        f"code = main(['eval', '--model', 'mock:m', '--judge', 'mock:j', '--limit', '3', '--output', {str(run)!r}]); "
        "print('evaluate' in sys.modules, code)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False 0" and "(up to date)" in out
    judgments = (run / "judgments.jsonl").read_text()
    (run / "judgments.jsonl").write_text(judgments.replace('"verdict": true', '"verdict": false', 1))
    before = json.loads((run / "metrics.json").read_text())["inputs_fingerprint"]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "(up to date)" not in out  # a changed record is scored afresh
    assert json.loads((run / "metrics.json").read_text())["inputs_fingerprint"] != before
