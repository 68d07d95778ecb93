"""Choosing the instances a run evaluates: the dataset split, then ``--subjects`` and ``--limit``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import zip_longest
from pathlib import Path
from typing import Any

from trustsim.dataset import SPLIT_HALVES, dataset_fingerprint, load_trustsim, stored_files
from trustsim.records import read_jsonl
from trustsim.schema import SUBJECTS, Subject

#: The card's configs and splits, as folders of the ``data/<half>/<slug>.jsonl`` layout.
LAYOUT_SPLITS: dict[tuple[str, str], tuple[str, ...]] = {
    ("default", "test"): SPLIT_HALVES,
    ("adaorpo", "train"): ("train",),
    ("adaorpo", "test"): ("test",),
}


def load_instances(path: str | Path, config: str = "default", split: str = "test") -> list[dict[str, Any]]:
    """The split's instances as plain records.

    A local folder in the shipped layout is read directly, in milliseconds rather than the second
    ``load_dataset`` takes to build its cache (the rows are the same: tested); anything else, such
    as a Hub id, goes through ``datasets``.
    """
    root = Path(path)
    halves = LAYOUT_SPLITS.get((config, split))
    if halves and root.is_dir() and stored_files(root):
        return [record for file in stored_files(root) if file.parent.name in halves for record in read_jsonl(file)]
    return [dict(row) for row in load_trustsim(path, config, split)]


def dataset_reference(path: str | Path, config: str, split: str, instances: Sequence[Mapping[str, Any]]) -> dict:
    """What ``run.json`` records about the data: where it came from and its content fingerprint."""
    return {
        "path": str(path),
        "config": config,
        "split": split,
        "fingerprint": dataset_fingerprint(instances),
        "num_instances": len(instances),
    }


def choose_instances(
    path: str | Path,
    config: str,
    split: str,
    subjects: Sequence[str] | None = None,
    limit: int | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The instances ``--subjects``/``--limit`` pick from a split, and the dataset reference of the whole split.

    The one way an evaluation chooses its instances, whoever runs it (``trustsim eval``, the inspect_ai
    task), so the same flags always pick the same instances. The reference (``run.json``'s ``dataset``)
    fingerprints the whole split, not the selection, so a resumed run may widen its ``--limit``.
    """
    instances = load_instances(path, config, split)
    return select_instances(instances, subjects, limit), dataset_reference(path, config, split, instances)


def resolve_subject(text: str) -> Subject:
    """A subject by name, abbreviation, id prefix or slug, case-insensitively (``Psychology``, ``Psy.``, ``psy``)."""
    wanted = text.strip().lower().rstrip(".")
    for subject in SUBJECTS:
        if wanted in {subject.name.lower(), subject.abbreviation.lower().rstrip("."), subject.slug, subject.id_prefix}:
            return subject
    names = ", ".join(s.slug for s in SUBJECTS)
    raise ValueError(f"unknown subject {text!r}; use a name, abbreviation or one of: {names}")


def select_instances(
    instances: Sequence[Mapping[str, Any]], subjects: Sequence[str] | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Filter by subject, then take the first ``limit`` taking subjects in turn.

    Taking subjects in turn (round robin over the subjects' id-sorted instances) makes a small
    ``--limit`` a sample of every subject rather than of the first file.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be at least 1, not {limit}")
    names = {resolve_subject(s).name for s in subjects} if subjects else None
    by_subject: dict[str, list[dict[str, Any]]] = {}
    for instance in sorted(instances, key=lambda r: r["id"]):
        if names is None or instance["dimension"] in names:
            by_subject.setdefault(instance["dimension"], []).append(dict(instance))
    ordered = [s.name for s in SUBJECTS if s.name in by_subject]
    interleaved = [row for group in zip_longest(*(by_subject[n] for n in ordered)) for row in group if row]
    return interleaved[:limit] if limit else interleaved
