"""The ``trustsim_consistency`` metric as a Hub Space, the way ``evaluate`` hosts community metrics.

``evaluate.load("<owner>/<name>")`` downloads ``<name>.py`` from the Space ``<owner>/<name>``
(``https://huggingface.co/spaces/<owner>/<name>/resolve/main/<name>.py``, see
``evaluate.loading.HubEvaluationModuleFactory``), so the Space is named after the module file:
``<owner>/trustsim_consistency``. It holds what ``evaluate-cli create`` would make:

* ``trustsim_consistency.py``: the metric script, copied unchanged. It imports no ``trustsim`` code
  (its ``_PLAIN`` switch is only ever set by this package, so loaded from the Hub it is always the
  full ``evaluate`` metric);
* ``README.md``: the metric card, with the Space's front matter (``sdk: gradio``, ``app_file``,
  ``tags: [evaluate, metric]``) merged into the card's own;
* ``app.py``: ``launch_gradio_widget`` over ``evaluate.load("<owner>/trustsim_consistency")``;
* ``requirements.txt``: the metric's own.

evaluate 0.4's widget uses ``gr.inputs``, which Gradio 4 removed, hence the pinned Gradio 3 SDK.
Only the widget needs it: ``evaluate.load`` fetches the script file and never runs the Space.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from trustsim.evaluation.consistency import METRIC_SCRIPT, metric_dir

#: The module's name: the Space must carry it, since ``evaluate.load`` fetches ``<space name>.py``.
METRIC_NAME = METRIC_SCRIPT.stem
#: The last Gradio with ``gr.inputs``, which ``evaluate.utils.launch_gradio_widget`` (evaluate 0.4) uses.
GRADIO_SDK_VERSION = "3.50.2"

_APP = '''"""The widget of the trustsim_consistency metric (written by `trustsim push-metric`)."""

import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load("{repo_id}")
launch_gradio_widget(module)
'''

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def check_space_id(repo_id: str) -> str:
    """``repo_id`` if it names ``<owner>/trustsim_consistency``; a one-line ``ValueError`` saying why not."""
    if not _REPO_ID.match(repo_id):
        raise ValueError(f"{repo_id!r} is not a Space id; use <owner>/{METRIC_NAME}")
    if repo_id.split("/")[1] != METRIC_NAME:
        raise ValueError(
            f"{repo_id!r}: the Space must be named {METRIC_NAME}, because evaluate.load('<owner>/<name>') "
            f"fetches <name>.py from it; use {repo_id.split('/')[0]}/{METRIC_NAME}"
        )
    return repo_id


def _card(repo_id: str) -> str:
    """The metric card with the Space's front matter merged in, and the Hub id in its usage line."""
    import yaml

    text = (metric_dir() / "README.md").read_text(encoding="utf-8")
    if not text.startswith("---\n") or "\n---\n" not in text[4:]:
        raise ValueError(f"{metric_dir() / 'README.md'}: the metric card has no YAML front matter")
    front, _, body = text[4:].partition("\n---\n")
    meta: dict[str, Any] = yaml.safe_load(front) or {}
    tags = list(dict.fromkeys([*(meta.get("tags") or []), "evaluate", "metric"]))
    meta.update(
        {"tags": tags, "sdk": "gradio", "sdk_version": GRADIO_SDK_VERSION, "app_file": "app.py", "pinned": False}
    )
    body = body.replace('evaluate.load("<owner>/trustsim_consistency")', f'evaluate.load("{repo_id}")')
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n" + body


def build_space(repo_id: str, folder: str | Path) -> Path:
    """Write the Space's files into ``folder/trustsim_consistency/``; returns that folder.

    The folder carries the module's name, so ``evaluate.load(str(folder))`` loads it locally exactly
    as ``evaluate.load(repo_id)`` will from the Hub.
    """
    check_space_id(repo_id)
    source = metric_dir()
    space = Path(folder) / METRIC_NAME
    space.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / METRIC_SCRIPT.name, space / METRIC_SCRIPT.name)
    shutil.copyfile(source / "requirements.txt", space / "requirements.txt")
    (space / "README.md").write_text(_card(repo_id), encoding="utf-8")
    (space / "app.py").write_text(_APP.format(repo_id=repo_id), encoding="utf-8")
    return space


def push_metric(repo_id: str, private: bool = False) -> str:
    """Build the Space in a temporary folder and upload it (a gradio Space, created if needed); the commit URL."""
    from trustsim.hub import push_folder

    check_space_id(repo_id)
    with tempfile.TemporaryDirectory(prefix="trustsim-push-metric-") as temporary:
        space = build_space(repo_id, temporary)
        return push_folder(
            space, repo_id, "space", "trustsim push-metric: the trustsim_consistency metric",
            private=private, space_sdk="gradio",
        )  # fmt: skip
