"""Algorithm 1: preference pairs from several models' judged answers, for AdaORPO.

For every prompt (instance and question type) where the target model's answer is Not Satisfied, the
chosen answer is the highest-scored Satisfied answer among the runs (ties go to the run listed
first), the rejected answer is the target's own, and ``chosen_score`` is the chosen answer's 1-5
score, which AdaORPO turns into the learning-rate factor. By default only instances of the
``adaorpo`` config's train split are used, so evaluating on its test split stays clean.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trustsim.evaluation.instances import load_instances
from trustsim.evaluation.rows import run_dataset, run_instances, run_model, run_rows
from trustsim.evaluation.templates import subject_messages
from trustsim.hub import hub_errors
from trustsim.records import write_atomic
from trustsim.runs import RESPONSES, RunDir

#: Why a prompt gave no pair; counted in ``pairs.json`` and printed.
SKIP_REASONS = ("target_satisfied", "target_unknown", "no_satisfied_alternative", "alternatives_unscored")

SCORE_HINT = (
    "satisfied answers without a 1-5 score cannot be ranked; score self-report answers too with "
    "`trustsim judge --output RUN --judge SPEC --score-self-report` (or `trustsim eval ... --score-self-report`)"
)


def build_pairs(
    runs: Sequence[RunDir],
    target: RunDir,
    instances: Sequence[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], Counter]:
    """The pairs for ``target`` over ``instances``, and the count of each skip reason."""
    model = {run.path: run_model(run) for run in runs}
    candidates = [(run, {(r["id"], r["question_type"]): r for r in run_rows(run, instances)}) for run in runs]
    by_id = {instance["id"]: instance for instance in instances}
    pairs: list[dict[str, Any]] = []
    skipped: Counter = Counter({reason: 0 for reason in SKIP_REASONS})
    for row in run_rows(target, instances):
        key = (row["id"], row["question_type"])
        if row["verdict"] is True:
            skipped["target_satisfied"] += 1
            continue
        if row["verdict"] is None or row["response"] is None:
            skipped["target_unknown"] += 1
            continue
        satisfied = [(run, rows[key]) for run, rows in candidates if key in rows and rows[key]["verdict"] is True]
        scored = [(run, r) for run, r in satisfied if r["score"] is not None]
        if not scored:
            skipped["alternatives_unscored" if satisfied else "no_satisfied_alternative"] += 1
            continue
        best_run, best = max(scored, key=lambda pair: pair[1]["score"])  # max keeps the first of equals
        pairs.append(
            {
                "prompt": list(subject_messages(by_id[row["id"]], row["question_type"])),
                "chosen": [{"role": "assistant", "content": best["response"]}],
                "rejected": [{"role": "assistant", "content": row["response"]}],
                "chosen_score": float(best["score"]),
                "id": row["id"],
                "question_type": row["question_type"],
                "dimension": row["dimension"],
                "chosen_model": model[best_run.path],
            }
        )
    return pairs, skipped


def make_pairs(
    runs: Sequence[str | Path],
    target: str | Path,
    output: str | Path,
    dataset: str | None = None,
    split: str = "train",
    push_to_hub: str | None = None,
    private: bool = False,
) -> dict[str, Any]:
    """Build the pairs, ``save_to_disk`` them to ``output`` with a ``pairs.json`` summary; returns it.

    ``split`` is ``train`` or ``test`` of the ``adaorpo`` config, or ``all`` for every instance;
    only instances the target run evaluated are considered.
    """
    from datasets import Dataset, Features, List, Value

    run_dirs, target_dir = [RunDir(r) for r in runs], RunDir(target)
    for run in [*run_dirs, target_dir]:
        if not run.file(RESPONSES).exists():
            raise FileNotFoundError(f"{run.path}: no responses.jsonl; evaluate that model with `trustsim eval` first")
    path = run_dataset(target_dir, dataset)[0]
    if split == "all":
        instances = load_instances(path, "default", "test")
    elif split in ("train", "test"):
        instances = load_instances(path, "adaorpo", split)
    else:
        raise ValueError(f"--split must be train, test or all, not {split!r}")
    evaluated = {instance["id"] for instance in run_instances(target_dir, path)}
    pairs, skipped = build_pairs(run_dirs, target_dir, [i for i in instances if i["id"] in evaluated])
    message = [{"role": Value("string"), "content": Value("string")}]
    features = Features(
        {
            "prompt": List(message[0]),
            "chosen": List(message[0]),
            "rejected": List(message[0]),
            "chosen_score": Value("float64"),
            "id": Value("string"),
            "question_type": Value("string"),
            "dimension": Value("string"),
            "chosen_model": Value("string"),
        }
    )
    data = Dataset.from_dict({name: [p[name] for p in pairs] for name in features}, features=features)
    output = Path(output)
    # One shard even when empty: datasets writes no shard for 0 rows and then cannot load it back.
    data.save_to_disk(str(output), num_shards=1 if not pairs else None)
    summary = {
        "pairs": len(pairs),
        "skipped": dict(skipped),
        "target": run_model(target_dir),
        "runs": [run_model(run) for run in run_dirs],
        "split": split,
        "chosen_from": dict(Counter(p["chosen_model"] for p in pairs)),
        "mean_chosen_score": sum(p["chosen_score"] for p in pairs) / len(pairs) if pairs else None,
    }
    write_atomic(output / "pairs.json", json.dumps(summary, indent=2) + "\n")
    if push_to_hub:
        # The token comes from HF_TOKEN or `huggingface-cli login`, never from the command line.
        with hub_errors(push_to_hub):
            data.push_to_hub(push_to_hub, private=private)
    return summary
