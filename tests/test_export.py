"""`trustsim export-run` and `trustsim push-run`: a run as a no-code Hub dataset, checked against its files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datasets
import huggingface_hub
import pytest
from huggingface_hub.errors import RemoteEntryNotFoundError

from trustsim.cli import main
from trustsim.evaluation.export import CARD_MARK, COLUMNS
from trustsim.paths import REPO_ROOT

FAKE_KEY = "sk-fake-export-key-0123456789abcdef"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _load(folder: Path, config: str) -> datasets.Dataset:
    return datasets.load_dataset(str(folder), config, split="test")


def _data_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.parquet"))


@pytest.fixture
def hostile_run(mock_run: Path, tmp_path: Path, monkeypatch) -> Path:
    """The mock run made private-looking: a local model path, a key in a base URL, failures with paths."""
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    manifest = json.loads((mock_run / "run.json").read_text())
    model_dir = tmp_path / "models" / "tiny-model"
    model_dir.mkdir(parents=True)
    manifest["generation"]["model"] = f"hf:{model_dir}"
    manifest["generation"]["backend"] = {"spec": f"hf:{model_dir}", "base_url": f"http://me:{FAKE_KEY}@gpu:8000/v1"}
    (mock_run / "run.json").write_text(json.dumps(manifest))
    responses = _lines(mock_run / "responses.jsonl")
    judgments = _lines(mock_run / "judgments.jsonl")
    # psy-001's open-ended answer failed to generate (its judgments go with it) ...
    responses = [r for r in responses if (r["id"], r["question_type"]) != ("psy-001", "open_ended")]
    judgments = [j for j in judgments if (j["id"], j["question_type"]) != ("psy-001", "open_ended")]
    # ... one score judgment failed, and one judge echoed the key in its raw text.
    judgments = [
        j for j in judgments if (j["id"], j["question_type"], j["judge"], j["template"])
        != ("eco-001", "open_ended", "mock:judge-b", "score")
    ]  # fmt: skip
    judgments[0]["raw"] = f"my key is {FAKE_KEY} [[Satisfied]]"
    _write(mock_run / "responses.jsonl", responses)
    _write(mock_run / "judgments.jsonl", judgments)
    error = f"HTTP 500 from http://me:{FAKE_KEY}@gpu:8000/v1: {model_dir}/config.json unreadable"
    _write(
        mock_run / "failures.jsonl",
        [
            {"stage": "generate", "id": "psy-001", "question_type": "open_ended", "spec": f"hf:{model_dir}",
             "template": None, "error": error},
            {"stage": "judge", "id": "eco-001", "question_type": "open_ended", "spec": "mock:judge-b",
             "template": "score", "error": "timed out after 120 s"},
        ],
    )  # fmt: skip
    return mock_run


def test_an_exported_run_loads_and_matches_the_run_files(hostile_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "export"
    assert main(["export-run", str(hostile_run), "--output", str(out)]) == 0
    assert "config 'mock-run'" in capsys.readouterr().out
    data = _load(out, "mock-run")
    assert data.column_names == list(COLUMNS)
    responses = _lines(hostile_run / "responses.jsonl")
    failed = {(f["id"], f["question_type"]) for f in _lines(hostile_run / "failures.jsonl") if f["stage"] == "generate"}
    items = {(r["id"], r["question_type"]) for r in responses} | failed
    assert len(data) == len(items) == 12  # 6 instances x 2 answers: 11 answered, 1 failed
    assert {(row["id"], row["question_type"]) for row in data} == items

    # Each row's judgments are exactly the records of judgments.jsonl for that answer.
    by_item: dict[tuple, list] = {}
    for record in _lines(hostile_run / "judgments.jsonl"):
        by_item.setdefault((record["id"], record["question_type"]), []).append(record)
    metrics = json.loads((hostile_run / "metrics.json").read_text())
    for row in data:
        item = (row["id"], row["question_type"])
        expected = {(j["judge"], j["template"], j["verdict"], j["score"]) for j in by_item.get(item, [])}
        got = {(j["judge"], j["template"], j["verdict"], j["score"]) for j in row["judgments"]}
        assert got == expected, item
        binary = [j["verdict"] for j in by_item.get(item, []) if j["template"] == "binary"]
        if binary and len(set(binary)) == 1:  # both judges agree: the aggregate is that verdict
            assert row["verdict"] is binary[0]
    failed_row = next(r for r in data if (r["id"], r["question_type"]) == ("psy-001", "open_ended"))
    assert failed_row["response"] is None and failed_row["judgments"] == []
    assert failed_row["failure"].startswith("generate: HTTP 500") and "config.json unreadable" in failed_row["failure"]
    judged = next(r for r in data if (r["id"], r["question_type"]) == ("eco-001", "open_ended"))
    assert judged["failure"] == "judge mock:judge-b score: timed out after 120 s"
    assert {r["model"] for r in data} == {"hf:tiny-model"}
    assert metrics["n"] == 6

    # The card: the config, run.json's settings and metrics.json's numbers.
    card = (out / "README.md").read_text()
    [data_file] = _data_files(out)
    assert CARD_MARK in card and "config_name: mock-run" in card and f"path: {data_file}" in card
    assert data_file.startswith("data/mock-run/test-")
    assert "| Model | `hf:tiny-model` |" in card and "| Judges | `mock:judge-a`, `mock:judge-b` |" in card
    assert f"| Instances (n) | {metrics['n']} |" in card
    assert f"| Self-report satisfaction rate (%) | {100 * metrics['self_report_satisfaction_rate']:.1f} [" in card
    assert "license: cc-by-4.0" in card and "task_categories:" in card

    # No secret and no path of this machine in any exported file.
    for path in out.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            for private in (FAKE_KEY, str(tmp_path), str(REPO_ROOT)):
                assert private.encode() not in blob, (path, private)
    raws = [j["raw"] for row in data for j in row["judgments"]]
    assert "my key is <redacted> [[Satisfied]]" in raws


def test_two_runs_are_two_configs_and_a_re_export_replaces_only_its_own(mock_run: Path, tmp_path: Path) -> None:
    other = tmp_path / "runs" / "other-run"
    shutil.copytree(mock_run, other)
    out = tmp_path / "export"
    assert main(["export-run", str(mock_run), "--output", str(out)]) == 0
    assert main(["export-run", str(other), "--output", str(out), "--name", "second run"]) == 0
    card = (out / "README.md").read_text()
    assert card.count("config_name:") == 2 and "config_name: second-run" in card
    assert len(_load(out, "mock-run")) == len(_load(out, "second-run")) == 12

    # Re-export the first run with fewer answers: its config shrinks, the other is untouched.
    responses = _lines(mock_run / "responses.jsonl")
    kept = [r for r in responses if r["id"] != "psy-001"]
    _write(mock_run / "responses.jsonl", kept)
    [first_file, second_file] = _data_files(out)
    before = (out / second_file).read_bytes()
    assert main(["export-run", str(mock_run), "--output", str(out)]) == 0
    assert len(_load(out, "mock-run")) == len(kept) == 10  # a new file name: datasets cannot serve the old rows
    files = _data_files(out)
    assert len(files) == 2 and first_file not in files and second_file in files  # the old file is gone
    assert (out / second_file).read_bytes() == before
    card = (out / "README.md").read_text()
    assert card.count("config_name:") == 2 and card.count("<!-- trustsim-run: mock-run -->") == 1
    assert "10 answers." in card and "12 answers." in card


def test_export_refuses_a_folder_that_is_not_an_export(mock_run: Path, dataset_copy: Path, tmp_path: Path, capsys):
    card = (dataset_copy / "README.md").read_text()
    assert main(["export-run", str(mock_run), "--output", str(dataset_copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a card written by `trustsim export-run`" in err and len(err.splitlines()) == 1
    assert (dataset_copy / "README.md").read_text() == card and not (dataset_copy / "data" / "mock-run").exists()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert main(["export-run", str(mock_run), "--output", str(tmp_path / "busy")]) == 2
    assert "not empty" in capsys.readouterr().err


@pytest.fixture
def hub(monkeypatch, tmp_path: Path):
    """HfApi intercepted: uploads are copied aside (the temporary folder is gone after the call)."""
    state: dict = {"calls": [], "uploads": [], "remote_card": None}

    def create_repo(self, repo_id, **kwargs):
        state["calls"].append(("create_repo", repo_id, kwargs))

    def hf_hub_download(self, repo_id, filename, **kwargs):
        state["calls"].append(("hf_hub_download", repo_id, {"filename": filename, **kwargs}))
        if state["remote_card"] is None:
            http = pytest.importorskip("httpx2", reason="huggingface_hub's HTTP client")
            reply = http.Response(404, request=http.Request("GET", f"https://huggingface.co/{repo_id}/{filename}"))
            raise RemoteEntryNotFoundError("404 README.md", response=reply)
        path = tmp_path / "downloaded" / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(state["remote_card"])
        return str(path)

    def upload_folder(self, **kwargs):
        state["calls"].append(("upload_folder", kwargs["repo_id"], kwargs))
        copy = tmp_path / f"upload-{len(state['uploads'])}"
        shutil.copytree(kwargs["folder_path"], copy)
        state["uploads"].append(copy)
        return type("CommitInfo", (), {"commit_url": "https://hub.example/commit/1"})()

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "hf_hub_download", hf_hub_download)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    return state


def test_push_run_uploads_a_dataset_repo_and_keeps_the_runs_already_there(mock_run: Path, tmp_path: Path, hub):
    assert main(["push-run", str(mock_run), "someone/trustsim-runs", "--private"]) == 0
    names = [c[0] for c in hub["calls"]]
    assert names == ["hf_hub_download", "create_repo", "upload_folder"]
    assert hub["calls"][0][2]["repo_type"] == "dataset" and hub["calls"][0][2]["filename"] == "README.md"
    create, upload = hub["calls"][1][2], hub["calls"][2][2]
    assert create["repo_type"] == "dataset" and create["private"] is True and create["exist_ok"] is True
    assert upload["repo_type"] == "dataset" and "token" not in upload and "token" not in create
    first = hub["uploads"][0]
    assert len(_load(first, "mock-run")) == 12

    # A second run pushed to the same repo: the card already there is merged, both configs listed.
    hub["remote_card"] = (first / "README.md").read_text()
    other = tmp_path / "runs" / "llama"
    shutil.copytree(mock_run, other)
    assert main(["push-run", str(other), "someone/trustsim-runs"]) == 0
    second = hub["uploads"][1]
    card = (second / "README.md").read_text()
    assert "config_name: mock-run" in card and "config_name: llama" in card
    [uploaded] = _data_files(second)
    assert uploaded.startswith("data/llama/test-")
    assert hub["calls"][-1][2]["delete_patterns"] == ["data/llama/*"]  # replaces its own files, no other run's


def test_push_run_refuses_a_repo_with_someone_elses_card(mock_run: Path, hub, capsys) -> None:
    hub["remote_card"] = "---\nlicense: mit\n---\n# A benchmark\n"
    assert main(["push-run", str(mock_run), "someone/benchmark"]) == 2
    assert "not a card written by `trustsim export-run`" in capsys.readouterr().err
    assert [c[0] for c in hub["calls"]] == ["hf_hub_download"]  # nothing created, nothing uploaded


def test_push_run_offline_is_one_line(mock_run: Path, capsys) -> None:
    assert main(["push-run", str(mock_run), "someone/trustsim-runs"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("trustsim push-run: error: pushing to someone/trustsim-runs: the Hub is not reachable")
    assert len(err.splitlines()) == 1
