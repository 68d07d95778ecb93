"""What batching buys the hf: backend on CPU: tokens per second at batch 8 over one prompt at a time.

The same subject prompts (real instances, with their system prompts) are answered twice by the same
model with greedy decoding: once with ``batch_size=1`` and once with ``batch_size=8``. Tokens per
second counts the answer tokens produced. Prints the ratio last (target >= 3).

By default the model is a small randomly initialised Llama built on the spot (``trustsim.testing.tiny_lm``,
hidden size 256); ``--model`` takes any hf: path, e.g. the 270M Gemma GGUF of the ``demo`` extra:

    python bench/hf_batching.py [--prompts 16] [--max-new-tokens 32] [--model PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--model", default=None, help="hf: model path (default: a tiny Llama built now)")
    args = parser.parse_args()
    from trustsim.backends import SamplingConfig, load_backend
    from trustsim.evaluation.generate import response_requests
    from trustsim.evaluation.instances import load_instances, select_instances
    from trustsim.paths import SHIPPED_DATASET
    from trustsim.testing.tiny_lm import build_tiny_lm

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(build_tiny_lm(Path(tmp) / "model", hidden_size=256))
        instances = select_instances(load_instances(SHIPPED_DATASET), limit=args.prompts)
        requests = response_requests(instances)[: args.prompts]
        sampling = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=0.0)
        rates = {}
        for batch_size in (1, args.batch_size):
            backend = load_backend(f"hf:{model}", batch_size=batch_size, device="cpu")
            backend.load()
            backend.generate(requests[:2], sampling, lambda r, c: None)  # warm-up
            tokens = []
            start = time.perf_counter()
            with contextlib.redirect_stderr(io.StringIO()):
                backend.generate(requests, sampling, lambda r, c, t=tokens: t.append(c.completion_tokens))
            elapsed = time.perf_counter() - start
            rates[batch_size] = sum(tokens) / elapsed
            print(f"batch {batch_size}: {sum(tokens)} tokens in {elapsed:.2f} s = {rates[batch_size]:.1f} tokens/s")
    print(f"model: {'tiny Llama (hidden 256)' if not args.model else args.model}, {len(requests)} prompts")
    print(f"tokens/s at batch {args.batch_size} / one at a time: {rates[args.batch_size] / rates[1]:.2f}")


if __name__ == "__main__":
    main()
