"""The evaluation commands: ``eval`` and its stages ``generate``, ``judge``, ``score``, ``report``.

Every stage reads the run directory's files and appends to its own, so re-running a command resumes
it, and ``eval`` is nothing but the stages in a row.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from trustsim.backends import SamplingConfig
from trustsim.dataset import DEFAULT_DATASET_PATH
from trustsim.evaluation import STAGES, EvalConfig, describe, run_eval
from trustsim.judge import JUDGE_SAMPLING, VERDICT_METHODS
from trustsim.runs import RunDir

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
    g.add_argument("--concurrency", type=int, default=16, help="requests in flight per openai: model (default: 16)")
    g.add_argument("--timeout", type=float, default=120.0, help="seconds per HTTP request (default: 120)")
    g.add_argument("--max-retries", type=int, default=6, help="retries on 429/5xx/timeouts (default: 6)")
    g.add_argument("--batch-size", type=int, default=8, help="prompts per batch for hf: models (default: 8)")
    g.add_argument("--device", default=None, help="hf: device, e.g. cuda:0 or cpu (default: best available)")
    g.add_argument("--dtype", default=None, help="hf: dtype, e.g. bfloat16 (default: bfloat16 on GPU, float32 on CPU)")


def _add_model_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("subject model")
    g.add_argument("--model", required=True, help="openai:<model>, hf:<id, folder or .gguf file> or vllm:<id>")
    g.add_argument("--base-url", default=None, help="server of an openai: model (default: $OPENAI_BASE_URL)")
    g.add_argument("--max-new-tokens", type=int, default=512)
    g.add_argument("--temperature", type=float, default=0.7)
    g.add_argument("--top-p", type=float, default=1.0)
    g.add_argument("--seed", type=int, default=0)


def _add_judge_arguments(p: argparse.ArgumentParser, required: bool = True) -> None:
    g = p.add_argument_group("judges")
    g.add_argument(
        "--judge",
        action="append",
        required=required,
        metavar="SPEC",
        help="a judge spec; repeat for several (majority verdict, mean score; ties go to the first)",
    )
    g.add_argument("--judge-base-url", default=None, help="server of openai: judges (default: $OPENAI_BASE_URL)")
    g.add_argument("--judge-max-new-tokens", type=int, default=JUDGE_SAMPLING.max_new_tokens)
    g.add_argument("--judge-temperature", type=float, default=JUDGE_SAMPLING.temperature)
    g.add_argument("--judge-seed", type=int, default=JUDGE_SAMPLING.seed)
    g.add_argument(
        "--judge-verdict",
        choices=VERDICT_METHODS,
        default="parse",
        help="parse the verdict from the judge's text, or (hf: judges) pick the most likely verdict string",
    )
    g.add_argument(
        "--score-self-report",
        action="store_true",
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


def _add_output(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", "-o", required=True, type=Path, help="run directory, e.g. runs/my-model")


# Commands --------------------------------------------------------------------------------------


def eval_config(args: argparse.Namespace) -> EvalConfig:
    """The :class:`EvalConfig` a command line describes (flags a command lacks take their defaults)."""
    get = lambda name, default=None: getattr(args, name, default)  # noqa: E731 - flags differ per command
    return EvalConfig(
        model=get("model"),
        judges=get("judge") or [],
        output=args.output,
        dataset=args.dataset,
        config=args.config,
        split=args.split,
        subjects=args.subjects,
        limit=args.limit,
        sampling=SamplingConfig(get("max_new_tokens", 512), get("temperature", 0.7), get("top_p", 1.0), get("seed", 0)),
        judge_sampling=SamplingConfig(
            get("judge_max_new_tokens", JUDGE_SAMPLING.max_new_tokens),
            get("judge_temperature", JUDGE_SAMPLING.temperature),
            JUDGE_SAMPLING.top_p,
            get("judge_seed", JUDGE_SAMPLING.seed),
        ),
        verdict_method=get("judge_verdict", "parse"),
        score_self_report=get("score_self_report", False),
        backend_options={
            "base_url": get("base_url"),
            "concurrency": args.concurrency,
            "timeout": args.timeout,
            "max_retries": args.max_retries,
            "batch_size": args.batch_size,
            "device": args.device,
            "dtype": args.dtype,
        },
        judge_base_url=get("judge_base_url"),
    )


def _eval(args: argparse.Namespace) -> int:
    run_eval(eval_config(args), STAGES)
    return 0


def _generate_command(args: argparse.Namespace) -> int:
    run_eval(eval_config(args), ("generate",))
    return 0


def _judge_command(args: argparse.Namespace) -> int:
    run_eval(eval_config(args), ("judge",))
    return 0


def _score_command(args: argparse.Namespace) -> int:
    from trustsim.score import score_run

    run = RunDir(args.run_dir)
    if not run.file("responses.jsonl").exists():
        raise FileNotFoundError(f"{run.path}: no responses.jsonl; run `trustsim generate` or `trustsim eval` first")
    print(describe(run, score_run(run, human_labels=args.human_labels)))
    return 0


def _report_command(args: argparse.Namespace) -> int:
    from trustsim.score import report_runs

    report = report_runs([RunDir(path) for path in args.run_dirs], args.output, human_labels=args.human_labels)
    print(f"report: {report}")
    return 0


def _pairs_command(args: argparse.Namespace) -> int:
    from trustsim.pairs import SCORE_HINT, make_pairs

    summary = make_pairs(
        args.runs, args.target, args.output, dataset=args.dataset, split=args.split,
        push_to_hub=args.push_to_hub, private=args.private,
    )  # fmt: skip
    skipped = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in summary["skipped"].items())
    print(f"{summary['pairs']} pairs for {summary['target']} -> {args.output} (skipped: {skipped})")
    if summary["skipped"]["alternatives_unscored"]:
        print(f"note: {SCORE_HINT}")
    return 0


def add_eval_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``eval``, ``generate``, ``judge``, ``score`` and ``report`` to the ``trustsim`` parser."""
    p = sub.add_parser("eval", help="the whole evaluation: answers, judgments, metrics.json and report.md")
    _add_model_arguments(p)
    _add_judge_arguments(p)
    _add_output(p)
    _add_data_arguments(p)
    _add_backend_arguments(p)
    p.set_defaults(func=_eval)

    p = sub.add_parser("generate", help="stage 1: the subject model answers both questions of each instance")
    _add_model_arguments(p)
    _add_output(p)
    _add_data_arguments(p)
    _add_backend_arguments(p)
    p.set_defaults(func=_generate_command)

    p = sub.add_parser("judge", help="stage 2: judges grade the run's answers with the paper's templates")
    _add_judge_arguments(p)
    _add_output(p)
    _add_data_arguments(p)
    _add_backend_arguments(p)
    p.set_defaults(func=_judge_command)

    p = sub.add_parser("score", help="stage 3: compute metrics.json from a run's records")
    p.add_argument("run_dir", type=Path)
    _add_human_labels(p)
    p.set_defaults(func=_score_command)

    p = sub.add_parser("pairs", help="Algorithm 1: preference pairs for AdaORPO from several judged runs")
    p.add_argument("--runs", nargs="+", required=True, type=Path, metavar="RUN_DIR", help="candidate runs, best first")
    p.add_argument("--target", required=True, type=Path, metavar="RUN_DIR", help="run of the model to train")
    p.add_argument("--output", "-o", required=True, type=Path, help="folder for the dataset (save_to_disk)")
    p.add_argument("--dataset", default=None, help="dataset folder or Hub id (default: the target run's)")
    p.add_argument(
        "--split",
        default="train",
        choices=("train", "test", "all"),
        help="instances of the adaorpo config's train (default) or test split, or all",
    )
    p.add_argument("--push-to-hub", default=None, metavar="REPO_ID", help="also push the pairs (token from HF_TOKEN)")
    p.add_argument("--private", action="store_true")
    p.set_defaults(func=_pairs_command)

    p = sub.add_parser("report", help="tables and figures for one or more runs (several make a leaderboard)")
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    p.add_argument("--output", "-o", type=Path, required=True, help="folder for report.md and figures/")
    _add_human_labels(p)
    p.set_defaults(func=_report_command)
