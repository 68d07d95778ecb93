"""The dataset commands: ``validate-dataset``, ``dataset-stats``, ``add-instances``, ``push-dataset``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from trustsim import defaults
from trustsim.dataset import DEFAULT_DATASET_PATH


def _refuse(problems: Sequence[object], outcome: str) -> int:
    """Print each problem on its own line, then what was not done; the exit status for failure."""
    for problem in problems:
        print(problem, file=sys.stderr)
    print(outcome, file=sys.stderr)
    return 1


def _validate_dataset(args: argparse.Namespace) -> int:
    from trustsim.dataset.stats import compute_statistics
    from trustsim.dataset.validate import validate_path

    threshold = None if args.no_near_duplicates else args.threshold
    result = validate_path(args.path, threshold=threshold)
    problems = result.problems
    for line in [*problems, *result.near_duplicates]:
        print(line, file=sys.stderr)
    stats = compute_statistics(result.records)
    per_dim = ", ".join(f"{d} {stats['per_dimension'][d]}" for d in stats["dimensions"])
    print(f"{stats['n']} valid instances ({per_dim})")
    for name, w in stats["words"].items():
        print(f"{name} questions: mean {w['mean']:.1f} words, {w['share_10_25']:.0%} with 10-25 words")
    for kind, pair in result.closest.items():
        print(f"closest {kind} pair: {pair.id_a} and {pair.id_b} (cosine {pair.similarity:.3f})")
    checked = "skipped" if threshold is None else f"threshold {threshold}"
    print(f"{len(problems)} problem(s), {len(result.near_duplicates)} near-duplicate pair(s) ({checked})")
    return 0 if result.ok else 1


def _dataset_stats(args: argparse.Namespace) -> int:
    from trustsim.dataset.card import card_problem, write_card
    from trustsim.dataset.validate import check_lost_rows, validate_path

    result = validate_path(args.path, threshold=None, card=False)
    problems = list(result.problems)
    if not problems:
        problems = [p for p in [card_problem(args.path / "README.md")] if p]
    if not problems and not args.accept_removals:
        problems = check_lost_rows(args.path, result.rows)
    if problems:
        return _refuse(problems, "not writing statistics: nothing written")
    card, figure = write_card(args.path, result.records)
    print(f"wrote {card} and {figure} ({len(result.records)} instances)")
    return 0


def _add_instances(args: argparse.Namespace) -> int:
    """Check everything (the card, every existing and new row) before writing anything."""
    from trustsim.dataset import stored_files, write_dataset
    from trustsim.dataset.card import card_problem, write_card
    from trustsim.dataset.validate import check_lost_rows, read_rows

    card = card_problem(args.dataset / "README.md")
    if card:
        return _refuse([card], "nothing written")
    existing, problems = read_rows(stored_files(args.dataset))
    if not problems:
        problems = check_lost_rows(args.dataset, existing)
    new, new_problems = read_rows(args.files)
    problems += new_problems
    known = {row.record["id"]: row for row in existing}
    for row in new:
        if row.record["id"] in known and not args.replace:
            old = known[row.record["id"]]
            problems.append(
                f"{row.file}:{row.line}: field 'id': {row.record['id']!r} already in the dataset "
                f"({old.file}:{old.line}); pass --replace to overwrite it"
            )
    if problems:
        return _refuse(problems, "nothing written")
    merged = {row.record["id"]: row.record for row in existing} | {row.record["id"]: row.record for row in new}
    files = write_dataset(args.dataset, merged.values())
    write_card(args.dataset, list(merged.values()))
    print(
        f"added {len(new)} instance(s); {len(merged)} in {len(files)} file(s) under {args.dataset}; statistics updated"
    )
    return 0


def _push_dataset(args: argparse.Namespace) -> int:
    from trustsim.dataset.validate import validate_path
    from trustsim.hub import push_dataset_folder

    if not args.skip_validation:
        result = validate_path(args.path, threshold=None)
        if result.problems:
            return _refuse(result.problems, f"not pushing {args.path}: fix the problems or pass --skip-validation")
    url = push_dataset_folder(
        args.path, args.repo_id, private=args.private, revision=args.revision, commit_message=args.commit_message
    )
    print(f"pushed {args.path} to {args.repo_id}: {url}")
    return 0


def add_dataset_commands(sub: argparse._SubParsersAction) -> None:
    """Add the dataset commands to the ``trustsim`` parser."""
    p = sub.add_parser("validate-dataset", help="check every instance, find near-duplicates, summarise the dataset")
    p.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=DEFAULT_DATASET_PATH,
        help="dataset folder or JSONL file (default: %(default)s)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=defaults.NEAR_DUPLICATE_THRESHOLD,
        help="cosine similarity above which two texts are near-duplicates (default: %(default)s)",
    )
    p.add_argument("--no-near-duplicates", action="store_true", help="skip the embedding-based near-duplicate check")
    p.set_defaults(func=_validate_dataset)

    p = sub.add_parser("dataset-stats", help="rewrite the dataset card's statistics section and figure")
    p.add_argument(
        "path", nargs="?", type=Path, default=DEFAULT_DATASET_PATH, help="dataset folder (default: %(default)s)"
    )
    p.add_argument(
        "--accept-removals",
        action="store_true",
        help="instances were removed on purpose: take the data files as they are (otherwise a file with fewer "
        "instances than the card recorded is refused as lost data)",
    )
    p.set_defaults(func=_dataset_stats)

    p = sub.add_parser(
        "add-instances",
        help="add JSONL instances, each placed in its fixed split half (no files: re-place the existing ones)",
    )
    p.add_argument("files", nargs="*", type=Path, help="JSONL files of new instances")
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET_PATH, help="dataset folder (default: %(default)s)")
    p.add_argument("--replace", action="store_true", help="overwrite instances whose id already exists")
    p.set_defaults(func=_add_instances)

    p = sub.add_parser("push-dataset", help="upload the dataset folder to the Hugging Face Hub (token from HF_TOKEN)")
    p.add_argument("repo_id", help="dataset repository, e.g. your-name/trustsim")
    p.add_argument("--path", type=Path, default=DEFAULT_DATASET_PATH, help="dataset folder (default: %(default)s)")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--revision", default=None, help="branch to push to (created if missing)")
    p.add_argument("--commit-message", default="Upload TRUSTSIM dataset")
    p.add_argument("--skip-validation", action="store_true", help="push even if rows fail validation")
    p.set_defaults(func=_push_dataset)

