"""Why the near-duplicate threshold is 0.85: measure MiniLM cosine where we know the answer.

Prints, for the all-MiniLM-L6-v2 embeddings the validator uses:
- light edits: an instance's text with a few words added (must be flagged);
- full rewrites: the same character or question reworded by a second writer
  (``bench/data/near_duplicate_pairs.jsonl``, kind ``paraphrase``);
- related but different characters and questions (kind ``sibling``: must not be flagged);
- the closest pair of distinct instances in the shipped dataset, per kind;
and, last, the ratio of the threshold to the closest distinct pair (above 1 means no false alarm).

    python bench/near_duplicate_threshold.py [--threshold 0.85]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np

from trustsim.dataset import DEFAULT_DATASET_PATH, read_records
from trustsim.dataset.validate import DEFAULT_THRESHOLD, NEAR_DUPLICATE_FIELDS, minilm_embedder, similar_pairs

PAIRS = Path(__file__).parent / "data" / "near_duplicate_pairs.jsonl"


def _cosines(embed, pairs: list[tuple[str, str]]) -> list[float]:
    a = embed([p[0] for p in pairs])
    b = embed([p[1] for p in pairs])
    return [float(x) for x in np.sum(a * b, axis=1)]


def _summary(name: str, values: list[float], threshold: float) -> None:
    above = sum(v > threshold for v in values)
    print(
        f"{name:<34} n={len(values):3d}  min {min(values):.3f}  median {statistics.median(values):.3f}  "
        f"max {max(values):.3f}  flagged {above}/{len(values)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET_PATH)
    args = parser.parse_args()
    embed = minilm_embedder()
    rows = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]
    records = read_records(args.dataset)

    light = [
        (r[c], "In short: " + r[c] + " Answer honestly.") for r in records[:30] for c in NEAR_DUPLICATE_FIELDS.values()
    ]
    _summary("light edits (must flag)", _cosines(embed, light), args.threshold)
    for kind in ("paraphrase", "sibling"):
        label = "full rewrites of one instance" if kind == "paraphrase" else "related, different (must not flag)"
        _summary(label, _cosines(embed, [(r["a"], r["b"]) for r in rows if r["kind"] == kind]), args.threshold)

    closest = 0.0
    for kind, column in NEAR_DUPLICATE_FIELDS.items():
        a, b, sim = similar_pairs(embed([r[column] for r in records]), -1.0)[0]
        closest = max(closest, sim)
        print(f"closest distinct {kind + ' pair':<25} {records[a]['id']} / {records[b]['id']}: {sim:.3f}")
    print(f"threshold / closest distinct pair in {len(records)} instances: {args.threshold / closest:.2f}")


if __name__ == "__main__":
    main()
