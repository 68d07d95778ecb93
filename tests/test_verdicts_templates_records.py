"""Judge templates, verdict parsing and crash-safe record files."""

from __future__ import annotations

import json

import pytest

from trustsim.evaluation.templates import judge_prompt
from trustsim.evaluation.verdicts import parse_binary, parse_score, parse_self_report
from trustsim.records import JUDGMENT_KEY, RecordFile, read_jsonl, repair_torn_tail

INSTANCE = {
    "system_prompt": "You are a {curly} ferryman.",
    "scenario": "An LLM is simulating a ferryman.",
    "self_report_question": "Do you swim?",
    "open_ended_question": "What do you do when the river floods?",
    "explanation": "He cannot swim.",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Analysis... [[Satisfied]]", True),
        ("Analysis... [[Not Satisfied]]", False),
        ("I must return '[[Satisfied]]' or '[[Not Satisfied]]'. Verdict: **[[ not   satisfied ]]**", False),
        ("[[Not Satisfied]] at first, but on reflection [[SATISFIED]].", True),
        ("Final: [[**Satisfied**]]", True),
        ("The answer is satisfied.", None),
        ("[[Mostly Satisfied]]", None),
        ("[[Satisfied]] ... [[Partially]]", None),
        ("", None),
    ],
)
def test_binary_verdicts(text, expected):
    assert parse_binary(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so [[4]]", 4),
        ("[[ 1 ]]", 1),
        ("**[[5]]**", 5),
        ("[[4.5]]", None),
        ("[[4/5]]", None),
        ("[[6]]", None),
        ("[[0]]", None),
        ("[[score]] then [[3]]", 3),
        ("[[3]] then [[score]]", 3),  # [[score]] is the template's own placeholder, never a verdict
        ("[[3]] then [[high]]", None),  # any other last token still decides: strict, no guess
        ("a 4 out of 5", None),
    ],
)
def test_score_verdicts(text, expected):
    assert parse_score(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes, because...", "Yes"),
        ("**No.** I would not", "No"),
        ("no", "No"),
        ("Yesterday I...", None),
        ("Well, yes.", None),
        ('"Yes" - of course', "Yes"),
    ],
)
def test_self_report_answers(text, expected):
    assert parse_self_report(text) == expected


def test_judge_prompt_quotes_every_field_verbatim_and_is_safe_against_braces():
    response = "I {never} swim. {response}"
    prompt = judge_prompt("binary", INSTANCE, "open_ended", response)
    for text in (
        INSTANCE["system_prompt"],
        INSTANCE["scenario"],
        INSTANCE["open_ended_question"],
        INSTANCE["explanation"],
        response,
    ):
        assert text in prompt
    assert "[[Not Satisfied]]" in prompt
    assert "output the score using a format of [[score]]" in judge_prompt("score", INSTANCE, "self_report", "No.")
    with pytest.raises(ValueError, match="unknown judge template"):
        judge_prompt("likert", INSTANCE, "self_report", "No.")


def _judgment(i: int) -> dict:
    return {"id": f"psy-{i:03d}", "question_type": "open_ended", "judge": "j", "template": "binary", "verdict": True}


def test_record_file_resumes_and_repairs_a_torn_tail(tmp_path, caplog):
    path = tmp_path / "judgments.jsonl"
    with RecordFile(path, JUDGMENT_KEY) as store:
        store.append(_judgment(1))
        store.append(_judgment(2))
    with open(path, "a") as handle:  # a write cut off by kill -9
        handle.write('{"id": "psy-003", "question_ty')
    store = RecordFile(path, JUDGMENT_KEY)
    assert "repaired a torn last line" in caplog.text
    assert len(store) == 2 and ("psy-002", "open_ended", "j", "binary") in store
    store.append(_judgment(3))
    store.close()
    assert [r["id"] for r in read_jsonl(path)] == ["psy-001", "psy-002", "psy-003"]


def test_complete_but_invalid_last_line_is_repaired_and_middle_corruption_is_named(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(_judgment(1)) + "\n" + '{"broken\n')
    assert repair_torn_tail(path) == len('{"broken\n')
    path.write_text('{"broken\n' + json.dumps(_judgment(1)) + "\n")
    with pytest.raises(ValueError, match=r"r.jsonl:1: not valid JSON"):
        RecordFile(path, JUDGMENT_KEY)
