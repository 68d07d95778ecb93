"""Publishing to the Hugging Face Hub. Tokens come from the environment (``HF_TOKEN``) or the
``huggingface-cli login`` cache, never from arguments, so they cannot land in shell history or logs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from trustsim.secrets import redact

#: Files never uploaded with the dataset folder (editor and OS litter).
IGNORE_PATTERNS = ["*.pyc", "__pycache__/*", ".DS_Store", "*~", ".*.swp"]


def push_folder(
    folder: str | Path,
    repo_id: str,
    repo_type: str,
    commit_message: str,
    private: bool | None = None,
    revision: str | None = None,
    ignore_patterns: list[str] | None = None,
    create_repo: bool = True,
    space_sdk: str | None = None,
    delete_patterns: list[str] | None = None,
) -> str:
    """Create the repo (unless the caller did, e.g. before a long training run) and the branch if
    needed, then upload ``folder`` as it is; returns the commit URL. A Space needs ``space_sdk``;
    ``delete_patterns`` removes remote files the upload replaces (in the same commit)."""
    from huggingface_hub import HfApi

    api = HfApi()
    with hub_errors(repo_id):
        if create_repo:
            extra = {"space_sdk": space_sdk} if space_sdk else {}
            api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, **extra)
        if revision:
            api.create_branch(repo_id, branch=revision, repo_type=repo_type, exist_ok=True)
        info = api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            repo_type=repo_type,
            revision=revision,
            commit_message=commit_message,
            ignore_patterns=[*IGNORE_PATTERNS, *(ignore_patterns or [])],
            **({"delete_patterns": delete_patterns} if delete_patterns else {}),
        )
    return str(getattr(info, "commit_url", info))


def download_text(repo_id: str, filename: str, repo_type: str, revision: str | None = None) -> str | None:
    """The text of ``filename`` in the repo, or None when the repo, the branch or the file does not exist.

    Used before an upload that merges with what is there (``push-run`` keeps the other runs' configs).
    A branch that does not exist yet will be made from the default one, so its file is read instead.
    Offline, or with a refused token, it fails like a push: one line, as :class:`HubError`.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RemoteEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    api = HfApi()
    with hub_errors(repo_id):
        for branch in dict.fromkeys([revision, None]):
            try:
                path = api.hf_hub_download(repo_id, filename, repo_type=repo_type, revision=branch)
            except (RemoteEntryNotFoundError, RepositoryNotFoundError):
                return None
            except RevisionNotFoundError:
                continue
            return Path(path).read_text(encoding="utf-8")
    return None


class HubError(RuntimeError):
    """The Hub refused or could not be reached; one line, the token never in it."""


@contextlib.contextmanager
def hub_errors(repo_id: str) -> Iterator[None]:
    """Turn the Hub client's errors (offline, bad token, no permission) into one redacted line."""
    try:
        yield
    except HubError:
        raise
    except Exception as err:  # huggingface_hub raises HTTP, connection and offline-mode errors of many kinds
        from huggingface_hub import constants
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

        offline = isinstance(err, LocalEntryNotFoundError) and constants.HF_HUB_OFFLINE  # a download, offline
        if offline or isinstance(err, OfflineModeIsEnabled) or "offline" in str(err).lower():
            hint = "the Hub is not reachable in offline mode (HF_HUB_OFFLINE is set)"
        elif isinstance(err, HfHubHTTPError) and getattr(err.response, "status_code", None) in (401, 403):
            hint = "the Hub refused the token: set HF_TOKEN to a token with write access, or `hf auth login`"
        elif isinstance(err, HfHubHTTPError | OSError | ConnectionError):
            hint = "the Hub could not be reached or refused the request"
        else:
            raise
        detail = redact(" ".join(str(err).split()))[:200]
        raise HubError(f"pushing to {repo_id}: {hint} ({detail})") from None


def push_dataset_folder(
    folder: Path,
    repo_id: str,
    private: bool = False,
    revision: str | None = None,
    commit_message: str = "Upload TRUSTSIM dataset",
) -> str:
    """Upload the dataset folder to a dataset repo; returns the commit URL."""
    return push_folder(folder, repo_id, "dataset", commit_message, private=private, revision=revision)
