"""Does ``trustsim eval`` keep a slow server busy, and what does a run cost when nothing is left to do?

A local OpenAI-compatible server (``trustsim.testing.chat_server``, in its own process) answers every
request after a fixed latency. Every command runs as its own ``trustsim`` process, so start-up is
included, with a private request cache. It measures, on the whole shipped dataset by default:

1. ``--dry-run``: the requests it says it would send;
2. the evaluation (two answers and three judge calls per instance, generate and judge pipelined) against
   the bound ``requests x latency / concurrency``: the ratio is printed (target <= 1.15), and the
   requests the server saw against the dry run's count;
3. the same command on the finished run: its wall time (target < 3 s) and requests (target 0);
4. the same answers judged again in a new folder: the judge requests sent (target 0, the cache).

    python bench/eval_throughput.py [--latency 0.5] [--concurrency 64] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TRUSTSIM = [sys.executable, "-m", "trustsim"]


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
            _measure(args, base_url, Path(tmp), served)
    finally:
        server.terminate()


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([*TRUSTSIM, *argv], env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"trustsim {argv[0]} exited {done.returncode}: {done.stderr[-500:]}")
    return wall, done.stdout


def _measure(args, base_url: str, tmp: Path, served) -> None:
    env = {**os.environ, "TRUSTSIM_CACHE": str(tmp / "cache"), "HF_HUB_OFFLINE": "1"}
    run = tmp / "run"
    common = ["--model", "openai:subject", "--judge", "openai:judge", "--base-url", str(base_url),
              "--concurrency", str(args.concurrency), "--max-new-tokens", "64", "--output", str(run)]  # fmt: skip
    if args.limit:
        common += ["--limit", str(args.limit)]
    _, out = _run(["eval", *common, "--dry-run"], env)
    predicted = int(out.strip().splitlines()[-1].split()[0])
    wall, _ = _run(["eval", *common], env)
    requests = served()
    bound = requests * args.latency / args.concurrency
    rerun, _ = _run(["eval", *common], env)
    rerun_requests = served() - requests
    again = tmp / "again"
    again.mkdir()
    shutil.copy(run / "responses.jsonl", again / "responses.jsonl")
    judge = ["judge", "--judge", "openai:judge", "--judge-base-url", str(base_url), "--output", str(again)]
    _run([*judge, *(["--limit", str(args.limit)] if args.limit else [])], env)
    rejudged = served() - requests - rerun_requests
    print(f"requests: {requests} ({args.latency} s latency, concurrency {args.concurrency}); dry run said {predicted}")
    print(f"bound (requests x latency / concurrency): {bound:.1f} s")
    print(f"eval, start-up included: {wall:.1f} s")
    print(f"re-run of the finished run: {rerun:.2f} s, {rerun_requests} requests")
    print(f"the same answers judged in a new folder: {rejudged} judge requests")
    print(f"dry-run count / requests sent: {predicted / requests:.3f}")
    print(f"wall time / bound: {wall / bound:.3f}")


if __name__ == "__main__":
    main()
