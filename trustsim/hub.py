"""Publishing to the Hugging Face Hub. Tokens come from the environment (``HF_TOKEN``) or the
``huggingface-cli login`` cache, never from arguments, so they cannot land in shell history or logs."""

from __future__ import annotations

from pathlib import Path

#: Files never uploaded with the dataset folder (editor and OS litter).
IGNORE_PATTERNS = ["*.pyc", "__pycache__/*", ".DS_Store", "*~", ".*.swp"]


def push_dataset_folder(
    folder: Path,
    repo_id: str,
    private: bool = False,
    revision: str | None = None,
    commit_message: str = "Upload TRUSTSIM dataset",
) -> str:
    """Create the dataset repo if needed and upload ``folder`` as it is; returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if revision:
        api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
    info = api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        repo_type="dataset",
        revision=revision,
        commit_message=commit_message,
        ignore_patterns=IGNORE_PATTERNS,
    )
    return str(getattr(info, "commit_url", info))
