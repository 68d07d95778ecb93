"""Attacks a hostile user or server can mount, and what TrustSim must do about each (issue 13).

1. Nothing already written is lost (broken dataset copies, full disks, torn run files, the re-ask pass).
2. A hostile or broken server never aborts the run and never becomes a verdict.
3. The user learns at once what is wrong (closed ports, unknown models, malformed files, live runs).
4. Secrets never land in a file, a log or a message.
"""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

import pytest

from trustsim.cli import main
from trustsim.records import write_atomic
from trustsim.runs import RunDir
from trustsim.testing.chat_server import JUDGE_OPENING, ChatServer, Script, judge_aware

KEY = "sk-hostile-test-key-0123456789abcdef"


def _eval(server: ChatServer, run: Path, *extra: str) -> int:
    return main(["eval", "--model", "openai:subject", "--judge", "openai:judge", "--base-url", server.base_url,
                 "--limit", "3", "--output", str(run), "--max-retries", "0", *extra])  # fmt: skip


def _instance_line(dataset: Path, index: int = 0) -> dict:
    return json.loads((dataset / "data/train/psychology.jsonl").read_text().splitlines()[index])


def _errors(text: str) -> list[str]:
    """The lines of stderr that are not progress bars."""
    bars = ("it/s]", "req/s]", "%|")
    return [line for line in text.splitlines() if line.strip() and not any(bar in line for bar in bars)]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# 1. Nothing already written is ever lost ---------------------------------------------------------------------


def _new_instance(dataset: Path, **changes: str) -> dict:
    row = {**_instance_line(dataset), "id": "psy-901", **changes}
    return row


def test_a_lone_surrogate_in_a_new_row_is_refused_and_nothing_is_written(dataset_copy: Path, tmp_path: Path, capsys):
    before = _snapshot(dataset_copy)
    new = tmp_path / "new.jsonl"
    new.write_text(json.dumps(_new_instance(dataset_copy, scenario="An LLM is simulating \ud800 a ghost.")) + "\n")
    assert main(["add-instances", str(new), "--dataset", str(dataset_copy)]) == 1
    assert "field 'scenario'" in capsys.readouterr().err
    assert _snapshot(dataset_copy) == before


def test_a_full_disk_while_adding_leaves_every_data_file_whole(dataset_copy: Path, tmp_path: Path, monkeypatch, capsys):
    before = _snapshot(dataset_copy)
    new = tmp_path / "new.jsonl"
    new.write_text(json.dumps(_new_instance(dataset_copy)) + "\n")
    real_replace, calls = os.replace, []

    def full_disk(source, target):
        calls.append(target)
        if len(calls) == 2:  # the second file of the rewrite hits a full disk
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", full_disk)
    assert main(["add-instances", str(new), "--dataset", str(dataset_copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert "No space left on device" in err and len(err.splitlines()) == 1 and "Traceback" not in err
    monkeypatch.setattr(os, "replace", real_replace)
    after = _snapshot(dataset_copy)
    assert not [name for name in after if name.endswith(".tmp")]  # no temporary file left behind
    for name, data in after.items():  # each file is its old self or a whole new self, never torn
        assert data.endswith(b"\n") or not name.endswith(".jsonl")
        if name.endswith(".jsonl"):
            assert all(json.loads(line) for line in data.splitlines())
    assert sum(after[n].count(b"\n") for n in after if n.endswith(".jsonl")) >= sum(
        before[n].count(b"\n") for n in before if n.endswith(".jsonl")
    )


@pytest.mark.parametrize("damage", ["missing", "cut inside its YAML"])
def test_a_missing_or_broken_card_is_refused_before_anything_is_written(
    dataset_copy: Path, tmp_path: Path, damage: str, capsys
):
    card = dataset_copy / "README.md"
    if damage == "missing":
        card.unlink()
    else:
        card.write_text(card.read_text()[:300])
    before = _snapshot(dataset_copy)
    new = tmp_path / "new.jsonl"
    new.write_text(json.dumps(_new_instance(dataset_copy)) + "\n")
    assert main(["add-instances", str(new), "--dataset", str(dataset_copy)]) == 1
    err = capsys.readouterr().err
    assert "README.md" in err and "restore it" in err
    assert _snapshot(dataset_copy) == before
    assert main(["validate-dataset", str(dataset_copy), "--no-near-duplicates"]) == 1  # load_dataset would lie


@pytest.mark.parametrize("loss", ["emptied", "deleted"])
def test_a_data_file_that_lost_rows_is_named_never_taken_as_the_new_truth(
    dataset_copy: Path, tmp_path: Path, loss: str, capsys
):
    lost = dataset_copy / "data/train/psychology.jsonl"
    lost.write_text("") if loss == "emptied" else lost.unlink()
    before = _snapshot(dataset_copy)
    new = tmp_path / "new.jsonl"
    new.write_text(json.dumps({**json.loads((dataset_copy / "data/test/economics.jsonl").read_text().splitlines()[0]),
                               "id": "eco-901"}) + "\n")  # fmt: skip
    assert main(["add-instances", str(new), "--dataset", str(dataset_copy)]) == 1
    err = capsys.readouterr().err
    assert "data/train/psychology.jsonl: holds 0 instance(s) but the card recorded 37" in err
    assert err.count("rows were lost") == 1
    assert _snapshot(dataset_copy) == before  # the card still records the loss
    assert main(["dataset-stats", str(dataset_copy)]) == 1
    assert main(["validate-dataset", str(dataset_copy), "--no-near-duplicates"]) == 1
    err = capsys.readouterr().err
    problems = [line for line in err.splitlines() if "psychology.jsonl" in line]
    assert len(problems) == 2 and "rows were lost" in problems[-1]  # named once, not as 18 misplacements


def test_a_torn_judgments_tail_does_not_block_the_resume(tmp_path: Path):
    run = tmp_path / "run"
    with ChatServer(Script(reply=judge_aware())) as server:
        assert _eval(server, run) == 0
        with open(run / "judgments.jsonl", "ab") as handle:
            handle.write(b'{"id": "psy-001", "question_type": "op')  # a crash mid-write
        assert _eval(server, run) == 0
    assert all(json.loads(line) for line in (run / "judgments.jsonl").read_text().splitlines())


def test_a_reply_is_written_the_moment_it_arrives_and_the_reask_is_its_own_record(tmp_path: Path):
    """A crash (here: the reminders failing) during the re-ask pass keeps every first reply already received."""

    def reply(model, messages):
        if not messages[0]["content"].startswith(JUDGE_OPENING):
            return "No."
        if len(messages) == 1:
            return "Let me think about it."
        return "[[4]]" if "rating score" in messages[0]["content"] else "[[Satisfied]]"

    script = Script(reply=reply, always={"Reply with only": 400})  # every reminder fails at first
    run = tmp_path / "run"
    with ChatServer(script) as server:
        assert _eval(server, run) == 3
        first = RunDir(run).read("judgments.jsonl")
        assert len(first) == 9 and all(j["attempts"] == 1 and j["raw"] == "Let me think about it." for j in first)
        usage = json.loads((run / "run.json").read_text())["usage"]["judges"]["openai:judge"]
        assert usage["requests"] == 9  # the nine first replies were sent and are counted
        script.always.clear()
        before = len(server.requests)
        assert _eval(server, run) == 0
        assert len(server.requests) - before == 9  # only the reminders still due
    final = RunDir(run).read("judgments.jsonl")
    assert all(j["attempts"] == 2 and j["parsed"] and j["first_raw"] == "Let me think about it." for j in final)
    usage = json.loads((run / "run.json").read_text())["usage"]["judges"]["openai:judge"]
    assert usage["requests"] == 18


def test_a_full_disk_while_writing_run_json_leaves_no_temporary_file(tmp_path: Path, monkeypatch):
    target = tmp_path / "run.json"
    target.write_text('{"old": true}')
    real_replace = os.replace

    def full(source, destination):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError, match=r"run\.json: cannot write \(No space left on device\)"):
        write_atomic(target, '{"new": true}')
    monkeypatch.setattr(os, "replace", real_replace)
    assert target.read_text() == '{"old": true}' and list(tmp_path.iterdir()) == [target]


def test_a_run_that_cannot_be_written_is_one_line_and_stays_resumable(tmp_path: Path, monkeypatch, capsys):
    run = tmp_path / "run"
    with ChatServer(Script(reply=judge_aware())) as server:
        assert _eval(server, run) == 0
        before = _snapshot(run)
        real_open = open

        def read_only(file, mode="r", *args, **kwargs):
            if any(c in mode for c in "wa+") and str(run) in str(file):
                raise OSError(errno.EROFS, "Read-only file system", str(file))
            return real_open(file, mode, *args, **kwargs)

        monkeypatch.setattr("builtins.open", read_only)
        assert _eval(server, run) == 2
        err = _errors(capsys.readouterr().err)
        assert len(err) == 1 and "Read-only file system" in err[0] and str(run) in err[0]
        monkeypatch.setattr("builtins.open", real_open)
        assert _snapshot(run) == before
        assert _eval(server, run) == 0


# 2. A hostile or broken server never aborts the run and never becomes a verdict ------------------------------

HOSTILE = {
    "not JSON": (200, "application/json", b"{this is not json"),
    "an HTML page": (200, "text/html", b"<html><body>502 Bad Gateway</body></html>"),
    "content a number": (200, "application/json", json.dumps({"choices": [{"message": {"content": 7}}]}).encode()),
    "content a list": (200, "application/json",
                       json.dumps({"choices": [{"message": {"content": ["a", "b"]}}]}).encode()),
    "no message": (200, "application/json", json.dumps({"choices": [{"index": 0}]}).encode()),
    "usage as strings": (200, "application/json", json.dumps(
        {"choices": [{"message": {"content": "Yes."}}], "usage": {"prompt_tokens": "abc"}}).encode()),
    "negative usage": (200, "application/json", json.dumps(
        {"choices": [{"message": {"content": "Yes."}}], "usage": {"completion_tokens": -5}}).encode()),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_reply_is_one_failed_request_and_the_run_goes_on(tmp_path: Path, kind: str):
    run = tmp_path / "run"
    # The first instance's self-report answer gets the hostile reply; everything else is normal.
    script = Script(reply=judge_aware(), raw={"Answer Yes or No first": HOSTILE[kind]})
    with ChatServer(script) as server:
        first = main(["generate", "--model", "openai:subject", "--base-url", server.base_url, "--limit", "2",
                      "--output", str(run), "--max-retries", "0"])  # fmt: skip
    assert first == 3
    failures = RunDir(run).read("failures.jsonl")
    assert len(failures) == 2 and all(f["question_type"] == "self_report" for f in failures)
    answers = RunDir(run).read("responses.jsonl")
    assert len(answers) == 2 and all(a["question_type"] == "open_ended" for a in answers)
    assert all(isinstance(a["prompt_tokens"], int) and a["prompt_tokens"] >= 0 for a in answers)
    script.raw.clear()  # the server is fixed: the next run asks again for what failed, and nothing breaks
    with ChatServer(script) as server:
        again = main(["generate", "--model", "openai:subject", "--base-url", server.base_url, "--limit", "2",
                      "--output", str(run), "--max-retries", "0"])  # fmt: skip
    assert again == 0 and len(RunDir(run).read("responses.jsonl")) == 4


def test_a_lone_surrogate_from_the_server_is_kept_as_valid_utf8(tmp_path: Path):
    body = b'{"choices": [{"message": {"content": "Yes. \\ud800 odd"}}]}'
    run = tmp_path / "run"
    with ChatServer(Script(raw={"Answer Yes or No first": (200, "application/json", body)})) as server:
        assert main(["generate", "--model", "openai:s", "--base-url", server.base_url, "--limit", "1",
                     "--output", str(run)]) == 0  # fmt: skip
    (run / "responses.jsonl").read_bytes().decode("utf-8")  # strict decoding: valid UTF-8
    answers = RunDir(run).read("responses.jsonl")
    assert any("\\ud800" in a["response"] for a in answers)


def test_the_timeout_is_a_deadline_even_for_a_trickling_server(tmp_path: Path):
    run = tmp_path / "run"
    with ChatServer(Script(reply=judge_aware(), trickle={"Answer Yes or No first": 0.05})) as server:
        start = time.monotonic()
        code = main(["generate", "--model", "openai:s", "--base-url", server.base_url, "--limit", "1",
                     "--output", str(run), "--timeout", "1", "--max-retries", "0"])  # fmt: skip
        elapsed = time.monotonic() - start
    assert code == 3 and elapsed < 6  # the trickled reply would take ~15 s
    assert "deadline" in RunDir(run).read("failures.jsonl")[0]["error"]


@pytest.mark.parametrize("value", ["0", "-1"])
def test_concurrency_below_one_is_refused(tmp_path: Path, value: str, capsys):
    assert main(["generate", "--model", "openai:s", "--base-url", "http://127.0.0.1:9/v1", "--limit", "1",
                 "--output", str(tmp_path / "r"), "--concurrency", value]) == 2  # fmt: skip
    assert "--concurrency must be at least 1" in capsys.readouterr().err


# 3. The user learns at once what is wrong ----------------------------------------------------------------------


def test_a_closed_port_fails_in_seconds_naming_the_url(tmp_path: Path, capsys):
    start = time.monotonic()
    url = "http://127.0.0.1:9/v1"
    assert main(["generate", "--model", "openai:s", "--base-url", url, "--output", str(tmp_path / "r")]) == 2
    assert time.monotonic() - start < 15
    err = capsys.readouterr().err
    assert url in err and "cannot reach" in err and "openai:s" in err


def test_an_unknown_model_is_named_with_what_the_server_lists(tmp_path: Path, capsys):
    with ChatServer(Script(models=["llama-3", "qwen-2"])) as server:
        assert main(["generate", "--model", "openai:gpt-9", "--base-url", server.base_url,
                     "--output", str(tmp_path / "r")]) == 2  # fmt: skip
        assert not server.requests  # nothing was sent
    err = capsys.readouterr().err
    assert "does not serve 'gpt-9'" in err and "llama-3, qwen-2" in err and server.base_url in err


def test_a_404_keeps_the_servers_own_message(tmp_path: Path):
    run = tmp_path / "run"
    body = json.dumps({"error": {"message": "model 'x' not found, try pulling it first"}}).encode()
    with ChatServer(Script(raw={"": (404, "application/json", body)})) as server:
        assert main(["generate", "--model", "openai:x", "--base-url", server.base_url, "--limit", "1",
                     "--output", str(run)]) == 3  # fmt: skip
    assert "try pulling it first" in RunDir(run).read("failures.jsonl")[0]["error"]


def test_judgments_by_a_judge_run_json_does_not_list_are_counted_and_named(tmp_path: Path, caplog):
    run = tmp_path / "run"
    with ChatServer(Script(reply=judge_aware())) as server:
        assert _eval(server, run) == 0
    manifest = json.loads((run / "run.json").read_text())
    manifest["judging"]["judges"] = ["openai:someone-else"]  # a run.json copied from another run
    (run / "run.json").write_text(json.dumps(manifest))
    assert main(["score", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["self_report_satisfaction_rate"] == 1.0  # not n/a: nothing was dropped
    assert "openai:judge" in metrics["judges"] and "openai:judge" in caplog.text


def test_score_during_a_live_eval_is_locked_out(tmp_path: Path, capsys):
    run = tmp_path / "run"
    with ChatServer(Script(reply=judge_aware())) as server:
        assert _eval(server, run) == 0
    with RunDir(run).locked():
        assert main(["score", str(run)]) == 2
    assert "another trustsim process" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("file", "line", "message"),
    [
        ("judgments.jsonl", {"question_type": "self_report", "judge": "j", "template": "binary"}, "field 'id' missing"),
        ("judgments.jsonl", {"id": "psy-001", "question_type": "self_report", "judge": "j", "template": "binary",
                             "verdict": "yes", "score": None, "raw": ""}, "field 'verdict' is 'yes'"),
        ("responses.jsonl", {"id": "psy-001", "question_type": "open_ended", "response": 5}, "field 'response'"),
        ("run.json", None, "expected a JSON object, got NoneType"),
        ("run.json", [1, 2], "expected a JSON object, got list"),
    ],
)
def test_a_malformed_record_is_one_line_naming_file_line_and_field(
    tmp_path: Path, file: str, line, message: str, capsys
):
    run = tmp_path / "run"
    with ChatServer(Script(reply=judge_aware())) as server:
        assert _eval(server, run) == 0
    path = run / file
    if file == "run.json":
        path.write_text(json.dumps(line))
    else:
        with open(path, "a") as handle:
            handle.write(json.dumps(line) + "\n")
    capsys.readouterr()
    assert main(["score", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and file in err and len(err.splitlines()) == 1 and "Traceback" not in err
    if file != "run.json":
        assert f"{file}:" in err  # file:line


@pytest.mark.parametrize("bad", [b"\xff\xfe broken bytes\n", b'{"id": "\\udc80"}\n'])
def test_validate_dataset_names_file_and_line_for_bad_text(dataset_copy: Path, bad: bytes, capsys):
    target = dataset_copy / "data/train/psychology.jsonl"
    data = target.read_bytes().splitlines(keepends=True)
    target.write_bytes(b"".join(data[:3]) + bad + b"".join(data[3:]))
    assert main(["validate-dataset", str(dataset_copy), "--no-near-duplicates"]) == 1
    assert f"{target}:4:" in capsys.readouterr().err


def test_the_default_dataset_is_found_from_the_package_wherever_the_user_stands(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no trustsim_dataset here
    run = tmp_path / "run"
    with ChatServer(Script(reply=judge_aware())) as server:
        assert _eval(server, run) == 0
    recorded = json.loads((run / "run.json").read_text())["dataset"]
    assert Path(recorded["path"]).name == "trustsim_dataset" and Path(recorded["path"]).is_absolute()
    assert len(recorded["fingerprint"]) == 16


def test_a_local_model_path_gets_a_short_name_and_name_overrides_it(tmp_path: Path):
    local = tmp_path / "models" / "gemma-3-270m-q4_k_m.gguf"
    local.parent.mkdir()
    local.write_text("")
    from trustsim.backends import display_name

    assert display_name(f"hf:{local}") == "hf:gemma-3-270m-q4_k_m"
    assert display_name("openai:gpt-4o") == "openai:gpt-4o"
    assert display_name("hf:Qwen/Qwen2.5-7B") == "hf:Qwen/Qwen2.5-7B"
    run = tmp_path / "run"
    assert main(["eval", "--model", "mock:m", "--judge", "mock:j", "--limit", "2", "--name", "My model",
                 "--output", str(run)]) == 0  # fmt: skip
    assert "| My model |" in (run / "report.md").read_text()
    assert json.loads((run / "run.json").read_text())["generation"]["model"] == "mock:m"


# 4. Secrets never land anywhere ---------------------------------------------------------------------------------


def test_a_key_the_server_echoes_never_reaches_a_file(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    run = tmp_path / "run"
    with ChatServer(Script(reply=judge_aware(), echo_key=("Answer Yes or No first",))) as server:
        assert _eval(server, run) == 3
        assert server.requests[0]["authorization"] == f"Bearer {KEY}"  # it was sent, so it could be echoed
    written = b"".join(p.read_bytes() for p in run.rglob("*") if p.is_file())
    assert KEY.encode() not in written and b"<redacted>" in written
    out = capsys.readouterr()
    assert KEY not in out.out + out.err


def test_credentials_in_a_base_url_stay_out_of_run_json(tmp_path: Path):
    run = tmp_path / "run"
    with ChatServer(Script(reply=judge_aware())) as server:
        url = server.base_url.replace("http://", "http://user:s3cret-password@")
        assert main(["eval", "--model", "openai:s", "--judge", "openai:j", "--base-url", url, "--limit", "1",
                     "--output", str(run)]) == 0  # fmt: skip
    written = b"".join(p.read_bytes() for p in run.rglob("*") if p.is_file())
    assert b"s3cret-password" not in written and b"user:" not in written


def test_a_push_offline_or_with_a_bad_token_is_one_clear_line(monkeypatch, capsys, dataset_copy: Path):
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError

    token = "hf_SECRETsecretSECRETsecret0123456789"
    monkeypatch.setenv("HF_TOKEN", token)

    http = pytest.importorskip("httpx2", reason="huggingface_hub's HTTP client")  # huggingface_hub 2.x
    reply = http.Response(401, request=http.Request("POST", "https://huggingface.co/api/repos/create"))

    def refuse(*args, **kwargs):
        raise HfHubHTTPError(f"401 Unauthorized: invalid token {token}", response=reply)

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", refuse)
    assert main(["push-dataset", "someone/trustsim", "--path", str(dataset_copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and token not in err and "refused the token" in err

    from huggingface_hub.errors import OfflineModeIsEnabled

    def offline(*args, **kwargs):
        raise OfflineModeIsEnabled("Cannot reach https://huggingface.co: offline mode is enabled.")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", offline)
    assert main(["push-dataset", "someone/trustsim", "--path", str(dataset_copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "offline mode" in err and "Traceback" not in err
