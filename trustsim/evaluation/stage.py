"""What the request-sending stages (generate, judge) share: their summary and the failure record.

A request that fails after the backend's retries becomes one ``failures.jsonl`` line, keyed like the
record it failed to produce, so a later success supersedes it and the next run retries it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class StageSummary:
    """What one stage did: asked, skipped because already done, finished now, failed now."""

    requested: int = 0
    skipped: int = 0
    finished: int = 0
    failed: int = 0

    def __str__(self) -> str:
        return (
            f"{self.finished} finished, {self.failed} failed, "
            f"{self.skipped} already done (of {self.requested + self.skipped})"
        )


def failure_record(stage: str, key: tuple, spec: str, template: str | None, error: str) -> dict:
    """The ``failures.jsonl`` line for a request that failed after every retry."""
    return {"stage": stage, "id": key[0], "question_type": key[1], "spec": spec, "template": template, "error": error}
