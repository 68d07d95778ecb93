"""Statistics, the card's generated sections and the figure."""

from __future__ import annotations

from trustsim.dataset import read_records
from trustsim.dataset.card import render_card
from trustsim.dataset.stats import compute_statistics, plot_statistics, render_markdown, word_count
from trustsim.paths import SHIPPED_DATASET
from trustsim.schema import COLUMNS


def _record(i: int, dimension: str, attribute: str, expected: str, sr_words: int, oe_words: int) -> dict:
    return {c: c for c in COLUMNS} | {
        "id": f"{dimension[:3].lower()}-{i:03d}",
        "dimension": dimension,
        "attribute": attribute,
        "self_report_expected": expected,
        "self_report_question": " ".join(["w"] * sr_words),
        "open_ended_question": " ".join(["w"] * oe_words),
    }


RECORDS = [
    _record(1, "Psychology", "time", "Yes", 8, 12),
    _record(2, "Psychology", "time", "No", 12, 20),
    _record(3, "Psychology", "value", "No", 30, 22),
    _record(1, "Economics", "value", "Yes", 10, 25),
]


def test_counts_and_word_statistics_match_hand_computation():
    stats = compute_statistics(RECORDS)
    assert stats["n"] == 4
    assert stats["dimensions"] == ["Psychology", "Economics"]
    assert stats["per_dimension"] == {"Psychology": 3, "Economics": 1}
    assert stats["per_attribute"] == {"time": 2, "value": 2}
    assert stats["per_dimension_attribute"] == {"Psychology|time": 2, "Psychology|value": 1, "Economics|value": 1}
    assert stats["yes_per_dimension"] == {"Psychology": 1, "Economics": 1}
    assert sum(stats["train_per_dimension"].values()) == 3  # ceil(3/2) + ceil(1/2)
    sr, oe = stats["words"]["self-report"], stats["words"]["open-ended"]
    assert (sr["mean"], sr["median"], sr["min"], sr["max"], sr["share_10_25"]) == (15.0, 11.0, 8, 30, 0.5)
    assert (oe["mean"], oe["min"], oe["max"], oe["share_10_25"]) == (19.75, 12, 25, 1.0)


def test_markdown_table_rows():
    text = render_markdown(compute_statistics(RECORDS))
    assert "**4 instances** in 2 of 10 subjects." in text
    assert "| Psychology | 0 | 0 | 0 | 1 | 2 | 0 | 0 | 3 | 1 / 2 | 2 / 1 |" in text
    assert "| self-report | 15.0 | 11 | 8 | 30 | 50% |" in text


def test_word_count_splits_on_whitespace():
    assert word_count("  Would you,  in 1850, vote?\n") == 5


def test_shipped_card_shows_current_statistics_and_figure():
    card = (SHIPPED_DATASET / "README.md").read_text(encoding="utf-8")
    records = read_records(SHIPPED_DATASET)
    assert render_card(card, records) == card
    assert f"**{len(records)} instances**" in card
    assert "![Instances per subject and question lengths](figures/statistics.png)" in card
    assert (SHIPPED_DATASET / "figures/statistics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_writes_a_png(tmp_path):
    path = plot_statistics(RECORDS, tmp_path / "fig.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
