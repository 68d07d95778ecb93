"""Where the files that ship beside the package live: the dataset, the metric module, the card template.

They sit next to ``trustsim/`` in the repository (an editable install, the README's set-up), so they
are found from the package itself, wherever the user stands; never from the working directory, which
would silently pick up another copy (or a stale Hugging Face cache of one) outside the repository.
"""

from __future__ import annotations

from pathlib import Path

#: The repository (or source tree) the package was installed from.
REPO_ROOT: Path = Path(__file__).resolve().parents[1]
#: The shipped TRUSTSIM dataset folder: the default of every command that reads instances.
SHIPPED_DATASET: Path = REPO_ROOT / "trustsim_dataset"
#: The ``evaluate`` metric module: ``evaluate.load(str(METRIC_DIR))``.
METRIC_DIR: Path = REPO_ROOT / "metrics" / "trustsim_consistency"
#: The AdaORPO model-card template filled in after training.
MODEL_CARD_TEMPLATE: Path = REPO_ROOT / "model_cards" / "adaorpo_template.md"
