"""Every default of the evaluation, in one place: the command line, :class:`EvalConfig`, the backends
and the recipe all read them from here, so changing one changes it everywhere.
"""

from __future__ import annotations

#: Subject model sampling: answers up to 512 new tokens, sampled at temperature 0.7.
MAX_NEW_TOKENS = 512
TEMPERATURE = 0.7
TOP_P = 1.0
SEED = 0

#: Judges are deterministic: temperature 0 and a fixed seed where the server takes one.
JUDGE_MAX_NEW_TOKENS = 1024
JUDGE_TEMPERATURE = 0.0
JUDGE_SEED = 0

#: Requests in flight per ``openai:`` model.
CONCURRENCY = 16
#: Seconds one HTTP request may take, and retries on 429/5xx/timeouts.
TIMEOUT = 120.0
MAX_RETRIES = 6
#: Seconds the one-off check of a server (before a stage sends requests) may take.
CHECK_TIMEOUT = 10.0
#: Prompts per batch for ``hf:`` models.
BATCH_SIZE = 8

#: The dataset config and split evaluated when none is given.
DATASET_CONFIG = "default"
DATASET_SPLIT = "test"

#: Cosine similarity above which two instance texts are near-duplicates (bench/near_duplicate_threshold.py).
NEAR_DUPLICATE_THRESHOLD = 0.85
