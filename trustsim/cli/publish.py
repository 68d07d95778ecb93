"""The commands that publish and check a run: ``export-run``, ``push-run``, ``annotate``, ``push-metric``.

Each is a thin shell over a library function; errors are the usual one line (``trustsim COMMAND:
error: ...``, exit status 2), Hub errors included, and the token comes from ``HF_TOKEN`` or the login
cache, never from the command line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from trustsim.runs import RESPONSES, RunDir


def _run(path: Path) -> RunDir:
    """The run directory at ``path``; a one-line error when it holds no answers."""
    run = RunDir(path)
    if not run.file(RESPONSES).exists():
        raise FileNotFoundError(f"{run.path}: no responses.jsonl; run `trustsim generate` or `trustsim eval` first")
    return run


def _export_command(args: argparse.Namespace) -> int:
    from trustsim.evaluation.export import export_run

    run = _run(args.run_dir)
    with run.locked():  # a live eval is still writing the records
        path = export_run(run, args.output, name=args.name, dataset=args.dataset)
    print(f"exported {run.path} as config {path.parent.name!r}: {path} (load_dataset({str(args.output)!r}, "
          f"{path.parent.name!r}))")  # fmt: skip
    return 0


def _push_run_command(args: argparse.Namespace) -> int:
    from trustsim.evaluation.export import config_name, push_run

    run = _run(args.run_dir)
    with run.locked():
        url = push_run(run, args.repo_id, name=args.name, dataset=args.dataset, private=args.private,
                       revision=args.revision)  # fmt: skip
    print(f"pushed {run.path} to {args.repo_id} as config {config_name(run, args.name)!r}: {url}")
    return 0


def _annotate_command(args: argparse.Namespace) -> int:
    from trustsim.evaluation.annotate import write_sheet

    run = _run(args.run_dir)
    with run.locked():
        paths = write_sheet(run, args.n, args.output, seed=args.seed, dataset=args.dataset, overwrite=args.force)
    print(f"{args.n} answers to label: {paths['csv']} and {paths['jsonl']} (order and seed in {paths['meta']}); "
          f"fill `label`, then `trustsim report {run.path} --human-labels {paths['csv']} --output DIR`")  # fmt: skip
    return 0


def _push_metric_command(args: argparse.Namespace) -> int:
    from trustsim.evaluation.metric_space import push_metric

    url = push_metric(args.repo_id, private=args.private)
    print(f"pushed the metric to the Space {args.repo_id}: {url}; evaluate.load({args.repo_id!r}) loads it")
    return 0


def _dataset_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset",
        default=None,
        help="dataset folder or Hub id the answers belong to (default: the one run.json names, else the shipped copy)",
    )


def add_publish_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``export-run``, ``push-run``, ``annotate`` and ``push-metric`` to the ``trustsim`` parser."""
    p = sub.add_parser("export-run", help="a run as a no-code Hub dataset folder: one row per answer, every judgment")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("--output", "-o", type=Path, required=True, help="dataset folder (other runs there are kept)")
    p.add_argument("--name", default=None, help="config name (default: the run folder's name)")
    _dataset_argument(p)
    p.set_defaults(func=_export_command)

    p = sub.add_parser("push-run", help="export a run and upload it to a Hub dataset repo as one config")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("repo_id", help="dataset repository, e.g. your-name/trustsim-runs")
    p.add_argument("--name", default=None, help="config name (default: the run folder's name)")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--revision", default=None, help="branch to push to (created if missing)")
    _dataset_argument(p)
    p.set_defaults(func=_push_run_command)

    p = sub.add_parser("annotate", help="a blinded sheet of sampled answers for people to label (checks the judges)")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("--n", type=int, required=True, help="answers to sample (at most the run's answers)")
    p.add_argument(
        "--output", "-o", type=Path, required=True, help="SHEET.csv or SHEET.jsonl: writes both and SHEET.meta.json"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the sample and the row order (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="replace an existing sheet (its labels are lost)")
    _dataset_argument(p)
    p.set_defaults(func=_annotate_command)

    p = sub.add_parser("push-metric", help="publish the trustsim_consistency metric as a Hub Space for evaluate.load")
    p.add_argument("repo_id", help="the Space: <owner>/trustsim_consistency")
    p.add_argument("--private", action="store_true", help="create the Space as private")
    p.set_defaults(func=_push_metric_command)
