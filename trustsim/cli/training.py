"""The training command: ``pairs`` (Algorithm 1). Training itself is ``accelerate launch recipes/adaorpo.py``."""

from __future__ import annotations

import argparse
from pathlib import Path


def _pairs_command(args: argparse.Namespace) -> int:
    from trustsim.training.pairs import SCORE_HINT, make_pairs

    summary = make_pairs(
        args.runs, args.target, args.output, dataset=args.dataset, split=args.split,
        push_to_hub=args.push_to_hub, private=args.private,
    )  # fmt: skip
    skipped = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in summary["skipped"].items())
    print(f"{summary['pairs']} pairs for {summary['target']} -> {args.output} (skipped: {skipped})")
    if summary["skipped"]["alternatives_unscored"]:
        print(f"note: {SCORE_HINT}")
    return 0


def add_training_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``pairs`` to the ``trustsim`` parser."""
    p = sub.add_parser("pairs", help="Algorithm 1: preference pairs for AdaORPO from several judged runs")
    p.add_argument("--runs", nargs="+", required=True, type=Path, metavar="RUN_DIR", help="candidate runs, best first")
    p.add_argument("--target", required=True, type=Path, metavar="RUN_DIR", help="run of the model to train")
    p.add_argument("--output", "-o", required=True, type=Path, help="folder for the dataset (save_to_disk)")
    p.add_argument(
        "--dataset", default=None, help="dataset folder or Hub id (default: the target run's, else the shipped copy)"
    )
    p.add_argument(
        "--split",
        default="train",
        choices=("train", "test", "all"),
        help="instances of the adaorpo config's train (default) or test split, or all",
    )
    p.add_argument("--push-to-hub", default=None, metavar="REPO_ID", help="also push the pairs (token from HF_TOKEN)")
    p.add_argument("--private", action="store_true")
    p.set_defaults(func=_pairs_command)

