"""`trustsim push-dataset`, exercised up to the network call (the Hub is not reachable in tests)."""

from __future__ import annotations

import json

import huggingface_hub
import pytest

from trustsim.cli import main
from trustsim.paths import SHIPPED_DATASET


@pytest.fixture
def hub_calls(monkeypatch):
    calls = []

    def record(name):
        def method(self, *args, **kwargs):
            calls.append((name, args, kwargs))
            return type("CommitInfo", (), {"commit_url": "https://hub.example/commit/1"})()

        return method

    for name in ("create_repo", "create_branch", "upload_folder"):
        monkeypatch.setattr(huggingface_hub.HfApi, name, record(name))
    return calls


def test_push_uploads_the_folder_as_a_dataset_repo(hub_calls, capsys):
    assert main(["push-dataset", "someone/trustsim", "--path", str(SHIPPED_DATASET), "--private"]) == 0
    names = [c[0] for c in hub_calls]
    assert names == ["create_repo", "upload_folder"]
    create, upload = hub_calls[0], hub_calls[1]
    assert create[1] == ("someone/trustsim",)
    assert create[2]["repo_type"] == "dataset" and create[2]["private"] is True and create[2]["exist_ok"] is True
    assert upload[2]["folder_path"] == str(SHIPPED_DATASET)
    assert upload[2]["repo_id"] == "someone/trustsim" and upload[2]["repo_type"] == "dataset"
    assert "token" not in upload[2] and "token" not in create[2]
    assert "pushed" in capsys.readouterr().out


def test_push_to_a_branch_creates_it(hub_calls):
    assert main(["push-dataset", "someone/trustsim", "--path", str(SHIPPED_DATASET), "--revision", "v0.1"]) == 0
    assert [c[0] for c in hub_calls] == ["create_repo", "create_branch", "upload_folder"]
    assert hub_calls[2][2]["revision"] == "v0.1"


def test_push_refuses_a_broken_dataset_before_any_network_call(hub_calls, dataset_copy, capsys):
    path = dataset_copy / "data/train/psychology.jsonl"
    lines = path.read_text().splitlines()
    record = json.loads(lines[0])
    del record["id"]
    path.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")
    assert main(["push-dataset", "someone/trustsim", "--path", str(dataset_copy)]) == 1
    assert hub_calls == []
    assert f"{path}:1: field 'id': missing" in capsys.readouterr().err
