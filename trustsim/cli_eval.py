"""The evaluation commands: ``eval`` and its stages ``generate``, ``judge``, ``score``, ``report``.

Every stage reads the run directory's files and appends to its own, so re-running a command resumes
it, and ``eval`` is nothing but the stages in a row.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from trustsim.backends import Backend, SamplingConfig, load_backend
from trustsim.dataset import DEFAULT_DATASET_PATH
from trustsim.judge import JUDGE_SAMPLING, VERDICT_METHODS
from trustsim.runs import RunDir

logger = logging.getLogger("trustsim")


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


def _add_output(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", "-o", required=True, type=Path, help="run directory, e.g. runs/my-model")


# Building blocks -------------------------------------------------------------------------------


class _Backends:
    """Backends by spec, so a model that is both subject and judge is loaded once."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._loaded: dict[str, Backend] = {}

    def get(self, spec: str, base_url: str | None) -> Backend:
        if spec not in self._loaded:
            a = self.args
            self._loaded[spec] = load_backend(
                spec,
                base_url=base_url,
                concurrency=a.concurrency,
                timeout=a.timeout,
                max_retries=a.max_retries,
                batch_size=a.batch_size,
                device=a.device,
                dtype=a.dtype,
            )
        return self._loaded[spec]


def _dataset(args: argparse.Namespace, run: RunDir) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The selected instances and the dataset reference, defaulting to what the run recorded."""
    from trustsim.instances import dataset_reference, load_instances, select_instances

    recorded = run.manifest().get("dataset", {})
    path = args.dataset or recorded.get("path") or DEFAULT_DATASET_PATH
    config = args.config or recorded.get("config") or "default"
    split = args.split or recorded.get("split") or "test"
    instances = load_instances(path, config, split)
    reference = dataset_reference(path, config, split, instances)
    return select_instances(instances, args.subjects, args.limit), reference


def _generate(args: argparse.Namespace, run: RunDir, backends: _Backends) -> None:
    from trustsim.generate import run_generation

    instances, reference = _dataset(args, run)
    sampling = SamplingConfig(args.max_new_tokens, args.temperature, args.top_p, args.seed)
    summary = run_generation(run, instances, backends.get(args.model, args.base_url), sampling, reference)
    print(f"answers ({len(instances)} instances): {summary}")


def _judge(args: argparse.Namespace, run: RunDir, backends: _Backends) -> None:
    from trustsim.judge import run_judging

    instances, reference = _dataset(args, run)
    sampling = SamplingConfig(args.judge_max_new_tokens, args.judge_temperature, 1.0, args.judge_seed)
    judges = [backends.get(spec, args.judge_base_url) for spec in dict.fromkeys(args.judge)]
    summary = run_judging(
        run,
        instances,
        judges,
        sampling,
        reference,
        score_self_report=args.score_self_report,
        verdict_method=args.judge_verdict,
    )
    print(f"judgments: {summary}")


def _score(run: RunDir) -> None:
    from trustsim.score import score_run

    metrics = score_run(run)
    print(
        f"{run.path}: n={metrics['n']}, self-report satisfied {_pct(metrics['self_report_satisfaction_rate'])}, "
        f"open-ended satisfied {_pct(metrics['open_ended_satisfaction_rate'])}, "
        f"inconsistency {_pct(metrics['inconsistency_rate'])}, mean score {_num(metrics['open_ended_mean_score'])}; "
        f"left out: {metrics['left_out']['failed_requests']} failed requests, "
        f"{metrics['left_out']['unparsable_verdicts']} unparsable verdicts -> {run.file('metrics.json')}"
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


# Commands --------------------------------------------------------------------------------------


def _run_command(args: argparse.Namespace, stages: tuple[str, ...]) -> int:
    run = RunDir(args.output)
    backends = _Backends(args)
    with run.locked():
        if "generate" in stages:
            _generate(args, run, backends)
        if "judge" in stages:
            _judge(args, run, backends)
        if "score" in stages:
            _score(run)
        if "report" in stages:
            from trustsim.score import report_runs

            report = report_runs([run], run.path)
            print(f"report: {report}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    return _run_command(args, ("generate", "judge", "score", "report"))


def _generate_command(args: argparse.Namespace) -> int:
    return _run_command(args, ("generate",))


def _judge_command(args: argparse.Namespace) -> int:
    return _run_command(args, ("judge",))


def _score_command(args: argparse.Namespace) -> int:
    run = RunDir(args.run_dir)
    if not run.file("responses.jsonl").exists():
        raise FileNotFoundError(f"{run.path}: no responses.jsonl; run `trustsim generate` or `trustsim eval` first")
    _score(run)
    return 0


def _report_command(args: argparse.Namespace) -> int:
    from trustsim.score import report_runs

    report = report_runs([RunDir(path) for path in args.run_dirs], args.output)
    print(f"report: {report}")
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
    p.set_defaults(func=_score_command)

    p = sub.add_parser("report", help="tables and figures for one or more runs (several make a leaderboard)")
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    p.add_argument("--output", "-o", type=Path, required=True, help="folder for report.md and figures/")
    p.set_defaults(func=_report_command)
