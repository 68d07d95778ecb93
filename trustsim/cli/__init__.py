"""The ``trustsim`` command line. Each subcommand is a thin shell over a library function."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from trustsim import __version__
from trustsim.cli.dataset import add_dataset_commands
from trustsim.cli.evaluation import add_eval_commands
from trustsim.cli.integrations import add_integration_commands
from trustsim.cli.publish import add_publish_commands
from trustsim.cli.training import add_training_commands
from trustsim.records import WriteError
from trustsim.secrets import redact


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
    add_publish_commands(sub)
    add_training_commands(sub)
    add_integration_commands(sub)
    return parser


class _Redact(logging.Filter):
    """Every log line goes out with secrets redacted (a server or the Hub may echo a key or token)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


def _error_text(err: BaseException) -> str:
    """One line for an error: an OS error as ``file: cause``, anything else as its message."""
    if isinstance(err, WriteError):
        text = err.strerror
    elif isinstance(err, OSError) and err.strerror:
        text = f"{err.filename}: {err.strerror}" if err.filename else err.strerror
    else:
        text = str(err)
    return redact(" ".join(str(text).split()))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trustsim`` console script; returns the exit status.

    0: done; 1: the input was checked and refused (validation problems); 2: an error, in one line;
    3: the run finished but requests are left failed (they are retried by re-running the command);
    130: interrupted.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="trustsim: %(levelname)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _Redact) for f in handler.filters):
            handler.addFilter(_Redact())
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
    except (OSError, ValueError, RuntimeError, ImportError) as err:
        print(f"trustsim {args.command}: error: {_error_text(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
