"""`trustsim validate-dataset`: passes the shipped data, fails each broken copy with one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from trustsim.cli import main
from trustsim.dataset.validate import find_near_duplicates, validate_path
from trustsim.paths import SHIPPED_DATASET

TRAIN_PSY = Path("data/train/psychology.jsonl")


def _rewrite_line(dataset: Path, number: int, edit: Callable[[dict], object]) -> Path:
    """Apply ``edit`` to the record on line ``number`` of train/psychology.jsonl; returns the file."""
    path = dataset / TRAIN_PSY
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[number - 1])
    result = edit(record)
    lines[number - 1] = result if isinstance(result, str) else json.dumps(record, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _problems(dataset: Path, capsys) -> tuple[int, list[str]]:
    status = main(["validate-dataset", str(dataset), "--no-near-duplicates"])
    return status, capsys.readouterr().err.strip().splitlines()


def test_shipped_dataset_passes_every_check_including_near_duplicates(capsys):
    status = main(["validate-dataset", str(SHIPPED_DATASET)])
    out = capsys.readouterr()
    assert status == 0, out.err
    assert "0 problem(s), 0 near-duplicate pair(s)" in out.out


def _pop(field: str) -> Callable[[dict], None]:
    def edit(record: dict) -> None:
        del record[field]

    return edit


def _set(field: str, value: object) -> Callable[[dict], None]:
    return lambda r: r.__setitem__(field, value)


@pytest.mark.parametrize(
    ("edit", "field", "message"),
    [
        (lambda r: json.dumps(r)[:-5], None, "not valid JSON"),
        (lambda r: "[1, 2]", None, "expected a JSON object"),
        (_pop("explanation"), "explanation", "missing"),
        (_set("scenario", "   "), "scenario", "is blank"),
        (_set("evaluation_trait", 3), "evaluation_trait", "must be a string"),
        (_set("dimension", "Psychologie"), "dimension", "'Psychologie' is not one of"),
        (_set("attribute", "personality"), "attribute", "'personality' is not one of"),
        (_set("self_report_expected", "yes"), "self_report_expected", "'yes' is not one of"),
        (_set("notes", "draft"), "notes", "unexpected field"),
        (_set("id", "psy_1"), "id", "is not of the form"),
        (_set("id", "soc-901"), "id", "should start with 'psy-'"),
    ],
)
def test_each_broken_row_gives_one_line_naming_file_line_and_field(dataset_copy, capsys, edit, field, message):
    path = _rewrite_line(dataset_copy, 3, edit)
    status, lines = _problems(dataset_copy, capsys)
    assert status == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}:3:")
    if field:
        assert f"field '{field}'" in lines[0]
    assert message in lines[0]


def test_duplicate_id_names_both_places(dataset_copy, capsys):
    first = json.loads((dataset_copy / TRAIN_PSY).read_text().splitlines()[0])["id"]
    path = _rewrite_line(dataset_copy, 2, _set("id", first))
    status, lines = _problems(dataset_copy, capsys)
    assert status == 1
    assert lines == [f"{path}:2: field 'id': duplicate id {first!r} (first at {path}:1)"]


def test_instance_in_the_wrong_half_is_rejected(dataset_copy, capsys):
    train, test = dataset_copy / TRAIN_PSY, dataset_copy / "data/test/psychology.jsonl"
    lines = train.read_text().splitlines()
    moved = json.loads(lines[0])["id"]
    train.write_text("\n".join(lines[1:]) + "\n")
    test.write_text(test.read_text() + lines[0] + "\n")
    status, problems = _problems(dataset_copy, capsys)
    assert status == 1
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{test}:")
    assert f"{moved!r} belongs to the fixed 'train' half" in problems[0]
    assert main(["add-instances", "--dataset", str(dataset_copy)]) == 0
    assert _problems(dataset_copy, capsys) == (0, [])
    assert f'"id": "{moved}"' in train.read_text()


def test_instance_in_another_subjects_file_is_rejected(dataset_copy, capsys):
    train_soc = dataset_copy / "data/train/sociology.jsonl"
    if not train_soc.exists():
        pytest.skip("needs a second subject")
    lines = (dataset_copy / TRAIN_PSY).read_text().splitlines()
    (dataset_copy / TRAIN_PSY).write_text("\n".join(lines[1:]) + "\n")
    train_soc.write_text(train_soc.read_text() + lines[0] + "\n")
    status, problems = _problems(dataset_copy, capsys)
    assert status == 1
    assert len(problems) == 1, problems
    assert "field 'dimension': 'Psychology' belongs in psychology.jsonl" in problems[0]


def test_card_that_no_longer_matches_the_data_is_rejected(dataset_copy, capsys):
    _rewrite_line(
        dataset_copy, 3, lambda r: r.__setitem__("attribute", "time" if r["attribute"] != "time" else "value")
    )
    status, lines = _problems(dataset_copy, capsys)
    assert status == 1
    assert lines == [
        f"{dataset_copy / 'README.md'}: statistics or example no longer match the data; "
        f"run `trustsim dataset-stats {dataset_copy}`"
    ]
    assert main(["dataset-stats", str(dataset_copy)]) == 0
    assert _problems(dataset_copy, capsys) == (0, [])


def test_paraphrased_character_is_reported_with_both_ids(dataset_copy, capsys):
    lines = (dataset_copy / TRAIN_PSY).read_text().splitlines()
    source = json.loads(lines[1])
    copy_id = json.loads(lines[4])["id"]
    reworded = "Imagine that " + source["system_prompt"][0].lower() + source["system_prompt"][1:] + " Remain in role."
    _rewrite_line(dataset_copy, 5, _set("system_prompt", reworded))
    status = main(["validate-dataset", str(dataset_copy)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    found = [line for line in err if line.startswith("near-duplicate")]
    ids = " and ".join(sorted([source["id"], copy_id]))
    assert len(found) == 1, found
    assert found[0].startswith(f"near-duplicate character: {ids} (cosine 0.9")


def test_near_duplicate_questions_are_reported_separately_from_characters(dataset_copy, embedder):
    lines = (dataset_copy / TRAIN_PSY).read_text().splitlines()
    source = json.loads(lines[1])
    _rewrite_line(dataset_copy, 5, _set("open_ended_question", "So, " + source["open_ended_question"]))
    _rewrite_line(
        dataset_copy, 6, _set("self_report_question", source["self_report_question"].replace("?", ", honestly?"))
    )
    result = validate_path(dataset_copy, embed=embedder, card=False)
    assert not result.problems
    kinds = sorted((d.kind, d.id_a in {source["id"]} or d.id_b == source["id"]) for d in result.near_duplicates)
    assert kinds == [("open-ended question", True), ("self-report question", True)]


def test_distinct_texts_are_not_near_duplicates(embedder):
    records = [
        {
            "id": "a",
            "system_prompt": "You are a Viking raider.",
            "self_report_question": "Do you fear the sea?",
            "open_ended_question": "What do you bring on the longship?",
        },
        {
            "id": "b",
            "system_prompt": "You are a Tokyo accountant in 2020.",
            "self_report_question": "Do you enjoy karaoke?",
            "open_ended_question": "How do you answer your manager's late email?",
        },
    ]
    assert find_near_duplicates(records, embed=embedder) == []
    assert len(find_near_duplicates(records, threshold=-1.0, embed=embedder)) == 3


def test_missing_path_is_one_line_and_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "trustsim", "validate-dataset", str(tmp_path / "nope")], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"trustsim validate-dataset: error: {tmp_path / 'nope'}: no such file or directory"
    ]


def test_broken_copy_through_the_console_script_has_no_traceback(dataset_copy):
    _rewrite_line(dataset_copy, 3, _pop("dimension"))
    proc = subprocess.run(
        ["trustsim", "validate-dataset", str(dataset_copy), "--no-near-duplicates"], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"{dataset_copy / TRAIN_PSY}:3: field 'dimension': missing"]
