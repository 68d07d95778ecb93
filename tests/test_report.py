"""Reports: Table 2 / 3a / inconsistency tables, the three figures, and the instance parquet."""

from __future__ import annotations

import datasets
import pandas as pd
import pytest
from PIL import Image

from trustsim.evaluation.consistency import compute_consistency
from trustsim.evaluation.report import (
    MISSING,
    RunSummary,
    _short_label,
    render_markdown,
    write_instances_parquet,
    write_report,
)

SUBJECT_HEADER = "| Com. | Eco. | Edu. | Eth. | Law | Lin. | Org. | Pol. | Psy. | Soc. |"


def by_hand_run() -> RunSummary:
    """Metrics written by hand, so every table cell below is known exactly."""
    dimension = {
        "n": 2,
        "self_report_satisfaction_rate": 0.5,
        "open_ended_satisfaction_rate": 1.0,
        "inconsistency_rate": 0.5,
        "open_ended_mean_score": 4.25,
    }
    metrics = {
        "n": 4,
        "self_report_satisfaction_rate": 0.75,
        "open_ended_satisfaction_rate": 0.8125,
        "both_satisfied_rate": 0.625,
        "inconsistency_rate": 0.25,
        "open_ended_mean_score": 4.125,
        "difference": 0.0625,
        "missing_self_report": 1,
        "missing_open_ended": 0,
        "missing_score": 2,
        "mcnemar": {"b": 1, "c": 2, "p_value": 1.0},
        "ci": {"self_report_satisfaction_rate": [0.5, 1.0], "difference": [-0.25, 0.375]},
        "per_dimension": {
            "Psychology": dimension,
            "Law and Jurisprudence": {**dimension, "open_ended_mean_score": 3.0},
        },
        "failed_requests": {"self_report": 1, "open_ended": 0},
        "unparsable_verdicts": 2,
        "per_judge": {"openai:judge-a": {**dimension, "missing_self_report": 0, "missing_open_ended": 3}},
        "agreement": {
            "pairwise": [
                {
                    "judge_a": "openai:judge-a",
                    "judge_b": "openai:judge-b",
                    "n": 4,
                    "raw_agreement": 1.0,
                    "cohen_kappa": None,
                    "kappa_note": "undefined: same label",
                },
            ],
            "human": {"openai:judge-a": {"n": 50, "alignment_rate": 0.96, "cohen_kappa": 0.9, "missing": 0}},
        },
    }
    instances = [
        {
            "id": "psy-001",
            "dimension": "Psychology",
            "attribute": "value",
            "question_type": "self_report",
            "response": "Yes.",
            "verdict": True,
            "score": None,
            "verdict[openai:judge-a]": True,
            "score[openai:judge-a]": None,
        },
        {
            "id": "psy-001",
            "dimension": "Psychology",
            "attribute": "value",
            "question_type": "open_ended",
            "response": "I would...",
            "verdict": None,
            "score": 4.5,
            "verdict[openai:judge-a]": None,
            "score[openai:judge-a]": 4,
        },
    ]
    return RunSummary("hf:org/Model-A-Instruct", metrics, instances)


def computed_run() -> RunSummary:
    """A run scored by the real metric, without Law; its per-judge grades in the nested form."""
    out = compute_consistency(
        ["Psychology", "Psychology", "Economics"],
        [True, False, True],
        [True, True, None],
        [5.0, 3.0, None],
        n_bootstrap=50,
    )
    instances = [
        {
            "id": "eco-001",
            "dimension": "Economics",
            "attribute": "knowledge",
            "question_type": "open_ended",
            "response": None,
            "verdict": None,
            "score": None,
            "answered": False,
            "verdicts": {"openai:judge-b": None},
            "scores": {"openai:judge-b": None},
        },
    ]
    return RunSummary("openai:model-b", out, instances)


def table_rows(markdown: str, heading: str) -> list[str]:
    """The table lines under a ``##`` heading, the missing mark written as ``-`` (ASCII in this file)."""
    section = markdown.split(heading, 1)[1].split("\n## ", 1)[0]
    return [line.replace(MISSING, "-") for line in section.splitlines() if line.startswith("|")]


def test_report_tables(tmp_path):
    runs = [by_hand_run(), computed_run()]
    path = write_report(runs, tmp_path / "report")
    text = path.read_text(encoding="utf-8")
    assert path == tmp_path / "report" / "report.md"
    assert f"| openai:model-b | 3 | 0 | 1 | 1 | {MISSING} | {MISSING} |" in text  # an en dash, not a hyphen

    header, rule, first, second, average = table_rows(text, "(paper Table 2)")
    assert header == "| Model " + SUBJECT_HEADER + " Avg. |"
    assert rule.count("---") == 12
    assert first == "| hf:org/Model-A-Instruct | - | - | - | - | 3.00 | - | - | - | 4.25 | - | 4.12 |"
    # Psychology (5 + 3) / 2 = 4.00; Economics score unknown; Law not evaluated; Avg. 4.00
    assert second == "| openai:model-b | - | - | - | - | - | - | - | - | 4.00 | - | 4.00 |"
    # Avg. row: mean over the models that have the column
    assert average == "| **Avg.** | - | - | - | - | 3.00 | - | - | - | 4.12 | - | 4.06 |"

    header, _, first, second = table_rows(text, "(paper Table 3a)")
    assert header == "| Model | n | Self-Rep. | Open-En. | Δ (OE - SR) | McNemar p | Both satisfied |"
    assert first == "| hf:org/Model-A-Instruct | 4 | 75.0 [50.0, 100.0] | 81.2 | +6.2 [-25.0, 37.5] | 1.000 | 62.5 |"
    cells = [c.strip() for c in second.strip("|").split("|")]
    assert cells[:2] == ["openai:model-b", "3"]
    assert cells[2].startswith("66.7 [") and cells[3].startswith("100.0 [") and cells[4].startswith("+33.3 [")

    header, _, first, second = table_rows(text, "(paper Figure 8)")
    assert header == "| Model " + SUBJECT_HEADER + " All |"
    assert first == "| hf:org/Model-A-Instruct | - | - | - | - | 50.0 | - | - | - | 50.0 | - | 25.0 |"
    # model-b Psychology: (T,T) consistent, (F,T) inconsistent -> 50.0; Economics has no pair -> -
    assert second.startswith("| openai:model-b | - | - | - | - | - | - | - | - | 50.0 | - | 50.0 [")

    _, _, first, second = table_rows(text, "## Left out")
    assert first == "| hf:org/Model-A-Instruct | 4 | 1 | 0 | 2 | self_report: 1, open_ended: 0 | 2 |"
    assert second == "| openai:model-b | 3 | 0 | 1 | 1 | - | - |"

    text = text.replace(MISSING, "-")
    assert "| hf:org/Model-A-Instruct | openai:judge-a | 50.0 | 100.0 | - | 50.0 | 4.25 | SR 0, OE 3 |" in text
    assert "| openai:judge-a | openai:judge-b | 4 | 100.0 | - (undefined: same label) |" in text
    assert "| hf:org/Model-A-Instruct | openai:judge-a | 50 | 96.0 | 0.90 | 0 |" in text
    for name in ("self_report_satisfaction", "open_ended_satisfaction", "inconsistency"):
        assert f"(figures/{name}.png)" in text


def test_sections_only_when_present():
    text = render_markdown([computed_run()])
    assert "## Per judge" not in text and "## Judge agreement" not in text
    assert "**Avg.**" not in text  # one model: no average row


@pytest.mark.parametrize("n_models", [1, 8])
def test_figures_are_valid_images(tmp_path, n_models):
    runs = [RunSummary(f"{by_hand_run().name}-{'x' * 40}-{k}", by_hand_run().metrics) for k in range(n_models)]
    write_report(runs, tmp_path)
    sizes = []
    for name in ("self_report_satisfaction", "open_ended_satisfaction", "inconsistency"):
        with Image.open(tmp_path / "figures" / f"{name}.png") as image:
            image.verify()
        with Image.open(tmp_path / "figures" / f"{name}.png") as image:
            sizes.append(image.size)
    assert all(width > 800 and height > 200 for width, height in sizes)


def test_runs_must_be_distinct_and_present(tmp_path):
    with pytest.raises(ValueError, match="no runs"):
        write_report([], tmp_path)
    with pytest.raises(ValueError, match="repeated: a"):
        write_report([RunSummary("a", {}), RunSummary("a", {})], tmp_path)


def test_short_label_keeps_both_ends_and_wraps():
    label = _short_label("hf:/very/long/local/path/to/checkpoints/mistralai/Mixtral-8x7B-Instruct-adaorpo-step-1200")
    assert label.startswith("hf:/very") and label.endswith("step-1200")
    assert "…" in label
    assert all(len(line) <= 30 for line in label.splitlines())
    assert _short_label("openai:gpt-4o") == "openai:gpt-4o"


def test_instances_parquet_round_trip(tmp_path):
    path = write_instances_parquet([by_hand_run(), computed_run()], tmp_path)
    frame = pd.read_parquet(path)
    assert list(frame.columns[:8]) == [
        "model",
        "id",
        "dimension",
        "attribute",
        "question_type",
        "response",
        "verdict",
        "score",
    ]
    judge_columns = [
        "verdict[openai:judge-a]",
        "score[openai:judge-a]",
        "verdict[openai:judge-b]",
        "score[openai:judge-b]",
    ]
    assert list(frame.columns[8:12]) == judge_columns
    assert len(frame) == 3
    assert list(frame["model"]) == ["hf:org/Model-A-Instruct"] * 2 + ["openai:model-b"]
    assert frame.loc[1, "score[openai:judge-a]"] == 4.0
    assert pd.isna(frame.loc[2, "verdict[openai:judge-a]"])  # judge absent from that run: null
    assert frame.loc[2, "answered"] == False  # noqa: E712 - an extra key is kept as a column

    loaded = datasets.load_dataset("parquet", data_files=str(path), split="train")
    assert loaded.features["verdict"] == datasets.Value("bool")
    assert loaded.features["score[openai:judge-b]"] == datasets.Value("float64")  # all null, still typed
    assert loaded[0]["verdict"] is True and loaded[1]["verdict"] is None
    assert loaded[1]["score"] == 4.5
