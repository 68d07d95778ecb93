"""The TRUSTSIM dataset folder: its files and fixed split (:mod:`.files`), the quality gate
(:mod:`.validate`), statistics and figure (:mod:`.stats`) and the card's generated parts (:mod:`.card`).

The lowest stage: it imports nothing from evaluation or training.
"""

from trustsim._lazy import lazy_exports
from trustsim.dataset.files import (
    DATA_DIR,
    DEFAULT_DATASET_PATH,
    SPLIT_HALVES,
    assign_splits,
    data_files,
    dataset_fingerprint,
    load_trustsim,
    read_records,
    stored_files,
    write_dataset,
)

__all__ = [
    "DATA_DIR",
    "DEFAULT_DATASET_PATH",
    "SPLIT_HALVES",
    "assign_splits",
    "data_files",
    "dataset_fingerprint",
    "load_trustsim",
    "read_records",
    "stored_files",
    "validate_path",
    "write_dataset",
]

# The validator loads numpy and (for near-duplicates) sentence-transformers: imported on first use.
__getattr__, __dir__ = lazy_exports(__name__, {"validate_path": "trustsim.dataset.validate"})
