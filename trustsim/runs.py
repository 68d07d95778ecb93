"""A run directory: its record files, its ``run.json`` manifest, and the lock that guards it.

``run.json`` says exactly what produced the records beside it: model and judge specs, sampling,
the dataset's fingerprint, prompt and template versions, package versions and token usage. A
resumed run compares what the new command asks for with what is recorded and refuses a mismatch,
because records made with two settings mixed in one file would silently corrupt every number.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from trustsim.records import JUDGMENT_KEY, RESPONSE_KEY, RecordFile, WriteError, read_keyed, write_atomic
from trustsim.schema import QUESTION_TYPES

MANIFEST = "run.json"
RESPONSES = "responses.jsonl"
JUDGMENTS = "judgments.jsonl"
FAILURES = "failures.jsonl"
METRICS = "metrics.json"
REPORT = "report.md"
INSTANCES_TABLE = "instances.parquet"
LOCK = ".trustsim.lock"

#: A failure is keyed like the record it failed to produce; a later success supersedes it.
FAILURE_KEY: tuple[str, ...] = ("stage", "id", "question_type", "spec", "template")

RECORD_KEYS: dict[str, tuple[str, ...]] = {RESPONSES: RESPONSE_KEY, JUDGMENTS: JUDGMENT_KEY, FAILURES: FAILURE_KEY}

#: Packages whose versions change outputs; recorded in ``run.json``.
PACKAGES = ("trustsim", "torch", "transformers", "datasets", "evaluate", "openai", "vllm", "trl")


def _field_error(where: str, name: str, record: Mapping[str, Any], wanted: str) -> ValueError:
    problem = "missing" if name not in record else f"is {record[name]!r}, not {wanted}"
    return ValueError(f"{where}: field {name!r} {problem}")


def _check_common(record: Mapping[str, Any], where: str) -> None:
    if not isinstance(record.get("id"), str) or not record["id"]:
        raise _field_error(where, "id", record, "an instance id")
    if record.get("question_type") not in QUESTION_TYPES:
        raise _field_error(where, "question_type", record, " or ".join(QUESTION_TYPES))


def check_response(record: Mapping[str, Any], where: str) -> None:
    """A ``responses.jsonl`` line has the documented fields with the documented types."""
    _check_common(record, where)
    if not isinstance(record.get("response"), str):
        raise _field_error(where, "response", record, "the answer's text")
    if "model" in record and not isinstance(record["model"], str):
        raise _field_error(where, "model", record, "a model name")


def check_judgment(record: Mapping[str, Any], where: str) -> None:
    """A ``judgments.jsonl`` line has the documented fields with the documented types."""
    _check_common(record, where)
    if not isinstance(record.get("judge"), str) or not record["judge"]:
        raise _field_error(where, "judge", record, "a judge name")
    if record.get("template") not in ("binary", "score"):
        raise _field_error(where, "template", record, "binary or score")
    verdict = record.get("verdict")
    if not (verdict is None or isinstance(verdict, bool)):
        raise _field_error(where, "verdict", record, "true, false or null")
    score = record.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float) or not 1 <= score <= 5):
        raise _field_error(where, "score", record, "a number from 1 to 5 or null")


def check_failure(record: Mapping[str, Any], where: str) -> None:
    """A ``failures.jsonl`` line names its stage, its request and the error."""
    if record.get("stage") not in ("generate", "judge"):
        raise _field_error(where, "stage", record, "generate or judge")
    _check_common(record, where)
    if not isinstance(record.get("spec"), str):
        raise _field_error(where, "spec", record, "the backend spec")
    if not (record.get("template") is None or isinstance(record["template"], str)):
        raise _field_error(where, "template", record, "a template name or null")


RECORD_CHECKS = {RESPONSES: check_response, JUDGMENTS: check_judgment, FAILURES: check_failure}


class RunSettingsError(ValueError):
    """A command asks for settings other than the ones the run directory was made with."""


class RunLockedError(RuntimeError):
    """Another process is writing to the same run directory."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages in :data:`PACKAGES` (absent ones are left out)."""
    versions = {}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


class RunDir:
    """The files of one model's evaluation (see docs/architecture.md)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    @contextlib.contextmanager
    def locked(self) -> Iterator[RunDir]:
        """Hold an exclusive lock for the duration, so two processes never append to one run."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            handle = open(self.file(LOCK), "w")  # noqa: SIM115 - closed below, after the lock is released
        except OSError as err:
            raise WriteError(
                err.errno, f"{self.path}: cannot write to this run ({err.strerror}); copy it somewhere writable"
            ) from None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunLockedError(
                    f"{self.path}: another trustsim process is writing to this run; wait for it or stop it"
                ) from None
            try:
                yield self
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def open(self, name: str) -> RecordFile:
        """The record file ``name`` opened for appending (its torn tail repaired, its lines checked)."""
        return RecordFile(self.file(name), RECORD_KEYS[name], RECORD_CHECKS[name])

    def responses(self) -> RecordFile:
        return self.open(RESPONSES)

    def judgments(self) -> RecordFile:
        return self.open(JUDGMENTS)

    def failures(self) -> RecordFile:
        return self.open(FAILURES)

    def read(self, name: str) -> list[dict[str, Any]]:
        """The records of ``name``, the last one per key (as a resumed run sees them); [] if absent."""
        return list(self.records(name).values())

    def records(self, name: str, repair: bool = True) -> dict[tuple, dict[str, Any]]:
        """The records of ``name`` by their key; a later line for a key replaces an earlier one.

        ``repair=False`` reads without touching the file (a dry run writes nothing).
        """
        return read_keyed(self.file(name), RECORD_KEYS[name], RECORD_CHECKS[name], repair=repair)

    # The manifest -------------------------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        path = self.file(MANIFEST)
        if not path.exists():
            return {}
        try:
            manifest = json.loads(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            reason = err.msg if isinstance(err, json.JSONDecodeError) else "not UTF-8"
            raise ValueError(f"{path}: not valid JSON ({reason}); restore it or start a new run") from None
        if not isinstance(manifest, dict):
            kind = type(manifest).__name__
            raise ValueError(f"{path}: expected a JSON object, got {kind}; restore it or start a new run")
        for section in ("dataset", "generation", "judging", "usage"):
            if section in manifest and not isinstance(manifest[section], dict):
                raise ValueError(f"{path}: {section!r} must be a JSON object, got {type(manifest[section]).__name__}")
        return manifest

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        """Replace ``run.json`` atomically: a crash leaves the old or the new file, never half of one."""
        text = json.dumps({**manifest, "updated": now()}, indent=2, ensure_ascii=False)
        write_atomic(self.file(MANIFEST), text + "\n")


def check_settings(path: Path, section: str, recorded: Mapping[str, Any], wanted: Mapping[str, Any]) -> None:
    """Refuse, naming every difference, when ``wanted`` disagrees with what ``run.json`` holds."""
    differences = [
        f"{key} was {recorded[key]!r}, now {wanted[key]!r}"
        for key in wanted
        if key in recorded and recorded[key] != wanted[key]
    ]
    if differences:
        raise RunSettingsError(
            f"{path / MANIFEST}: this run's {section} differs ({'; '.join(differences)}); "
            "resume with the same settings, or write to a new --output"
        )


def open_section(run: RunDir, section: str, compared: Mapping[str, Any], extra: Mapping[str, Any]) -> dict:
    """Check ``compared`` against the manifest's ``section`` and record ``compared`` + ``extra`` there.

    ``compared`` settings must match a resumed run; ``extra`` ones (a base URL, a batch size) may
    change freely because they do not change what the model says.
    """
    manifest = run.manifest()
    recorded = manifest.get(section, {})
    check_settings(run.path, section, recorded, compared)
    manifest.setdefault("trustsim_version", package_versions().get("trustsim"))
    manifest.setdefault("created", now())
    old_packages = manifest.get("packages")
    packages = package_versions()
    if old_packages and old_packages != packages:
        manifest.setdefault("resumed_with_packages", []).append(packages)
    manifest.setdefault("packages", packages)
    manifest[section] = {**recorded, **compared, **extra}
    run.write_manifest(manifest)
    return manifest


def bind_dataset(run: RunDir, dataset: Mapping[str, Any]) -> None:
    """Record the dataset on a new run; on a resumed one refuse data with another fingerprint.

    Only the content counts (fingerprint, config, split): the folder may move between runs.
    """
    manifest = run.manifest()
    compared = {key: dataset[key] for key in ("fingerprint", "config", "split")}
    check_settings(run.path, "dataset", manifest.get("dataset", {}), compared)
    if "dataset" not in manifest:
        manifest["dataset"] = dict(dataset)
        run.write_manifest(manifest)


def usage(records: Iterable[Mapping[str, Any]], spec_field: str) -> dict[str, dict[str, int]]:
    """Requests and tokens summed per spec, from the records themselves (so a crash loses no count)."""
    totals: dict[str, dict[str, int]] = {}
    for record in records:
        entry = totals.setdefault(
            record[spec_field], {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "cache_hits": 0}
        )
        entry["requests"] += int(record.get("requests", 1))
        entry["cache_hits"] += bool(record.get("cached"))
        entry["prompt_tokens"] += int(record.get("prompt_tokens") or 0)
        entry["completion_tokens"] += int(record.get("completion_tokens") or 0)
    return totals


def record_usage(run: RunDir) -> dict[str, Any]:
    """Rewrite ``run.json``'s ``usage`` from the record files."""
    manifest = run.manifest()
    manifest["usage"] = {
        "model": usage(run.read(RESPONSES), "model"),
        "judges": usage(run.read(JUDGMENTS), "judge"),
    }
    run.write_manifest(manifest)
    return manifest["usage"]
