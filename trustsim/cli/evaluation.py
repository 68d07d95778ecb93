"""The evaluation commands: ``eval`` and its stages ``generate``, ``judge``, ``score``, ``report``.

Every stage reads the run directory's files and appends to its own, so re-running a command resumes
it, and ``eval`` is nothing but the stages in a row.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
from pathlib import Path

from trustsim import defaults
from trustsim.dataset import DEFAULT_DATASET_PATH
from trustsim.evaluation.config import STAGES, VERDICT_METHODS, EvalConfig, eval_config_from_flags
from trustsim.evaluation.hub_results import RESULTS_DIR, RESULTS_FILE
from trustsim.evaluation.run import describe, run_eval
from trustsim.runs import FAILURES, RESPONSES, RunDir

# Arguments -------------------------------------------------------------------------------------


def _add_data_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument(
        "--dataset", default=None, help=f"dataset folder or Hub id (default: the run's, else {DEFAULT_DATASET_PATH})"
    )
    g.add_argument(
        "--config", default=None, help="dataset config: default (all instances) or adaorpo (default: default)"
    )
    g.add_argument("--split", default=None, help="split of that config (default: test)")
    g.add_argument(
        "--subjects", nargs="+", metavar="SUBJECT", help="only these subjects (name, abbreviation or id prefix)"
    )
    g.add_argument("--limit", type=int, default=None, help="only the first N instances, taking subjects in turn")


def _add_backend_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("backends")
    g.add_argument(
        "--concurrency", type=int, help=f"requests in flight per openai: model (default: {defaults.CONCURRENCY})"
    )
    g.add_argument("--timeout", type=float, help=f"seconds per HTTP request (default: {defaults.TIMEOUT:g})")
    g.add_argument("--max-retries", type=int, help=f"retries on 429/5xx/timeouts (default: {defaults.MAX_RETRIES})")
    g.add_argument("--batch-size", type=int, help=f"prompts per batch for hf: models (default: {defaults.BATCH_SIZE})")
    g.add_argument("--device", help="hf: device, e.g. cuda:0 or cpu (default: best available)")
    g.add_argument("--dtype", help="hf: dtype, e.g. bfloat16 (default: bfloat16 on GPU, float32 on CPU)")
    g.add_argument(
        "--no-cache",
        action="store_true",
        default=None,
        help="send every request, even deterministic ones the shared request cache could answer",
    )
    g.add_argument("--cache-dir", help="the request cache (default: $TRUSTSIM_CACHE, else ~/.cache/trustsim)")
    g.add_argument(
        "--dry-run",
        action="store_true",
        help="print how many requests (after resume and cache) and about how many prompt tokens this would "
        "send, per model and judge; send nothing, write nothing",
    )
    g.add_argument(
        "--eval-config",
        type=Path,
        metavar="YAML",
        help="EvalConfig fields from a YAML file; flags given on the command line override it",
    )


def _add_model_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("subject model")
    g.add_argument("--model", help="openai:<model>, hf:<id, folder or .gguf file>, vllm:<id> or mock:<name>")
    g.add_argument("--base-url", help="server of an openai: model (default: $OPENAI_BASE_URL)")
    g.add_argument("--name", help="the model's name in reports (default: its spec; a local path: its file name)")
    g.add_argument("--max-new-tokens", type=int, help=f"(default: {defaults.MAX_NEW_TOKENS})")
    g.add_argument("--temperature", type=float, help=f"(default: {defaults.TEMPERATURE})")
    g.add_argument("--top-p", type=float, help=f"(default: {defaults.TOP_P})")
    g.add_argument("--seed", type=int, help=f"(default: {defaults.SEED})")


def _add_judge_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("judges")
    g.add_argument(
        "--judge",
        action="append",
        metavar="SPEC",
        help="a judge spec; repeat for several (majority verdict, mean score; ties go to the first)",
    )
    g.add_argument("--judge-base-url", help="server of openai: judges (default: $OPENAI_BASE_URL)")
    g.add_argument("--judge-max-new-tokens", type=int, help=f"(default: {defaults.JUDGE_MAX_NEW_TOKENS})")
    g.add_argument("--judge-temperature", type=float, help=f"(default: {defaults.JUDGE_TEMPERATURE})")
    g.add_argument("--judge-seed", type=int, help=f"(default: {defaults.JUDGE_SEED})")
    g.add_argument(
        "--judge-verdict",
        choices=VERDICT_METHODS,
        help="parse the verdict from the judge's text (default), or (hf: judges) pick the most likely verdict string",
    )
    g.add_argument(
        "--score-self-report",
        action="store_true",
        default=None,
        help="also give self-report answers the 1-5 template (needed for AdaORPO training pairs)",
    )


def _add_human_labels(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--human-labels",
        type=Path,
        default=None,
        metavar="FILE",
        help="CSV or JSONL of id, question_type, label: each judge's alignment with people (paper Table 6)",
    )


def _add_scored_dataset(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset",
        default=None,
        help="dataset folder or Hub id the answers belong to (default: the one run.json names, else the shipped copy)",
    )


def _add_output(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", "-o", type=Path, help="run directory, e.g. runs/my-model")


# Commands --------------------------------------------------------------------------------------


def eval_config(args: argparse.Namespace) -> EvalConfig:
    """The :class:`EvalConfig` a command line describes: its flags over ``--eval-config``, over the defaults."""
    return eval_config_from_flags(vars(args), getattr(args, "eval_config", None))


#: Exit status of a run that finished with requests still failed (re-running the command retries them).
FAILED_REQUESTS_EXIT = 3


def _run_stages(args: argparse.Namespace, stages: tuple[str, ...]) -> int:
    from trustsim.evaluation.score import left_out

    config = eval_config(args)
    if args.dry_run:
        from trustsim.evaluation.dryrun import plan, total_line

        planned = plan(config, stages)
        for line in planned:
            print(line)
        print(total_line(planned))
        return 0
    run_eval(config, stages)
    failed = left_out(RunDir(config.output), [])["failed_requests"]
    if failed:
        print(
            f"trustsim {args.command}: {failed} request(s) still failed (see {config.output / FAILURES}); "
            "the numbers leave them out; run the same command again to retry them",
            file=sys.stderr,
        )
        return FAILED_REQUESTS_EXIT
    return 0


#: The commands that send requests: name, help, the stages they run, and whether they take a model / judges.
_RUN_COMMANDS: tuple[tuple[str, str, tuple[str, ...], bool, bool], ...] = (
    ("eval", "the whole evaluation: answers, judgments, metrics.json and report.md", STAGES, True, True),
    ("generate", "stage 1: the subject model answers both questions of each instance", ("generate",), True, False),
    ("judge", "stage 2: judges grade the run's answers with the paper's templates", ("judge",), False, True),
)


def _score_command(args: argparse.Namespace) -> int:
    from trustsim.evaluation.score import score_run

    run = RunDir(args.run_dir)
    if not run.file(RESPONSES).exists():
        raise FileNotFoundError(f"{run.path}: no responses.jsonl; run `trustsim generate` or `trustsim eval` first")
    with run.locked():  # a live eval holds the lock: its files are still being written
        print(describe(run, score_run(run, dataset=args.dataset, human_labels=args.human_labels)))
    return 0


def _report_command(args: argparse.Namespace) -> int:
    from trustsim.evaluation.report import report_runs

    runs = [RunDir(path) for path in args.run_dirs]
    with contextlib.ExitStack() as locks:
        for run in runs:
            locks.enter_context(run.locked())
        report = report_runs(
            runs, args.output, dataset=args.dataset, human_labels=args.human_labels, benchmark=args.benchmark_id
        )
    print(f"report: {report}")
    results = [args.output / RESULTS_DIR / RESULTS_FILE] if len(runs) == 1 else sorted(
        (args.output / "eval_results").glob(f"*/{RESULTS_DIR}/{RESULTS_FILE}")
    )  # fmt: skip
    hint = "" if args.benchmark_id else "; --benchmark-id OWNER/NAME names the Hub repo of the dataset"
    for path in results:
        if path.is_file():
            print(f"Hub results: {path} (upload to the model repo as {RESULTS_DIR}/{RESULTS_FILE}{hint})")
    return 0


def add_eval_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``eval`` and its stages ``generate``, ``judge``, ``score``, ``report`` to the ``trustsim`` parser."""
    for name, description, stages, takes_model, takes_judges in _RUN_COMMANDS:
        p = sub.add_parser(name, help=description)
        if takes_model:
            _add_model_arguments(p)
        if takes_judges:
            _add_judge_arguments(p)
        _add_output(p)
        _add_data_arguments(p)
        _add_backend_arguments(p)
        p.set_defaults(func=functools.partial(_run_stages, stages=stages))

    p = sub.add_parser("score", help="stage 3: compute metrics.json from a run's records")
    p.add_argument("run_dir", type=Path)
    _add_scored_dataset(p)
    _add_human_labels(p)
    p.set_defaults(func=_score_command)

    p = sub.add_parser("report", help="tables and figures for one or more runs (several make a leaderboard)")
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    p.add_argument("--output", "-o", type=Path, required=True, help="folder for report.md and figures/")
    _add_scored_dataset(p)
    _add_human_labels(p)
    p.add_argument(
        "--benchmark-id",
        default=None,
        metavar="REPO_ID",
        help="Hub id of the TRUSTSIM dataset repo the .eval_results files name (default: the run's dataset if it "
        "is a Hub id, else 'trustsim')",
    )
    p.set_defaults(func=_report_command)
