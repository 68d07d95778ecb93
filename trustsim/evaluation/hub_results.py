"""TRUSTSIM results in the Hub's current format: the benchmark's ``eval.yaml`` and a model's ``.eval_results/``.

The Hub records benchmark results in two places (https://huggingface.co/docs/hub/eval-results):

* the **benchmark** dataset repo holds an ``eval.yaml`` at its root: ``name``, ``description`` and
  ``tasks`` (each an ``id`` with the dataset ``config`` and ``split`` it is computed on);
* every **model** repo holds its scores as ``.eval_results/*.yaml``: a list of entries
  ``{dataset: {id, task_id}, value, date, notes, ...}``, ``task_id`` naming a task of the benchmark's
  ``eval.yaml``. The Hub shows them on the model page and aggregates them into the benchmark's
  leaderboard. ``huggingface_hub.EvalResultEntry`` is the client's model of one entry.

One entry holds one number, so each headline number of a split is its own task. They are defined
once, here (:data:`METRICS` x :data:`TASK_SPLITS`): the shipped ``trustsim_dataset/eval.yaml`` is
:func:`benchmark_spec` written out (a test keeps the two equal), ``trustsim report`` writes
:func:`result_entries` of each run, and the AdaORPO model card's ``model-index`` takes its numbers
from the same :func:`metric_value`, so the two model-side formats can never disagree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trustsim.records import write_atomic
from trustsim.secrets import redact

#: The folder of a model repo the Hub reads results from, and TrustSim's file in it.
RESULTS_DIR = ".eval_results"
RESULTS_FILE = "trustsim.yaml"
#: The benchmark file at the root of the dataset repo.
BENCHMARK_FILE = "eval.yaml"

#: Used as ``dataset.id`` when no Hub id of the benchmark is known (the dataset used from a local
#: folder and no ``--benchmark-id``); the model card's ``model-index`` falls back to the same name.
FALLBACK_BENCHMARK_ID = "trustsim"

#: ``metrics.json`` key, display name, whether it is a rate (reported in %, as in the paper's tables).
METRICS: tuple[tuple[str, str, bool], ...] = (
    ("self_report_satisfaction_rate", "Self-report satisfaction rate (%)", True),
    ("open_ended_satisfaction_rate", "Open-ended satisfaction rate (%)", True),
    ("inconsistency_rate", "Inconsistency rate (%)", True),
    ("open_ended_mean_score", "Open-ended mean score (1-5)", False),
)

#: The (config, split) pairs that are benchmark tasks, and the prefix of their task ids: the whole
#: benchmark (the paper's evaluation) and the AdaORPO held-out half (the paper's Table 3b).
TASK_SPLITS: dict[tuple[str, str], str] = {("default", "test"): "", ("adaorpo", "test"): "adaorpo_"}

_DESCRIPTION = (
    "TRUSTSIM: how reliably a language model plays a social character. Each instance, in one of ten "
    "social-science subjects, gives the model a character, a self-report (Yes/No) question and an open-ended "
    "question about the same trait; an LLM judge (the paper's Figure 12 and 13 templates) decides whether each "
    "answer is Satisfied and rates the open-ended answer 1-5. Rates are percentages; the inconsistency rate "
    "(exactly one of the two answers satisfied) is better when lower. Results are judge-dependent: the notes of "
    "each result name its judges. Evaluate a model with the TrustSim toolkit's `trustsim eval`."
)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _metric_stem(key: str) -> str:
    return key.removesuffix("_rate")


def task_id(key: str, config: str, split: str) -> str | None:
    """The benchmark task of metric ``key`` on ``config``/``split``; None if that split is no task."""
    prefix = TASK_SPLITS.get((config, split))
    return None if prefix is None else f"{prefix}{_metric_stem(key)}"


def benchmark_tasks() -> list[dict[str, str]]:
    """The ``tasks`` of ``eval.yaml``: one per headline metric and benchmark split."""
    tasks = []
    for (config, split), prefix in TASK_SPLITS.items():
        where = "" if config == "default" else f", {config} {split} half"
        for key, name, _ in METRICS:
            tasks.append(
                {"id": f"{prefix}{_metric_stem(key)}", "name": f"{name}{where}", "config": config, "split": split}
            )
    return tasks


def benchmark_spec() -> dict[str, Any]:
    """The content of the dataset repo's ``eval.yaml``.

    ``evaluation_framework`` is left out on purpose: the Hub's validator rejects identifiers outside
    its own list (custom harness names fail with "Invalid input at evaluation_framework"), and a
    benchmark without it is accepted.
    """
    return {"name": "TRUSTSIM", "description": _DESCRIPTION, "tasks": benchmark_tasks()}


def render_benchmark_yaml() -> str:
    """``eval.yaml`` as text, with a comment saying where it comes from."""
    import yaml

    header = (
        "# The Hub's benchmark registration (https://huggingface.co/docs/hub/eval-results): one task per\n"
        "# headline number and split. Written from trustsim/evaluation/hub_results.py; models report their\n"
        "# numbers in .eval_results/trustsim.yaml (`trustsim report` writes it).\n"
    )
    return header + yaml.safe_dump(benchmark_spec(), sort_keys=False, allow_unicode=True, width=100)


def metric_value(metrics: Mapping[str, Any], key: str) -> float | None:
    """The number the Hub shows for ``key``: a rate in % (two decimals), the score as it is (two decimals)."""
    value = metrics.get(key)
    if value is None or isinstance(value, bool):
        return None
    is_rate = next(rate for k, _, rate in METRICS if k == key)
    return round(100 * float(value), 2) if is_rate else round(float(value), 2)


def hub_dataset_id(reference: str | None) -> str | None:
    """``reference`` if it is a Hub dataset id (``owner/name``) and not a folder on this disk, else None."""
    if not reference or Path(reference).expanduser().exists() or reference.startswith((".", "/", "~")):
        return None
    return reference if _HUB_ID.match(reference) else None


def benchmark_id(dataset: str | None, override: str | None = None) -> str:
    """The benchmark's Hub id for ``dataset.id``: ``override``, the dataset if it is a Hub id, else the fallback."""
    if override:
        if not _HUB_ID.match(override):
            raise ValueError(f"benchmark id {override!r} is not a Hub dataset id (owner/name)")
        return override
    return hub_dataset_id(dataset) or FALLBACK_BENCHMARK_ID


def result_entries(
    metrics: Mapping[str, Any],
    dataset_id: str,
    config: str,
    split: str,
    *,
    notes: str | None = None,
    date: str | None = None,
) -> list[Any]:
    """``huggingface_hub.EvalResultEntry`` per headline number of ``metrics``; [] if the split is no task."""
    from huggingface_hub import EvalResultEntry

    entries = []
    for key, _, _ in METRICS:
        task = task_id(key, config, split)
        value = metric_value(metrics, key)
        if task is None or value is None:
            continue
        entries.append(EvalResultEntry(dataset_id=dataset_id, task_id=task, value=value, date=date, notes=notes))
    return entries


def result_notes(metrics: Mapping[str, Any], judges: Sequence[str], total: int | None = None) -> str:
    """What a reader of one result must know: who judged, and how much of the split was evaluated."""
    n = metrics.get("n")
    coverage = f"{n} of {total} instances" if total else f"{n} instances"
    if total and isinstance(n, int) and n < total:
        coverage += " (a subset: not comparable with full-split results)"
    return f"judges: {', '.join(judges) or 'unknown'}; {coverage}"


def render_results_yaml(entries: Sequence[Any]) -> str:
    """The ``.eval_results/*.yaml`` text of ``entries`` (the client's own serialisation)."""
    import yaml
    from huggingface_hub import eval_result_entries_to_yaml

    return yaml.safe_dump(eval_result_entries_to_yaml(list(entries)), sort_keys=False, allow_unicode=True)


def write_results(folder: str | Path, entries: Sequence[Any]) -> Path:
    """Write ``folder/.eval_results/trustsim.yaml`` atomically; returns its path.

    ``folder`` is a model folder (the recipe's output, uploaded as the model repo) or a report folder
    whose ``.eval_results/`` is copied into the model repo as it is.
    """
    path = Path(folder) / RESULTS_DIR / RESULTS_FILE
    write_atomic(path, redact(render_results_yaml(entries)))
    return path
