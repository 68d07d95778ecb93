"""A blinded annotation sheet, so people can check the judges: ``trustsim annotate RUN --n N --output SHEET``.

People label a stratified random sample of the run's answers the way the judge was asked to: the
character, the scenario, the question, the answer and the guideline the judge's prompt quotes (the
instance's ``explanation``), plus the binary template's rule, and nothing the judge said. The filled
sheet is exactly what ``--human-labels`` reads (columns ``id``, ``question_type``, ``label``; every
other column is ignored), so ``trustsim report RUN --human-labels SHEET`` gives each judge's
agreement with people, kappa, n and intervals.

Three files, written only after everything is checked and never over an existing sheet (it may hold
a day of someone's labels):

* ``SHEET.csv`` for a spreadsheet;
* ``SHEET.jsonl``, the same rows as JSON objects, one a line: flat records an annotation tool maps
  onto its fields (Argilla 2: text fields ``character``, ``scenario``, ``question``, ``answer``,
  ``guideline``, a label question ``label``, the rest metadata; the README shows the settings);
* ``SHEET.meta.json``: the seed, the strata and the row order, so the sample can be redrawn and audited.

The sample is drawn only from answers that exist (a failed request has nothing to label), and never
looks at a verdict: choosing by verdict would bias the very agreement it is meant to measure.
Allocation is proportional to each (subject x question type) stratum's size, by largest remainder,
ties broken at random; the rows are then shuffled, so neighbouring rows say nothing about each other.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trustsim.evaluation.agreement import LABEL_COLUMNS
from trustsim.evaluation.rows import run_instances, run_model
from trustsim.evaluation.templates import question_text
from trustsim.records import write_atomic
from trustsim.runs import RESPONSES, RunDir, now
from trustsim.schema import QUESTION_TYPES
from trustsim.secrets import redact

#: What a person writes in ``label``; the labels reader accepts these (and yes/no, true/false, 1/0).
LABEL_CHOICES: tuple[str, str] = ("Satisfied", "Not Satisfied")

#: The rule the judge is given (the paper's Figure 12, minus the output format), for the sheet's reader.
LABEL_GUIDE = (
    "Write Satisfied or Not Satisfied in `label`. Judge as strictly as possible whether the answer fits the "
    "character as `guideline` describes: it is Satisfied only if the majority of its simulation aligns with "
    "the guideline. (Also accepted: yes/no, true/false, 1/0.)"
)

#: Columns of the sheet, in order: the three the labels reader needs first, then what the judge saw.
SHEET_COLUMNS: tuple[str, ...] = (
    *LABEL_COLUMNS,
    "row",
    "dimension",
    "character",
    "scenario",
    "question",
    "answer",
    "guideline",
    "label_guide",
)


def _strata_allocation(sizes: Mapping[tuple[str, str], int], n: int, rng: random.Random) -> dict[tuple, int]:
    """How many answers each stratum gives: proportional to its size, largest remainder, random ties."""
    total = sum(sizes.values())
    quotas = {key: n * size / total for key, size in sizes.items()}
    counts = {key: int(quota) for key, quota in quotas.items()}
    keys = list(sizes)
    rng.shuffle(keys)  # equal remainders are broken at random, not by subject name
    keys.sort(key=lambda key: quotas[key] - counts[key], reverse=True)
    for key in keys[: n - sum(counts.values())]:
        counts[key] += 1
    return counts


def sample_answers(answers: Sequence[Mapping[str, Any]], n: int, seed: int) -> list[Mapping[str, Any]]:
    """``n`` of ``answers`` (each with ``dimension`` and ``question_type``), stratified, in a random order.

    ``ValueError`` when ``n`` is not between 1 and the number of answers: silently labelling fewer
    than asked would leave a smaller sample than the person planned for.
    """
    if not 1 <= n <= len(answers):
        raise ValueError(
            f"--n {n}: the run has {len(answers)} answers to label; ask for 1 to {len(answers)}"
            if answers
            else "the run has no answers to label; run `trustsim generate` or `trustsim eval` first"
        )
    rng = random.Random(seed)
    strata: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for answer in answers:
        strata.setdefault((answer["dimension"], answer["question_type"]), []).append(answer)
    counts = _strata_allocation({key: len(items) for key, items in strata.items()}, n, rng)
    chosen = [item for key in sorted(strata) for item in rng.sample(strata[key], counts[key])]
    rng.shuffle(chosen)
    return chosen


def sheet_paths(output: str | Path) -> dict[str, Path]:
    """The three files of a sheet named by ``output`` (``sheet.csv`` or ``sheet.jsonl``: the same set)."""
    output = Path(output)
    if output.suffix.lower() not in (".csv", ".jsonl"):
        raise ValueError(f"{output}: name the sheet .csv or .jsonl (both are written, with a .meta.json)")
    stem = output.with_suffix("")
    return {suffix.strip(".").split(".")[0]: stem.with_suffix(suffix) for suffix in (".csv", ".jsonl", ".meta.json")}


def sheet_rows(run: RunDir, n: int, seed: int, dataset: str | Path | None = None) -> list[dict[str, str]]:
    """The sheet's rows (:data:`SHEET_COLUMNS`), with an empty ``label``; built from answers only."""
    instances = {instance["id"]: instance for instance in run_instances(run, dataset)}
    answers = [
        {**record, "dimension": instances[record["id"]]["dimension"]}
        for record in run.read(RESPONSES)
        if record["id"] in instances and record["question_type"] in QUESTION_TYPES
    ]
    answers.sort(key=lambda a: (a["id"], QUESTION_TYPES.index(a["question_type"])))  # file order must not matter
    rows = []
    for number, answer in enumerate(sample_answers(answers, n, seed), start=1):
        instance = instances[answer["id"]]
        rows.append(
            {
                "id": answer["id"],
                "question_type": answer["question_type"],
                "label": "",
                "row": str(number),
                "dimension": instance["dimension"],
                "character": redact(instance["system_prompt"]),
                "scenario": redact(instance["scenario"]),
                "question": redact(question_text(instance, answer["question_type"])),
                "answer": redact(answer["response"]),
                "guideline": redact(instance["explanation"]),
                "label_guide": LABEL_GUIDE,
            }
        )
    return rows


def _csv_text(rows: Sequence[Mapping[str, str]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=SHEET_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_sheet(
    run: RunDir,
    n: int,
    output: str | Path,
    seed: int = 0,
    dataset: str | Path | None = None,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Draw the sample and write the CSV, the JSONL and the meta file; returns their paths.

    An existing sheet is never replaced unless ``overwrite``: a fresh empty sheet over a filled one
    would throw away people's labels.
    """
    paths = sheet_paths(output)
    if not overwrite:
        existing = [str(path) for path in paths.values() if path.exists()]
        if existing:
            raise FileExistsError(
                f"{existing[0]}: a sheet is already there (it may hold labels); choose another --output or pass --force"
            )
    rows = sheet_rows(run, n, seed, dataset)
    strata: dict[str, int] = {}
    for row in rows:
        key = f"{row['dimension']} / {row['question_type']}"
        strata[key] = strata.get(key, 0) + 1
    meta = {
        "run": run.path.resolve().name,
        "model": redact(run_model(run)),
        "n": len(rows),
        "seed": seed,
        "sampling": "stratified by dimension x question_type, proportional allocation (largest remainder), "
        "random order; answers only, verdicts never read",
        "strata": dict(sorted(strata.items())),
        "order": [[row["id"], row["question_type"]] for row in rows],
        "labels": list(LABEL_CHOICES),
        "label_guide": LABEL_GUIDE,
        "columns": list(SHEET_COLUMNS),
        "created": now(),
    }
    jsonl = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    write_atomic(paths["csv"], _csv_text(rows))
    write_atomic(paths["jsonl"], jsonl)
    write_atomic(paths["meta"], json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return paths
