"""`trustsim push-metric`: the metric as a Hub Space that `evaluate.load("<owner>/trustsim_consistency")` loads.

Tested offline up to the network call: the HfApi calls are intercepted, and the folder that would be
uploaded is loaded with `evaluate.load` (in this process, and in one where `trustsim` cannot be
imported, as on a stranger's machine) and must give the numbers of the metric in metrics/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import evaluate
import huggingface_hub
import pytest
import yaml

from trustsim.cli import main
from trustsim.evaluation.consistency import compute_consistency
from trustsim.evaluation.metric_space import build_space
from trustsim.paths import METRIC_DIR

INPUTS = {
    "dimension": ["Psychology", "Psychology", "Economics", "Economics"],
    "self_report_satisfied": [True, None, False, True],
    "open_ended_satisfied": [False, True, False, True],
    "open_ended_score": [2.0, 4.5, None, 5.0],
}


@pytest.fixture
def hub_calls(monkeypatch, tmp_path: Path):
    calls = []

    def record(name):
        def method(self, *args, **kwargs):
            calls.append((name, args, kwargs))
            if name == "upload_folder":  # keep what would be uploaded: the temporary folder goes afterwards
                shutil.copytree(kwargs["folder_path"], tmp_path / "uploaded" / "trustsim_consistency")
            return type("CommitInfo", (), {"commit_url": "https://hub.example/commit/1"})()

        return method

    for name in ("create_repo", "create_branch", "upload_folder"):
        monkeypatch.setattr(huggingface_hub.HfApi, name, record(name))
    return calls


def test_push_metric_creates_a_gradio_space_and_uploads_the_module(hub_calls, tmp_path: Path, capsys) -> None:
    assert main(["push-metric", "someone/trustsim_consistency"]) == 0
    assert [c[0] for c in hub_calls] == ["create_repo", "upload_folder"]
    create, upload = hub_calls[0], hub_calls[1]
    assert create[1] == ("someone/trustsim_consistency",)
    assert create[2]["repo_type"] == "space" and create[2]["space_sdk"] == "gradio" and create[2]["exist_ok"]
    assert upload[2]["repo_type"] == "space" and upload[2]["repo_id"] == "someone/trustsim_consistency"
    assert "token" not in create[2] and "token" not in upload[2]
    assert "evaluate.load('someone/trustsim_consistency')" in capsys.readouterr().out

    space = tmp_path / "uploaded" / "trustsim_consistency"
    files = sorted(p.name for p in space.iterdir())
    assert files == ["README.md", "app.py", "requirements.txt", "trustsim_consistency.py"]
    assert (space / "trustsim_consistency.py").read_bytes() == (METRIC_DIR / "trustsim_consistency.py").read_bytes()
    assert (space / "requirements.txt").read_text() == (METRIC_DIR / "requirements.txt").read_text()
    front = yaml.safe_load((space / "README.md").read_text().split("---\n")[1])
    assert front["sdk"] == "gradio" and front["app_file"] == "app.py" and {"evaluate", "metric"} <= set(front["tags"])
    assert front["title"] == "TrustSim Consistency"
    assert 'evaluate.load("someone/trustsim_consistency")' in (space / "README.md").read_text()
    app = (space / "app.py").read_text()
    assert "from evaluate.utils import launch_gradio_widget" in app
    assert 'evaluate.load("someone/trustsim_consistency")' in app and "launch_gradio_widget(module)" in app


@pytest.mark.parametrize(
    ("repo_id", "message"),
    [("someone/other_name", "must be named trustsim_consistency"), ("trustsim_consistency", "not a Space id")],
)
def test_push_metric_refuses_a_space_evaluate_could_not_load(hub_calls, repo_id, message, capsys) -> None:
    assert main(["push-metric", repo_id]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert hub_calls == []


def test_push_metric_offline_is_one_line(capsys) -> None:
    assert main(["push-metric", "someone/trustsim_consistency"]) == 2
    err = capsys.readouterr().err.strip()
    assert "the Hub is not reachable in offline mode" in err and len(err.splitlines()) == 1


def test_the_space_folder_loads_with_evaluate_and_gives_the_metrics_numbers(tmp_path: Path) -> None:
    space = build_space("someone/trustsim_consistency", tmp_path)
    metric = evaluate.load(str(space), keep_in_memory=True)
    assert metric.compute(**INPUTS) == compute_consistency(**INPUTS)


def test_the_space_module_works_where_trustsim_is_not_installed(tmp_path: Path) -> None:
    space = build_space("someone/trustsim_consistency", tmp_path)
    code = (
        "import json, sys\n"
        "sys.modules['trustsim'] = None  # `import trustsim` now fails, as for anyone without the package\n"
        "import evaluate\n"
        f"metric = evaluate.load({str(space)!r}, keep_in_memory=True)\n"
        f"print(json.dumps(metric.compute(**{INPUTS!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == json.loads(json.dumps(compute_consistency(**INPUTS)))
