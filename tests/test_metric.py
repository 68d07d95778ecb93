"""The trustsim_consistency metric against numbers worked out by hand, through evaluate and directly."""

from __future__ import annotations

import json
from pathlib import Path

import evaluate
import pytest

from trustsim.evaluation import consistency
from trustsim.evaluation.consistency import compute_consistency, load_metric

METRIC_PATH = Path(__file__).resolve().parents[1] / "metrics" / "trustsim_consistency"

# Six instances, two subjects, one unknown value of each kind (hand-worked numbers in the tests).
DIMS = ["A", "A", "A", "B", "B", "B"]
SR = [True, True, False, None, True, False]
OE = [True, False, True, True, None, False]
SCORE = [5.0, 2.0, 4.5, None, 3.0, 1.0]


@pytest.fixture(scope="module")
def metric() -> evaluate.EvaluationModule:
    """The metric as users get it: ``evaluate.load`` of the repository folder, offline."""
    return evaluate.load(str(METRIC_PATH), keep_in_memory=True)


def compute(**kwargs):
    kwargs.setdefault("n_bootstrap", 200)
    return compute_consistency(**kwargs)


def test_evaluate_load_matches_hand_computed_values_and_is_reproducible(metric):
    inputs = {
        "dimension": DIMS,
        "self_report_satisfied": SR,
        "open_ended_satisfied": OE,
        "open_ended_score": SCORE,
    }
    first = metric.compute(**inputs)
    second = metric.compute(**inputs)
    assert first == second  # seeded bootstrap: identical calls, identical output, CIs included
    assert first == compute_consistency(**inputs)  # one implementation behind both entry points

    # self-report known: T T F T F -> 3/5; open-ended known: T F T T F -> 3/5
    assert first["self_report_satisfaction_rate"] == pytest.approx(0.6)
    assert first["open_ended_satisfaction_rate"] == pytest.approx(0.6)
    assert first["difference"] == pytest.approx(0.0)
    # paired instances 0, 1, 2, 5: (T,T) (T,F) (F,T) (F,F)
    assert first["n_paired"] == 4
    assert first["both_satisfied_rate"] == pytest.approx(0.25)
    assert first["inconsistency_rate"] == pytest.approx(0.5)
    assert first["open_ended_mean_score"] == pytest.approx((5 + 2 + 4.5 + 3 + 1) / 5)
    assert (first["n"], first["n_self_report"], first["n_open_ended"], first["n_scored"]) == (6, 5, 5, 5)
    assert (first["missing_self_report"], first["missing_open_ended"], first["missing_score"]) == (1, 1, 1)
    assert first["mcnemar"]["b"] == 1 and first["mcnemar"]["c"] == 1
    assert first["mcnemar"]["p_value"] == pytest.approx(1.0)
    json.dumps(first, allow_nan=False)  # plain JSON, no NaN sneaking in


def test_per_dimension_hand_computed():
    out = compute(dimension=DIMS, self_report_satisfied=SR, open_ended_satisfied=OE, open_ended_score=SCORE)
    a, b = out["per_dimension"]["A"], out["per_dimension"]["B"]
    assert set(out["per_dimension"]) == {"A", "B"}
    assert a["self_report_satisfaction_rate"] == pytest.approx(2 / 3)
    assert a["open_ended_satisfaction_rate"] == pytest.approx(2 / 3)
    assert a["both_satisfied_rate"] == pytest.approx(1 / 3)
    assert a["inconsistency_rate"] == pytest.approx(2 / 3)
    assert a["open_ended_mean_score"] == pytest.approx(11.5 / 3)
    # B: SR None,T,F; OE T,None,F -> only instance 5 (F,F) is paired
    assert b["self_report_satisfaction_rate"] == pytest.approx(0.5)
    assert b["open_ended_satisfaction_rate"] == pytest.approx(0.5)
    assert (b["n_paired"], b["both_satisfied_rate"], b["inconsistency_rate"]) == (1, 0.0, 0.0)
    assert b["open_ended_mean_score"] == pytest.approx(2.0)
    assert (b["missing_self_report"], b["missing_open_ended"], b["missing_score"]) == (1, 1, 1)
    assert set(a) == set(out) - {"per_dimension", "bootstrap"}  # the same keys, ci included


def test_unknown_verdict_is_left_out_not_counted_as_not_satisfied():
    out = compute(
        dimension=["A"] * 4,
        self_report_satisfied=[True, True, None, None],
        open_ended_satisfied=[True] * 4,
        open_ended_score=[4.0] * 4,
    )
    assert out["self_report_satisfaction_rate"] == 1.0  # 2/2, not 2/4
    assert out["missing_self_report"] == 2
    assert out["n_paired"] == 2


def test_mcnemar_exact_p_value():
    # 6 instances self-report only satisfied, none the other way: p = 2 * 0.5**6
    out = compute(
        dimension=["A"] * 8,
        self_report_satisfied=[True] * 8,
        open_ended_satisfied=[False] * 6 + [True] * 2,
        open_ended_score=[None] * 8,
    )
    assert (out["mcnemar"]["b"], out["mcnemar"]["c"], out["mcnemar"]["statistic"]) == (6, 0, 0)
    assert out["mcnemar"]["p_value"] == pytest.approx(2 * 0.5**6)
    assert out["difference"] == pytest.approx(2 / 8 - 1.0)
    # b = 5, c = 1: P(X <= 1 | n=6) = 7/64, two-sided 14/64
    out = compute(
        dimension=["A"] * 6,
        self_report_satisfied=[True] * 5 + [False],
        open_ended_satisfied=[False] * 5 + [True],
        open_ended_score=[None] * 6,
    )
    assert out["mcnemar"]["p_value"] == pytest.approx(14 / 64)


def test_every_value_of_one_type_unknown():
    out = compute(
        dimension=["A", "A", "B"],
        self_report_satisfied=[None, None, None],
        open_ended_satisfied=[True, False, True],
        open_ended_score=[4.0, 2.0, 3.5],
    )
    for key in ("self_report_satisfaction_rate", "both_satisfied_rate", "inconsistency_rate", "difference"):
        assert out[key] is None
        assert out["ci"][key] is None
        assert out["per_dimension"]["A"][key] is None
    assert out["open_ended_satisfaction_rate"] == pytest.approx(2 / 3)
    assert (out["n_self_report"], out["missing_self_report"], out["n_paired"]) == (0, 3, 0)
    assert out["mcnemar"]["p_value"] is None  # no pairs: the test is not defined


def test_every_verdict_unparsable(metric):
    out = metric.compute(
        dimension=["A", "B"],
        self_report_satisfied=[None, None],
        open_ended_satisfied=[None, None],
        open_ended_score=[None, None],
        n_bootstrap=50,
    )
    for key in ("self_report_satisfaction_rate", "open_ended_satisfaction_rate", "open_ended_mean_score"):
        assert out[key] is None
        assert out["per_dimension"]["B"][key] is None
    assert all(value is None for value in out["ci"].values())
    assert (out["missing_self_report"], out["missing_open_ended"], out["missing_score"]) == (2, 2, 2)


def test_empty_input(metric):
    out = metric.compute(dimension=[], self_report_satisfied=[], open_ended_satisfied=[], open_ended_score=[])
    assert out["n"] == 0
    assert out["per_dimension"] == {}
    assert out["self_report_satisfaction_rate"] is None
    assert out["mcnemar"]["p_value"] is None


def test_single_instance_gives_degenerate_but_defined_intervals():
    out = compute(dimension=["A"], self_report_satisfied=[True], open_ended_satisfied=[False], open_ended_score=[2.5])
    assert out["ci"]["self_report_satisfaction_rate"] == [1.0, 1.0]
    assert out["ci"]["inconsistency_rate"] == [1.0, 1.0]
    assert out["ci"]["open_ended_mean_score"] == [2.5, 2.5]
    assert out["ci"]["difference"] == [-1.0, -1.0]


def test_bootstrap_interval_two_instances():
    # Resamples of [T, F] have rate 0, 0.5 or 1 (probability 1/4, 1/2, 1/4): the 95% interval is [0, 1].
    out = compute(
        dimension=["A", "A"],
        self_report_satisfied=[True, False],
        open_ended_satisfied=[True, True],
        open_ended_score=[None, None],
        n_bootstrap=1000,
    )
    assert out["ci"]["self_report_satisfaction_rate"] == [0.0, 1.0]
    assert out["ci"]["open_ended_satisfaction_rate"] == [1.0, 1.0]
    assert out["ci"]["open_ended_mean_score"] is None


def test_bootstrap_resamples_instances_paired():
    # Same verdict on both questions everywhere: every paired resample has difference 0 exactly;
    # resampling the two lists separately would give a wide interval.
    verdicts = [True, False] * 10
    out = compute(
        dimension=["A"] * 20, self_report_satisfied=verdicts, open_ended_satisfied=verdicts, open_ended_score=[3.0] * 20
    )
    assert out["ci"]["difference"] == [0.0, 0.0]
    assert out["ci"]["inconsistency_rate"] == [0.0, 0.0]
    low, high = out["ci"]["self_report_satisfaction_rate"]
    assert low < 0.5 < high


def test_seed_controls_intervals():
    verdicts = [True, False, True, True, False, True, False, True, True, True]
    args = {
        "dimension": ["A"] * 10,
        "self_report_satisfied": verdicts,
        "open_ended_satisfied": verdicts[::-1],
        "open_ended_score": [float(1 + i % 5) for i in range(10)],
    }
    assert compute(**args, seed=1) == compute(**args, seed=1)
    assert compute(**args, seed=1)["ci"] != compute(**args, seed=2)["ci"]
    assert all(value is None for value in compute(**args, n_bootstrap=0)["ci"].values())


def test_bad_inputs_are_refused_not_cast(metric):
    base = {"dimension": ["A"], "open_ended_satisfied": [True], "open_ended_score": [3.0]}
    # datasets' bool feature would silently turn "Not Satisfied" into True
    with pytest.raises(ValueError, match=r"self_report_satisfied\[0\]"):
        metric.compute(self_report_satisfied=["Not Satisfied"], **base)
    with pytest.raises(ValueError, match=r"open_ended_score\[0\] must be in \[1, 5\]"):
        compute_consistency(["A"], [True], [True], [7.0])
    with pytest.raises(ValueError, match="lengths"):
        compute_consistency(["A", "B"], [True], [True], [3.0])


def test_load_metric_helper(monkeypatch, tmp_path):
    metric = load_metric()
    out = metric.compute(
        dimension=["A"],
        self_report_satisfied=[True],
        open_ended_satisfied=[True],
        open_ended_score=[4.0],
        n_bootstrap=10,
    )
    assert out["both_satisfied_rate"] == 1.0
    monkeypatch.setattr(consistency, "METRIC_SCRIPT", tmp_path / "nowhere" / "trustsim_consistency.py")
    with pytest.raises(FileNotFoundError, match="pip install -e"):
        load_metric()
