"""The integration commands: ``import-inspect`` turns an inspect_ai log of ``trustsim/trustsim`` into a run folder."""

from __future__ import annotations

import argparse
from pathlib import Path


def _import_inspect_command(args: argparse.Namespace) -> int:
    try:
        from trustsim.integrations.inspect_log import inspect_log_to_run
    except ImportError as err:  # inspect_ai is an optional extra
        raise ImportError(f"reading inspect logs needs inspect_ai ({err}); pip install -e '.[inspect]'") from None

    imported = inspect_log_to_run(args.log, args.output)
    print(f"imported {args.log} -> {imported}")
    print(f"next: trustsim score {args.output}  (or trustsim report / trustsim pairs)")
    return 0


def add_integration_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``import-inspect`` to the ``trustsim`` parser."""
    p = sub.add_parser(
        "import-inspect",
        help="an inspect_ai log of trustsim/trustsim as a run folder (responses.jsonl, judgments.jsonl, run.json)",
    )
    p.add_argument("log", type=Path, metavar="LOG", help="the .eval or .json log of `inspect eval trustsim/trustsim`")
    p.add_argument("--output", "-o", type=Path, required=True, help="a new run folder, e.g. runs/my-model-inspect")
    p.set_defaults(func=_import_inspect_command)
