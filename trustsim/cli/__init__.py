"""The ``trustsim`` command line. Each subcommand is a thin shell over a library function."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from trustsim import __version__
from trustsim.cli.dataset import add_dataset_commands
from trustsim.cli.evaluation import add_eval_commands
from trustsim.cli.training import add_training_commands


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="trustsim",
        description="Benchmark and improve how reliably language models play social characters (TRUSTSIM).",
    )
    parser.add_argument("--version", action="version", version=f"trustsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    add_dataset_commands(sub)
    add_eval_commands(sub)
    add_training_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trustsim`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="trustsim: %(levelname)s: %(message)s")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        where = getattr(args, "output", None)
        saved = f" in {where}" if where else ""
        print(
            f"trustsim {args.command}: interrupted; finished records are saved{saved}; run the same command to resume",
            file=sys.stderr,
        )
        return 130
    except (FileNotFoundError, ValueError, RuntimeError, ImportError) as err:
        print(f"trustsim {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
