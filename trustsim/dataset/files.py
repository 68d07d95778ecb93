"""Reading and writing the TRUSTSIM dataset folder.

The folder ``trustsim_dataset/`` is a no-code Hugging Face dataset: JSONL data files plus a card
whose YAML ``configs:`` combine them. Each instance is stored once, in
``data/<half>/<subject slug>.jsonl`` where ``<half>`` is the instance's side of the fixed AdaORPO
split (``train`` or ``test``). The ``default`` config globs both halves into one ``test`` split; the
``adaorpo`` config maps each half to its split.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from trustsim.paths import SHIPPED_DATASET
from trustsim.records import read_jsonl, write_atomic
from trustsim.schema import COLUMNS, subject

#: Folder of data files inside the dataset folder.
DATA_DIR = "data"
#: The halves of the AdaORPO split; also the sub-folders of ``data/``.
SPLIT_HALVES: tuple[str, ...] = ("train", "test")
#: Seed of the AdaORPO split. Changing it moves instances between train and test: never do it
#: for a released version.
SPLIT_SEED = "trustsim-adaorpo-v1"
#: The shipped dataset, found from the package (never the working directory): see :mod:`trustsim.paths`.
DEFAULT_DATASET_PATH = SHIPPED_DATASET

Record = dict[str, Any]


def data_file(root: Path, half: str, dimension: str) -> Path:
    """Path of the JSONL file holding ``dimension``'s instances of split half ``half``."""
    return Path(root) / DATA_DIR / half / f"{subject(dimension).slug}.jsonl"


def stored_files(root: Path) -> list[Path]:
    """The files of the ``data/<half>/<slug>.jsonl`` layout under ``root``, sorted (empty if none)."""
    return sorted((Path(root) / DATA_DIR).glob("*/*.jsonl"))


def data_files(path: Path) -> list[Path]:
    """The JSONL files of a dataset folder, sorted; a single file is returned as is.

    Raises ``FileNotFoundError`` naming the path when there is nothing to read, so a mistyped
    path gives one clear line instead of an empty, "valid" dataset.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or directory")
    files = stored_files(path)
    if not files:
        files = sorted(path.glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"{path}: no JSONL data files (looked in {path / DATA_DIR}/*/ and {path}/)")
    return files


def read_records(path: Path) -> list[Record]:
    """Every instance under ``path`` (a dataset folder or a JSONL file), without validation.

    Use :func:`trustsim.dataset.validate.read_rows` where the input is untrusted; this reader only fails on
    lines that are not JSON, naming the file and line.
    """
    return [record for file in data_files(path) for record in read_jsonl(file)]


def _split_key(instance_id: str, seed: str) -> str:
    return hashlib.sha256(f"{seed}:{instance_id}".encode()).hexdigest()


def assign_splits(records: Iterable[Mapping[str, Any]], seed: str = SPLIT_SEED) -> dict[str, str]:
    """The fixed AdaORPO split: instance id -> ``"train"`` or ``"test"``.

    Within each dimension the instances are ordered by ``sha256(seed:id)`` and the first
    ``ceil(n / 2)`` go to train, the rest to test. So the split is 1:1 (to within one instance)
    per dimension, does not depend on file order or on other dimensions, and adding an instance
    moves at most one existing instance across the boundary.
    """
    by_dimension: dict[str, list[str]] = defaultdict(list)
    for record in records:
        by_dimension[record["dimension"]].append(record["id"])
    assignment = {}
    for ids in by_dimension.values():
        ordered = sorted(ids, key=lambda i: _split_key(i, seed))
        n_train = math.ceil(len(ordered) / 2)
        for rank, instance_id in enumerate(ordered):
            assignment[instance_id] = "train" if rank < n_train else "test"
    return assignment


def dumps_record(record: Mapping[str, Any]) -> str:
    """One JSONL line with the contract's column order (stable, diff-friendly output)."""
    return json.dumps({c: record[c] for c in COLUMNS}, ensure_ascii=False)


def dataset_fingerprint(records: Iterable[Mapping[str, Any]]) -> str:
    """A short content hash of the instances, independent of file layout and order.

    Recorded in the card and in every evaluation run, so results can be tied to the exact data.
    """
    digest = hashlib.sha256()
    for line in sorted(dumps_record(r) for r in records):
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()[:16]


def write_dataset(root: Path, records: Iterable[Mapping[str, Any]], seed: str = SPLIT_SEED) -> list[Path]:
    """Write ``records`` into ``root/data/<half>/<slug>.jsonl``, replacing what was there.

    Instances are sorted by id inside each file. Returns the files written.
    """
    records = list(records)
    halves = assign_splits(records, seed)
    grouped: dict[Path, list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        grouped[data_file(root, halves[record["id"]], record["dimension"])].append(record)
    # Every file's bytes first (a record that cannot be encoded fails here, before anything is written),
    # then each file replaced atomically: a crash or a full disk leaves every file whole.
    contents = {
        file: "".join(dumps_record(r) + "\n" for r in sorted(rows, key=lambda r: r["id"])).encode("utf-8")
        for file, rows in grouped.items()
    }
    for file, data in contents.items():
        write_atomic(file, data)
    for old in stored_files(root):
        if old not in grouped:
            old.unlink()
    return sorted(grouped)


def load_trustsim(path: str | Path = DEFAULT_DATASET_PATH, config: str = "default", split: str | None = "test"):
    """Load the dataset with ``datasets.load_dataset`` (a local folder or a Hub repo id).

    ``config`` is ``default`` (one ``test`` split, every instance) or ``adaorpo`` (``train`` and
    ``test``). ``split=None`` returns the ``DatasetDict``.
    """
    from datasets import load_dataset

    return load_dataset(str(path), config, split=split)
