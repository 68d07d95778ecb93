"""Does ``trustsim eval`` keep a slow server busy? Wall time against the concurrency bound.

A local OpenAI-compatible server (``trustsim.testing.chat_server``, in its own process) answers every
request after a fixed latency. The whole dataset is evaluated (two answers and three judge calls per
instance) at the given concurrency; the lower bound is ``requests x latency / concurrency``. Then the
same command runs again on the finished run: it must send no request and take seconds. Prints the
ratio last (target <= 1.25).

    python bench/eval_throughput.py [--latency 0.5] [--concurrency 64] [--limit N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from trustsim.backends import SamplingConfig
from trustsim.evaluation import EvalConfig, run_eval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None, help="instances (default: the whole dataset)")
    args = parser.parse_args()

    # The server runs in its own process, so its work is not charged to the harness being measured.
    server = subprocess.Popen(
        [sys.executable, "-m", "trustsim.testing.chat_server", "--latency", str(args.latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    base_url = server.stdout.readline().strip()

    def served() -> int:
        with urllib.request.urlopen(base_url.removesuffix("/v1") + "/stats") as reply:
            return json.load(reply)["requests"]

    try:
        with tempfile.TemporaryDirectory() as tmp:
            timings, requests, rerun, rerun_requests = _measure(args, base_url, Path(tmp), served)
    finally:
        server.terminate()
    bound = requests * args.latency / args.concurrency
    wall = timings["generate"]
    print(f"requests: {requests} ({args.latency} s latency, concurrency {args.concurrency})")
    print(f"bound (requests x latency / concurrency): {bound:.1f} s")
    print(f"generate + judge (dataset loading included): {wall:.1f} s; then score + report {timings['score']:.1f} s")
    print(f"re-run of the finished run: {rerun_requests} requests, {rerun:.1f} s")
    print(f"wall time / bound: {wall / bound:.3f}")


def _measure(args, base_url: str, tmp: Path, served):
    """Time the requests' stages, scoring, then a re-run of the finished run; returns the figures.

    Python's imports (about 2 s, paid once by any command) are done before the clock starts.
    """
    import openai  # noqa: F401

    import trustsim.evaluation.generate
    import trustsim.evaluation.judge  # noqa: F401

    config = EvalConfig(
        model="openai:subject",
        judges=["openai:judge"],
        output=Path(tmp) / "run",
        limit=args.limit,
        sampling=SamplingConfig(max_new_tokens=64),
        backend_options={"base_url": base_url, "concurrency": args.concurrency},
    )
    timings = {}
    for stages in (("generate", "judge"), ("score",)):
        start = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):  # progress bars off the measurement's output
            run_eval(config, stages, echo=lambda line: print(f"  {line}"))
        timings[stages[0]] = time.perf_counter() - start
    requests = served()
    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        run_eval(config, ("generate", "judge", "score"), echo=lambda line: None)
    rerun = time.perf_counter() - start
    return timings, requests, rerun, served() - requests


if __name__ == "__main__":
    main()
