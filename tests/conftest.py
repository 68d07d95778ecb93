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
