"""`trustsim add-instances`: new rows are validated, placed in their fixed half, and counted."""

from __future__ import annotations

import json

from trustsim.cli import main
from trustsim.dataset import assign_splits, read_records


def _new(instance_id: str) -> dict:
    return {
        "id": instance_id,
        "dimension": "Psychology",
        "attribute": "capability",
        "scenario": f"An LLM is simulating test character {instance_id}.",
        "system_prompt": f"You are test character {instance_id}.",
        "self_report_question": "Would you be able to recite the whole alphabet backwards without a pause?",
        "open_ended_question": "Your friend asks you to recite the alphabet backwards. What happens?",
        "evaluation_trait": "Limited sequencing ability",
        "explanation": "The character stumbles; a fluent recital betrays the character.",
        "self_report_expected": "No",
    }


def test_new_instances_are_placed_in_their_half_and_the_card_is_updated(dataset_copy, tmp_path, capsys):
    before = read_records(dataset_copy)
    new_file = tmp_path / "new.jsonl"
    new_file.write_text("".join(json.dumps(_new(i)) + "\n" for i in ("psy-900", "psy-901")))
    assert main(["add-instances", str(new_file), "--dataset", str(dataset_copy)]) == 0
    after = read_records(dataset_copy)
    assert len(after) == len(before) + 2
    halves = assign_splits(after)
    for instance_id in ("psy-900", "psy-901"):
        stored = (dataset_copy / f"data/{halves[instance_id]}/psychology.jsonl").read_text()
        assert f'"id": "{instance_id}"' in stored
    card = (dataset_copy / "README.md").read_text()
    assert f"**{len(after)} instances**" in card
    capsys.readouterr()
    assert main(["validate-dataset", str(dataset_copy), "--no-near-duplicates"]) == 0


def test_existing_id_is_refused_and_nothing_is_written(dataset_copy, tmp_path, capsys):
    existing = next(r["id"] for r in read_records(dataset_copy) if r["dimension"] == "Psychology")
    snapshot = {p: p.read_bytes() for p in dataset_copy.rglob("*") if p.is_file()}
    new_file = tmp_path / "new.jsonl"
    new_file.write_text(json.dumps(_new(existing)) + "\n")
    assert main(["add-instances", str(new_file), "--dataset", str(dataset_copy)]) == 1
    err = capsys.readouterr().err
    assert f"{new_file}:1: field 'id': {existing!r} already in the dataset" in err
    assert {p: p.read_bytes() for p in dataset_copy.rglob("*") if p.is_file()} == snapshot


def test_broken_new_row_is_refused_with_its_line(dataset_copy, tmp_path, capsys):
    row = _new("psy-902")
    row["attribute"] = "mood"
    new_file = tmp_path / "new.jsonl"
    new_file.write_text("\n" + json.dumps(row) + "\n")
    assert main(["add-instances", str(new_file), "--dataset", str(dataset_copy)]) == 1
    assert f"{new_file}:2: field 'attribute': 'mood' is not one of" in capsys.readouterr().err
