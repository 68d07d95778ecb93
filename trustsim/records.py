"""Append-only JSONL record files that survive crashes.

A run writes each finished request as one line, flushed and fsynced at once, so a crash, Ctrl-C or
``kill -9`` loses at most the requests in flight. On reopening, a torn last line (a write cut off
mid-way) is cut away with a warning, finished keys are loaded, and the run skips them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Keys of the two record files (docs/architecture.md).
RESPONSE_KEY: tuple[str, ...] = ("id", "question_type")
JUDGMENT_KEY: tuple[str, ...] = ("id", "question_type", "judge", "template")


class WriteError(OSError):
    """A file could not be written (a full disk, a read-only folder); nothing half-written is left."""


def write_atomic(path: str | os.PathLike[str], content: str | bytes | Callable[[Path], None]) -> Path:
    """Replace ``path`` with ``content`` atomically: a temporary file beside it, fsync, rename.

    A crash or a full disk leaves the old file or the new one, never half of one, and no temporary
    file behind. ``content`` may be text (written as UTF-8), bytes, or a function that writes the
    file it is given (e.g. ``lambda p: fig.savefig(p, format="png")``). Errors are one line naming
    the file and the cause, as :class:`WriteError`.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(temporary)
        else:
            temporary.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            temporary.unlink()
        cause = err.strerror or str(err)
        raise WriteError(err.errno, f"{path}: cannot write ({cause}); the old file is unchanged") from None
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return path


def repair_torn_tail(path: Path) -> int:
    """Cut a last line that lacks its newline or is not JSON; returns the bytes removed.

    Every reader of a run file calls this first, so a crash mid-write never blocks a later command.
    A file that cannot be written (a read-only run) is left as it is: :func:`read_jsonl` with
    ``torn_tail_ok`` then skips the torn line in memory.
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return 0
    data = path.read_bytes()
    cut = len(data) - len(_torn_tail(data))
    if cut < len(data):
        try:
            with open(path, "r+b") as handle:
                handle.truncate(cut)
        except OSError:
            return 0
        logger.warning(
            "%s: repaired a torn last line (%d bytes cut; that request will be redone)", path, len(data) - cut
        )
    return len(data) - cut


def _torn_tail(data: bytes) -> bytes:
    """The torn last line of ``data`` (no newline, or not JSON), or b"" when the last line is whole."""
    if not data:
        return b""
    if not data.endswith(b"\n"):
        return data[data.rfind(b"\n") + 1 :]
    start = data.rfind(b"\n", 0, len(data) - 1) + 1
    try:
        json.loads(data[start:])
    except ValueError:
        return data[start:]
    return b""


def decode_lines(path: Path) -> Iterator[tuple[int, str | None, str | None]]:
    """``(line number, text, None)`` for every non-empty line, or ``(number, None, why)`` if it is not UTF-8."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                yield number, None, f"not valid UTF-8 (byte {raw[err.start]:#04x} at column {err.start + 1})"
                continue
            if line.strip():
                yield number, line, None


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text)`` for every non-empty line of a JSONL file (1-based numbers).

    A line that is not UTF-8 raises ``ValueError`` naming the file and line (not a bare decode error).
    """
    for number, line, problem in decode_lines(path):
        if line is None:
            raise ValueError(f"{path}:{number}: {problem}")
        yield number, line


def read_jsonl(path: Path, torn_tail_ok: bool = False) -> Iterator[dict[str, Any]]:
    """Every record of a JSONL file; a malformed line raises ``ValueError`` naming file and line.

    ``torn_tail_ok`` skips a torn last line (what a crash leaves) instead of raising.
    """
    lines = list(iter_lines(path))
    for index, (number, line) in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if torn_tail_ok and index == len(lines) - 1:
                logger.warning("%s:%d: skipped a torn last line (that request will be redone)", path, number)
                return
            raise ValueError(f"{path}:{number}: not valid JSON ({err.msg}); fix or delete that line") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        yield record


RecordCheck = Callable[[Mapping[str, Any], str], None]


def read_keyed(
    path: Path, key_fields: Sequence[str], check: RecordCheck | None = None, repair: bool = True
) -> dict[tuple, dict[str, Any]]:
    """A record file's records by key (a later line replaces an earlier one); {} if absent.

    The torn tail is repaired first (or skipped, if the file is read-only); ``check(record, where)``
    may refuse a malformed record with one line naming ``file:line``; a record missing a key field
    is refused here in the same way. Records must be hashable by key, so ``check`` should insist on
    plain values in the key fields.
    """
    path = Path(path)
    if not path.exists():
        return {}
    if repair:  # a dry run reads without writing: the torn line is then only skipped
        repair_torn_tail(path)
    records: dict[tuple, dict[str, Any]] = {}
    numbered = iter_lines(path)
    for record in read_jsonl(path, torn_tail_ok=True):
        where = f"{path}:{next(numbered)[0]}"
        for name in key_fields:
            if name not in record:
                raise ValueError(f"{where}: field {name!r} missing")
        if check is not None:
            check(record, where)
        records[tuple(record[name] for name in key_fields)] = record
    return records


class RecordFile:
    """One append-only JSONL file keyed by ``key_fields``; finished keys are skipped on resume."""

    def __init__(self, path: Path, key_fields: Sequence[str], check: RecordCheck | None = None) -> None:
        self.path = Path(path)
        self.key_fields = tuple(key_fields)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records: dict[tuple, dict[str, Any]] = read_keyed(self.path, self.key_fields, check)
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for appends
        self._lock = threading.Lock()

    def key(self, record: Mapping[str, Any]) -> tuple:
        """The record's key: its values of ``key_fields``."""
        return tuple(record[name] for name in self.key_fields)

    def __contains__(self, key: tuple) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one finished record now: one line, flushed and fsynced before returning.

        Text is kept valid UTF-8: a lone surrogate (which a hostile server can send as ``\\ud800``)
        is written escaped, so the line can always be read back.
        """
        line = json.dumps(record, ensure_ascii=False).encode("utf-8", "backslashreplace").decode("utf-8")
        with self._lock:  # the pipelined stages append from several threads
            self._handle.write(line + "\n")
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self.records[self.key(record)] = dict(record)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> RecordFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
