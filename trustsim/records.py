"""Append-only JSONL record files that survive crashes.

A run writes each finished request as one line, flushed and fsynced at once, so a crash, Ctrl-C or
``kill -9`` loses at most the requests in flight. On reopening, a torn last line (a write cut off
mid-way) is cut away with a warning, finished keys are loaded, and the run skips them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Keys of the two record files (docs/architecture.md).
RESPONSE_KEY: tuple[str, ...] = ("id", "question_type")
JUDGMENT_KEY: tuple[str, ...] = ("id", "question_type", "judge", "template")


def repair_torn_tail(path: Path) -> int:
    """Cut a last line that lacks its newline or is not JSON; returns the bytes removed."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return 0
    data = path.read_bytes()
    cut = len(data)
    if not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
    else:
        start = data.rfind(b"\n", 0, len(data) - 1) + 1
        try:
            json.loads(data[start:])
        except ValueError:
            cut = start
    if cut < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(cut)
        logger.warning(
            "%s: repaired a torn last line (%d bytes cut; that request will be redone)", path, len(data) - cut
        )
    return len(data) - cut


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text)`` for every non-empty line of a JSONL file (1-based numbers)."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Every record of a JSONL file; a malformed line raises ``ValueError`` naming file and line."""
    for number, line in iter_lines(path):
        try:
            yield json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: not valid JSON ({err.msg}); fix or delete that line") from None


class RecordFile:
    """One append-only JSONL file keyed by ``key_fields``; finished keys are skipped on resume."""

    def __init__(self, path: Path, key_fields: Sequence[str]) -> None:
        self.path = Path(path)
        self.key_fields = tuple(key_fields)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_torn_tail(self.path)
        self.records: dict[tuple, dict[str, Any]] = {}
        if self.path.exists():
            for record in read_jsonl(self.path):
                self.records[self.key(record)] = record
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for appends

    def key(self, record: Mapping[str, Any]) -> tuple:
        """The record's key: its values of ``key_fields``."""
        return tuple(record[name] for name in self.key_fields)

    def __contains__(self, key: tuple) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one finished record now: one line, flushed and fsynced before returning."""
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.records[self.key(record)] = dict(record)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> RecordFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
