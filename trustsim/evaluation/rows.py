"""A run's records as rows: which instances it covers, which judges graded it, one row per answer.

Score, report and pairs all read a run through here. A run needs no ``run.json``: answers and
judgments written by another pipeline (``responses.jsonl`` and ``judgments.jsonl`` in the documented
format, any model and judge names) are read against the dataset given, else the one ``run.json``
names, else the shipped dataset; the judges are then the ones ``judgments.jsonl`` names.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trustsim import defaults
from trustsim.backends import display_name
from trustsim.dataset import DEFAULT_DATASET_PATH
from trustsim.evaluation.aggregate import instance_rows
from trustsim.evaluation.instances import load_instances
from trustsim.runs import FAILURES, JUDGMENTS, MANIFEST, RESPONSES, RunDir

logger = logging.getLogger(__name__)


def run_dataset(run: RunDir, dataset: str | Path | None = None) -> tuple[str | Path, str, str]:
    """``(path, config, split)`` of the run's instances: ``dataset`` or ``run.json``'s, else the shipped copy."""
    recorded = run.manifest().get("dataset") or {}
    path = dataset or recorded.get("path") or DEFAULT_DATASET_PATH
    return path, recorded.get("config", defaults.DATASET_CONFIG), recorded.get("split", defaults.DATASET_SPLIT)


def run_instances(run: RunDir, dataset: str | Path | None = None) -> list[dict[str, Any]]:
    """The instances this run covers (answered or failed)."""
    path, config, split = run_dataset(run, dataset)
    try:
        instances = load_instances(path, config, split)
    except FileNotFoundError:
        where = f"{run.file(MANIFEST)} names" if not dataset and run.manifest().get("dataset") else "the"
        raise FileNotFoundError(
            f"{where} dataset {str(path)!r} is not there; pass its location with --dataset"
        ) from None
    touched = {r["id"] for r in run.read(RESPONSES)} | {r["id"] for r in run.read(FAILURES) if r["stage"] == "generate"}
    return [instance for instance in instances if instance["id"] in touched]


def run_judges(run: RunDir) -> list[str]:
    """The run's judges in their order: ``run.json``'s, then any other that ``judgments.jsonl`` names.

    A judge found in the records but not in ``run.json`` (a copied or hand-edited run) is counted and
    named in a warning, never dropped: dropping it would silently turn its verdicts into "n/a".
    """
    recorded = list(run.manifest().get("judging", {}).get("judges") or [])
    found = list(dict.fromkeys(record["judge"] for record in run.read(JUDGMENTS)))
    extra = [judge for judge in found if judge not in recorded]
    if recorded and extra:
        logger.warning(
            "%s lists the judges %s, but %s also holds judgments by %s; they are counted",
            run.file(MANIFEST), ", ".join(recorded), run.file(JUDGMENTS), ", ".join(extra),
        )  # fmt: skip
    return recorded + extra


def run_model(run: RunDir) -> str:
    """The subject model's display name: ``--name``, else its spec (a local path shortened, see
    :func:`~trustsim.backends.display_name`), else the answers' ``model``, else the folder's name."""
    generation = run.manifest().get("generation", {})
    if generation.get("name"):
        return generation["name"]
    if generation.get("model"):
        return display_name(generation["model"])
    models = list(dict.fromkeys(record.get("model") for record in run.read(RESPONSES) if record.get("model")))
    return display_name(models[0]) if len(models) == 1 else run.path.name


def run_rows(run: RunDir, instances: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The run's :func:`~trustsim.evaluation.aggregate.instance_rows` for ``instances``."""
    return instance_rows(instances, run.read(RESPONSES), run.read(JUDGMENTS), run_judges(run))
