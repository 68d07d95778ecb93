"""Judge agreement: pairwise kappa, score-vs-verdict checks, human labels, against hand-worked values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trustsim.evaluation.agreement import (
    human_alignment,
    pairwise_agreement,
    read_human_labels,
    score_verdict_agreement,
)


def binary(judge: str, item: str, verdict: bool | None, question_type: str = "open_ended") -> dict:
    return {"id": item, "question_type": question_type, "judge": judge, "template": "binary", "verdict": verdict}


def score(judge: str, item: str, value: int | None, question_type: str = "open_ended") -> dict:
    return {
        "id": item,
        "question_type": question_type,
        "judge": judge,
        "template": "score",
        "verdict": None,
        "score": value,
    }


def test_pairwise_kappa_hand_computed():
    # a: T F T T, b: T T T F. observed 2/4; chance .75*.75 + .25*.25 = .625; kappa (.5-.625)/.375 = -1/3
    judgments = [binary("a", f"x{i}", v) for i, v in enumerate([True, False, True, True])]
    judgments += [binary("b", f"x{i}", v) for i, v in enumerate([True, True, True, False])]
    judgments += [score("a", "x0", 5), score("b", "x0", 1)]  # score records are not binary verdicts
    [pair] = pairwise_agreement(judgments)
    assert (pair["judge_a"], pair["judge_b"], pair["n"], pair["n_agree"]) == ("a", "b", 4, 2)
    assert pair["raw_agreement"] == pytest.approx(0.5)
    assert pair["cohen_kappa"] == pytest.approx(-1 / 3)
    assert pair["kappa_note"] is None


def test_pairwise_items_are_keyed_by_id_and_question_type_and_skip_unknown():
    judgments = [
        binary("a", "x", True, "self_report"),
        binary("a", "x", False, "open_ended"),
        binary("a", "y", True, "open_ended"),
        binary("b", "x", True, "self_report"),
        binary("b", "x", False, "open_ended"),
        binary("b", "y", None, "open_ended"),  # unparsable: not a disagreement, just not compared
    ]
    [pair] = pairwise_agreement(judgments)
    assert pair["n"] == 2
    assert pair["raw_agreement"] == 1.0
    assert pair["cohen_kappa"] == pytest.approx(1.0)


def test_kappa_undefined_cases_give_none_with_reason():
    judgments = [binary(judge, f"x{i}", True) for judge in ("a", "b") for i in range(3)]
    judgments += [binary("c", f"x{i}", None) for i in range(3)]  # c never gave a verdict
    judgments += [binary("d", f"x{i}", False) for i in range(3)]
    pairs = {(p["judge_a"], p["judge_b"]): p for p in pairwise_agreement(judgments)}
    assert set(pairs) == {("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d")}
    same = pairs[("a", "b")]
    assert same["raw_agreement"] == 1.0 and same["cohen_kappa"] is None
    assert "same label" in same["kappa_note"]
    empty = pairs[("a", "c")]
    assert (empty["n"], empty["raw_agreement"], empty["cohen_kappa"]) == (0, None, None)
    assert "no items" in empty["kappa_note"]
    # all True against all False is defined: observed 0, chance 0 -> kappa 0
    opposite = pairs[("a", "d")]
    assert opposite["raw_agreement"] == 0.0 and opposite["cohen_kappa"] == pytest.approx(0.0)


def test_score_verdict_agreement_hand_computed():
    pairs = [(5, True), (2, True), (4, False), (3, False), (1, False)]
    judgments = []
    for i, (value, verdict) in enumerate(pairs):
        judgments += [binary("j", f"x{i}", verdict), score("j", f"x{i}", value)]
    judgments += [binary("j", "only-verdict", True), binary("j", "bad-score", False), score("j", "bad-score", None)]
    judgments += [binary("j", "bad-verdict", None), score("j", "bad-verdict", 1)]
    judgments += [binary("k", "x0", True)]  # k has no scores at all: nothing to compare
    result = score_verdict_agreement(judgments)
    assert set(result) == {"j"}
    j = result["j"]
    assert j["n"] == 5
    assert j["mean_score_satisfied"] == pytest.approx(3.5)
    assert j["mean_score_not_satisfied"] == pytest.approx(8 / 3)
    assert (j["low_score_satisfied"], j["high_score_not_satisfied"], j["warnings"]) == (1, 1, 2)
    assert j["warning_fraction"] == pytest.approx(0.4)
    assert j["table"] == {
        "1": {"satisfied": 0, "not_satisfied": 1},
        "2": {"satisfied": 1, "not_satisfied": 0},
        "3": {"satisfied": 0, "not_satisfied": 1},
        "4": {"satisfied": 0, "not_satisfied": 1},
        "5": {"satisfied": 1, "not_satisfied": 0},
    }
    json.dumps(result)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_read_human_labels_csv_and_jsonl_spellings(tmp_path):
    csv_path = write(
        tmp_path / "labels.csv",
        "id,question_type,label,annotator\n"
        "a,open_ended,Satisfied,x\n"
        "a,self_report,NOT SATISFIED,x\n"
        "b,open_ended, yes ,x\n"
        "c,open_ended,0,x\n",
    )
    assert read_human_labels(csv_path) == {
        ("a", "open_ended"): True,
        ("a", "self_report"): False,
        ("b", "open_ended"): True,
        ("c", "open_ended"): False,
    }
    jsonl_path = write(
        tmp_path / "labels.jsonl",
        '{"id": "a", "question_type": "open_ended", "label": true}\n\n'
        '{"id": "b", "question_type": "open_ended", "label": "No"}\n'
        '{"id": "c", "question_type": "open_ended", "label": 1}\n',
    )
    assert read_human_labels(jsonl_path) == {
        ("a", "open_ended"): True,
        ("b", "open_ended"): False,
        ("c", "open_ended"): True,
    }


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("missing.csv", "id,question_type\na,open_ended\n", r"missing.csv:1: missing column 'label'"),
        ("bad.csv", "id,question_type,label\na,open_ended,yes\nb,open_ended,maybe\n", r"bad.csv:3: field 'label'"),
        (
            "dup.csv",
            "id,question_type,label\na,open_ended,yes\nb,open_ended,no\na,open_ended,no\n",
            r"dup.csv:4: field 'id' repeats 'a'.*line 2",
        ),
        ("type.csv", "id,question_type,label\na,open,yes\n", r"type.csv:2: field 'question_type'"),
        ("empty.csv", "id,question_type,label\n,open_ended,yes\n", r"empty.csv:2: missing field 'id'"),
        ("field.jsonl", '{"id": "a", "question_type": "open_ended"}\n', r"field.jsonl:1: missing field 'label'"),
        ("json.jsonl", '{"id": "a", "question_type": "open_ended", "label": 1}\n{oops\n', r"json.jsonl:2: not valid"),
        ("labels.txt", "id,question_type,label\n", r"labels.txt: .*csv or .jsonl"),
    ],
)
def test_read_human_labels_errors_name_file_line_and_field(tmp_path, name, text, message):
    with pytest.raises(ValueError, match=message) as info:
        read_human_labels(write(tmp_path / name, text))
    assert "\n" not in str(info.value)


def test_human_alignment_like_table_6():
    human = {
        ("x0", "open_ended"): True,
        ("x1", "open_ended"): True,
        ("x2", "open_ended"): False,
        ("x3", "open_ended"): False,
        ("x4", "open_ended"): True,
    }
    # judge g: T T F T on x0..x3 (x4 unparsable): 3 of 4 agree.
    # kappa: human T T F F, judge T T F T -> po .75, pe .5*.75 + .5*.25 = .5 -> .5
    judgments = [binary("g", f"x{i}", v) for i, v in enumerate([True, True, False, True, None])]
    judgments += [binary("h", "x0", False), binary("h", "x9", True)]  # x9 has no human label
    result = human_alignment(judgments, human)
    assert result["g"]["n"] == 4 and result["g"]["n_agree"] == 3
    assert result["g"]["alignment_rate"] == pytest.approx(0.75)
    assert result["g"]["cohen_kappa"] == pytest.approx(0.5)
    assert result["g"]["missing"] == 1
    assert result["h"]["n"] == 1 and result["h"]["alignment_rate"] == 0.0
    assert result["h"]["missing"] == 4


def test_a_label_error_in_a_multi_line_csv_row_names_the_line_the_row_starts_on(tmp_path):
    path = write(
        tmp_path / "sheet.csv",
        'id,question_type,label,answer\na,open_ended,yes,"two\nlines"\nb,open_ended,maybe,"three\nmore\nlines"\n',
    )
    with pytest.raises(ValueError, match=r"sheet.csv:4: field 'label' has 'maybe'"):
        read_human_labels(path)


def test_labels_for_items_outside_the_run_are_refused_when_the_run_is_known(tmp_path):
    path = write(tmp_path / "labels.csv", "id,question_type,label\na,open_ended,yes\nb,self_report,no\n")
    assert read_human_labels(path, known={("a", "open_ended"), ("b", "self_report")}) == {
        ("a", "open_ended"): True,
        ("b", "self_report"): False,
    }
    with pytest.raises(ValueError, match=r"labels.csv:3: field 'id' has 'b' \(self_report\), which is not in this run"):
        read_human_labels(path, known={("a", "open_ended"), ("b", "open_ended")})


@pytest.mark.parametrize(("agree", "n"), [(0, 5), (3, 4), (5, 5), (37, 50), (1, 1)])
def test_the_agreement_interval_is_wilsons(agree, n):
    from scipy.stats import binomtest

    from trustsim.evaluation.agreement import wilson_interval

    expected = binomtest(agree, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(agree, n) == pytest.approx([expected.low, expected.high])
    assert wilson_interval(0, 0) is None


def test_kappa_intervals_are_seeded_cover_the_estimate_and_come_with_every_comparison():
    from trustsim.evaluation.agreement import kappa_interval

    a = [True, True, False, True, False, False, True, True, False, True]
    b = [True, False, False, True, False, True, True, True, False, True]
    low, high = kappa_interval(a, b)
    assert kappa_interval(a, b) == [low, high]  # seeded: the same interval every time
    assert -1 <= low <= cohen_kappa(a, b) <= high <= 1
    assert kappa_interval([True] * 3, [True] * 3) is None  # kappa itself undefined: no interval
    judgments = [binary("a", f"x{i}", v) for i, v in enumerate(a)] + [binary("b", f"x{i}", v) for i, v in enumerate(b)]
    [pair] = pairwise_agreement(judgments)
    assert pair["cohen_kappa_ci"] == [low, high] and pair["raw_agreement_ci"][0] < 0.8 < pair["raw_agreement_ci"][1]
    human = human_alignment(judgments, {(f"x{i}", "open_ended"): v for i, v in enumerate(b)})
    assert human["a"]["cohen_kappa_ci"] == [low, high] and human["a"]["alignment_rate"] == 0.8


def cohen_kappa(a: list[bool], b: list[bool]) -> float:
    from sklearn.metrics import cohen_kappa_score

    return float(cohen_kappa_score(a, b))
