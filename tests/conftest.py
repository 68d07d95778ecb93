"""Shared fixtures. Everything runs offline on CPU: no Hub, no network."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from trustsim.paths import SHIPPED_DATASET

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# A private datasets cache per test session, so no run reads what an earlier one cached.
os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="trustsim-datasets-cache-")



@pytest.fixture
def dataset_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped dataset folder that a test may break."""
    target = tmp_path / "trustsim_dataset"
    shutil.copytree(SHIPPED_DATASET, target)
    return target


@pytest.fixture(scope="session")
def embedder():
    """The real offline MiniLM embedder, loaded once for the whole session."""
    from trustsim.dataset.validate import minilm_embedder

    return minilm_embedder()


@pytest.fixture(scope="session")
def mock_run_source(tmp_path_factory) -> Path:
    """One finished evaluation with offline mock backends (a model, two judges, six instances), made once."""
    from trustsim.cli import main

    run = tmp_path_factory.mktemp("mock-run") / "mock-run"
    args = ["eval", "--model", "mock:subject", "--judge", "mock:judge-a", "--judge", "mock:judge-b",
            "--limit", "6", "--no-cache", "--output", str(run)]  # fmt: skip
    assert main(args) == 0
    return run


@pytest.fixture
def mock_run(mock_run_source: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`mock_run_source` that a test may change."""
    target = tmp_path / "runs" / "mock-run"
    shutil.copytree(mock_run_source, target, ignore=shutil.ignore_patterns(".trustsim.lock"))
    return target
