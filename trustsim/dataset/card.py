"""The dataset card's generated parts: YAML metadata, the example instance and the statistics.

Everything in the card that describes the data is written from the data, so the card cannot drift
from it: ``trustsim dataset-stats`` rewrites these parts and ``trustsim validate-dataset`` fails when
they differ from what the data would give.

The YAML ``dataset_info`` carries each split's size and a fingerprint of the instances. Besides
documenting the release, this keeps ``datasets`` honest: it caches a local folder under a hash of
the card's metadata (not of the data files), so without a data-dependent field an edited instance
would be served stale from the cache.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from trustsim.dataset.files import assign_splits, data_file, dataset_fingerprint
from trustsim.dataset.stats import FIGURE_PATH, compute_statistics, plot_statistics, render_markdown
from trustsim.records import write_atomic
from trustsim.schema import COLUMNS

#: The card's statistics section lies between these markers.
STATS_START = "<!-- statistics:start (written by `trustsim dataset-stats`; do not edit by hand) -->"
STATS_END = "<!-- statistics:end -->"
#: The card's example instance lies between these markers.
EXAMPLE_START = "<!-- example:start -->"
EXAMPLE_END = "<!-- example:end -->"

ARROW_SCHEMA = pa.schema([(column, pa.string()) for column in COLUMNS])

#: Hub metadata that does not depend on the data.
CARD_METADATA: dict[str, Any] = {
    "pretty_name": "TRUSTSIM",
    "license": "cc-by-4.0",
    "language": ["en"],
    "task_categories": ["text-generation"],
    "tags": ["role-play", "persona", "social-simulation", "computational-social-science", "llm-as-a-judge"],
    "size_categories": ["n<1K"],
}

#: The configs: which files make which split.
CONFIGS: list[dict[str, Any]] = [
    {"config_name": "default", "default": True, "data_files": [{"split": "test", "path": "data/*/*.jsonl"}]},
    {
        "config_name": "adaorpo",
        "data_files": [
            {"split": "train", "path": "data/train/*.jsonl"},
            {"split": "test", "path": "data/test/*.jsonl"},
        ],
    },
]


def _split_info(name: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A split's size as ``datasets`` records it: the Arrow table's bytes and its row count."""
    table = pa.Table.from_pylist([{c: r[c] for c in COLUMNS} for r in rows], schema=ARROW_SCHEMA)
    return {"name": name, "num_bytes": table.nbytes, "num_examples": len(rows)}


def render_front_matter(records: Sequence[Mapping[str, Any]]) -> str:
    """The card's YAML header (between ``---`` lines): metadata, configs, features and split sizes.

    ``datasets`` checks the loaded row counts against these sizes, so a data file edited without
    rerunning ``trustsim dataset-stats`` fails loudly instead of loading silently.
    """
    halves = assign_splits(records)
    splits = {
        "default": [_split_info("test", records)],
        "adaorpo": [_split_info(half, [r for r in records if halves[r["id"]] == half]) for half in ("train", "test")],
    }
    description = f"TRUSTSIM role-play instances; data fingerprint {dataset_fingerprint(records)}"
    infos = [
        {
            "config_name": name,
            "description": description,
            "features": [{"name": column, "dtype": "string"} for column in COLUMNS],
            "splits": config_splits,
            "dataset_size": sum(s["num_bytes"] for s in config_splits),
        }
        for name, config_splits in splits.items()
    ]
    meta = {**CARD_METADATA, "configs": CONFIGS, "dataset_info": infos}
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000) + "---\n"


def _replace_between(card: str, start: str, end: str, body: str) -> str:
    i, j = card.find(start), card.find(end)
    if i < 0 or j < i:
        raise ValueError(f"the dataset card lacks the marker lines {start!r} and {end!r}")
    return card[: i + len(start)] + "\n" + body + "\n" + card[j:]


def _body(card: str) -> str:
    """The card without its YAML header."""
    if card.startswith("---\n"):
        end = card.find("\n---\n", 4)
        if end >= 0:
            return card[end + len("\n---\n") :]
    return card


def render_example(records: Sequence[Mapping[str, Any]]) -> str:
    """The card's example: the instance with the smallest id, as the JSON a user gets."""
    first = min(records, key=lambda r: r["id"])
    return "```json\n" + json.dumps({c: first[c] for c in COLUMNS}, ensure_ascii=False, indent=2) + "\n```"


#: The per-file instance counts, kept in the statistics section as a comment, so a data file that lost
#: rows is caught (and named) instead of the card being regenerated to match the loss.
FILES_MARK = "<!-- files: "


def file_counts(records: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many instances each ``data/<half>/<slug>.jsonl`` file holds."""
    halves = assign_splits(records)
    counts: dict[str, int] = {}
    for record in records:
        name = data_file(Path(), halves[record["id"]], record["dimension"]).as_posix()
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def recorded_file_counts(card: str) -> dict[str, int] | None:
    """The per-file counts the card recorded when it was last written (None for an older card)."""
    start = card.find(FILES_MARK)
    if start < 0:
        return None
    end = card.find(" -->", start)
    try:
        counts = json.loads(card[start + len(FILES_MARK) : end])
    except ValueError:
        return None
    return counts if isinstance(counts, dict) else None


def card_problem(card_path: Path) -> str | None:
    """Why the card cannot be trusted (missing, cut off, YAML broken), or None.

    Every command that rewrites the card refuses such a card instead of regenerating it, because the
    card is what a lost data file is checked against.
    """
    restore = f"restore it (e.g. `git checkout -- {card_path}`) before changing the dataset"
    if not card_path.is_file():
        return f"{card_path}: the dataset card is missing; {restore}"
    try:
        text = card_path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return f"{card_path}: not valid UTF-8; {restore}"
    except OSError as err:
        return f"{card_path}: cannot be read ({err.strerror}); {restore}"
    end = text.find("\n---\n", 4)
    if not text.startswith("---\n") or end < 0:
        return f"{card_path}: the card's YAML header is cut off or missing; {restore}"
    try:
        meta = yaml.safe_load(text[4:end])
    except yaml.YAMLError:
        return f"{card_path}: the card's YAML header is not valid YAML; {restore}"
    if not isinstance(meta, dict) or "configs" not in meta or "dataset_info" not in meta:
        return f"{card_path}: the card's YAML header lacks configs or dataset_info; {restore}"
    for marker in (STATS_START, STATS_END, EXAMPLE_START, EXAMPLE_END):
        if marker not in text:
            return f"{card_path}: the card lacks the line {marker!r}; {restore}"
    return None


def lost_rows(card: str, now: Mapping[str, int]) -> list[tuple[str, int, int]]:
    """``(file, held now, recorded)`` for every data file holding fewer instances than the card recorded.

    ``now`` counts the rows each file actually holds (``data/<half>/<slug>.jsonl`` -> n), not where the
    split would put them: a lost file shifts the split of its subject's other instances.
    """
    recorded = recorded_file_counts(card) or {}
    return [(name, now.get(name, 0), count) for name, count in recorded.items() if now.get(name, 0) < count]


def has_generated_sections(card: str) -> bool:
    """Whether ``card`` is a TRUSTSIM card with generated sections (user folders may have none)."""
    return STATS_START in card


def render_card(card: str, records: Sequence[Mapping[str, Any]]) -> str:
    """``card`` with its generated parts rewritten from ``records``; the hand-written prose is kept."""
    statistics = render_markdown(compute_statistics(records))
    statistics += f"\n{FILES_MARK}{json.dumps(file_counts(records), separators=(',', ':'))} -->"
    body = _replace_between(_body(card), STATS_START, STATS_END, statistics)
    if records:
        body = _replace_between(body, EXAMPLE_START, EXAMPLE_END, render_example(records))
    return render_front_matter(records) + body


def write_card(dataset: Path, records: Sequence[Mapping[str, Any]]) -> tuple[Path, Path]:
    """Rewrite the card's generated parts and the figure, each atomically; returns (card, figure) paths."""
    card_path = Path(dataset) / "README.md"
    text = render_card(card_path.read_text(encoding="utf-8"), records)
    figure = plot_statistics(records, Path(dataset) / FIGURE_PATH)
    write_atomic(card_path, text)
    return card_path, figure
