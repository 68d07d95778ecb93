"""`trustsim annotate`: a blinded, stratified sheet whose filled copy is what `--human-labels` reads.

The round trip: annotate, fill the labels (in the CSV and in the JSONL), report with the filled sheet,
and compare the report's agreement table with n, agreement, kappa and intervals computed here, from
the run's files, with other code (scikit-learn's kappa, SciPy's Wilson interval).
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.metrics import cohen_kappa_score

from trustsim.cli import main
from trustsim.evaluation.agreement import read_human_labels
from trustsim.evaluation.annotate import SHEET_COLUMNS, sample_answers
from trustsim.formatting import MISSING

JUDGES = ("mock:judge-a", "mock:judge-b")


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _human_label(item_id: str, question_type: str) -> bool:
    """A person's made-up label, fixed per answer so the test knows every one."""
    return (sum(map(ord, item_id)) + len(question_type)) % 3 != 0


def test_the_sheet_is_blinded_stratified_seeded_and_recorded(mock_run: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.csv"
    assert main(["annotate", str(mock_run), "--n", "8", "--output", str(sheet), "--seed", "3"]) == 0
    rows = _read_csv(sheet)
    jsonl = _lines(tmp_path / "sheet.jsonl")
    meta = json.loads((tmp_path / "sheet.meta.json").read_text())
    assert list(rows[0]) == list(SHEET_COLUMNS) and rows == jsonl  # the same rows in both files
    assert len(rows) == 8 and all(row["label"] == "" for row in rows)
    assert list(rows[0])[:3] == ["id", "question_type", "label"]
    assert meta["seed"] == 3 and meta["n"] == 8 and meta["order"] == [[r["id"], r["question_type"]] for r in rows]

    # What the judge saw (the instance's texts and the answer), and not one thing the judge said.
    answers = {(r["id"], r["question_type"]): r["response"] for r in _lines(mock_run / "responses.jsonl")}
    for row in rows:
        assert row["answer"] == answers[(row["id"], row["question_type"])]
    blob = sheet.read_text() + (tmp_path / "sheet.jsonl").read_text() + (tmp_path / "sheet.meta.json").read_text()
    for judgment in _lines(mock_run / "judgments.jsonl"):
        assert judgment["raw"] not in blob
    assert not any(word in column for column in SHEET_COLUMNS for word in ("verdict", "score", "judge", "raw"))

    # Stratified: 12 answers in 6 subjects x 2 question types; 8 of them leave no stratum with two.
    assert max(Counter((r["dimension"], r["question_type"]) for r in rows).values()) == 1
    assert len({(r["id"], r["question_type"]) for r in rows}) == 8

    # The same seed draws the same sheet; another seed another one.
    again = tmp_path / "again.csv"
    assert main(["annotate", str(mock_run), "--n", "8", "--output", str(again), "--seed", "3"]) == 0
    assert _read_csv(again) == rows
    other = tmp_path / "other.jsonl"
    assert main(["annotate", str(mock_run), "--n", "8", "--output", str(other), "--seed", "4"]) == 0
    assert [r["id"] + r["question_type"] for r in _lines(other)] != [r["id"] + r["question_type"] for r in rows]


def test_proportional_allocation_follows_the_strata_sizes() -> None:
    answers = [{"dimension": "A", "question_type": "open_ended", "k": i} for i in range(30)]
    answers += [{"dimension": "B", "question_type": "open_ended", "k": i} for i in range(10)]
    chosen = sample_answers(answers, 8, seed=0)
    assert Counter(a["dimension"] for a in chosen) == {"A": 6, "B": 2}
    assert len({(a["dimension"], a["k"]) for a in chosen}) == 8


def test_annotate_refuses_too_many_answers_and_an_existing_sheet(mock_run: Path, tmp_path: Path, capsys) -> None:
    assert main(["annotate", str(mock_run), "--n", "13", "--output", str(tmp_path / "s.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--n 13: the run has 12 answers to label; ask for 1 to 12" in err and len(err.splitlines()) == 1
    assert not list(tmp_path.glob("s.*"))  # nothing written
    assert main(["annotate", str(mock_run), "--n", "4", "--output", str(tmp_path / "s.csv")]) == 0
    labelled = tmp_path / "s.csv"
    labelled.write_text(labelled.read_text().replace(",,", ",Satisfied,", 1))
    before = labelled.read_text()
    assert main(["annotate", str(mock_run), "--n", "4", "--output", str(tmp_path / "s.jsonl")]) == 2
    assert "a sheet is already there" in capsys.readouterr().err
    assert labelled.read_text() == before  # someone's labels are never overwritten
    assert main(["annotate", str(mock_run), "--n", "4", "--output", str(tmp_path / "s.txt")]) == 2
    assert ".csv or .jsonl" in capsys.readouterr().err


def _expected_agreement(run: Path, labels: dict[tuple[str, str], bool], judge: str) -> dict:
    """n, agreement, kappa and the intervals of one judge, computed here from judgments.jsonl."""
    verdicts = {
        (j["id"], j["question_type"]): j["verdict"]
        for j in _lines(run / "judgments.jsonl")
        if j["judge"] == judge and j["template"] == "binary" and j["verdict"] is not None
    }
    items = sorted(labels.keys() & verdicts.keys())
    human = [labels[i] for i in items]
    model = [verdicts[i] for i in items]
    agree = sum(h == m for h, m in zip(human, model, strict=True))
    wilson = binomtest(agree, len(items)).proportion_ci(confidence_level=0.95, method="wilson")
    index = np.random.default_rng(0).integers(0, len(items), size=(1000, len(items)))
    boot = []
    for row in index:
        a, b = [human[k] for k in row], [model[k] for k in row]
        if len(set(a) | set(b)) > 1:
            boot.append(cohen_kappa_score(a, b, labels=[False, True]))
    return {
        "n": len(items),
        "agreement": agree / len(items),
        "wilson": (wilson.low, wilson.high),
        "kappa": cohen_kappa_score(human, model, labels=[False, True]),
        "kappa_ci": tuple(np.percentile(boot, [2.5, 97.5])),
    }


@pytest.mark.parametrize("form", ["csv", "jsonl"])
def test_a_filled_sheet_round_trips_into_the_reports_agreement_table(mock_run: Path, tmp_path: Path, form: str):
    sheet = tmp_path / f"sheet.{form}"
    assert main(["annotate", str(mock_run), "--n", "10", "--output", str(sheet)]) == 0
    if form == "csv":
        rows = _read_csv(sheet)
        for row in rows:
            row["label"] = "Satisfied" if _human_label(row["id"], row["question_type"]) else "Not Satisfied"
        _write_csv(sheet, rows)
    else:
        rows = _lines(sheet)
        for row in rows:
            row["label"] = _human_label(row["id"], row["question_type"])  # JSON booleans are accepted too
        sheet.write_text("".join(json.dumps(r) + "\n" for r in rows))
    labels = {(r["id"], r["question_type"]): _human_label(r["id"], r["question_type"]) for r in rows}
    assert read_human_labels(sheet) == labels  # exactly what --human-labels reads

    out = tmp_path / "report"
    assert main(["report", str(mock_run), "--human-labels", str(sheet), "--output", str(out)]) == 0
    report = (out / "report.md").read_text()
    table = report.split("### With human labels (paper Table 6)", 1)[1]
    metrics = json.loads((mock_run / "metrics.json").read_text())["agreement"]["human"]
    for judge in JUDGES:
        want = _expected_agreement(mock_run, labels, judge)
        got = metrics[judge]
        assert got["n"] == want["n"] == 10 and got["missing"] == 0
        assert got["alignment_rate"] == pytest.approx(want["agreement"])
        assert got["alignment_rate_ci"] == pytest.approx(want["wilson"])
        assert got["cohen_kappa"] == pytest.approx(want["kappa"])
        assert got["cohen_kappa_ci"] == pytest.approx(want["kappa_ci"])
        low, high = want["wilson"]
        klow, khigh = want["kappa_ci"]
        line = (
            f"| mock:subject | {judge} | {want['n']} | {100 * want['agreement']:.1f} [{100 * low:.1f}, "
            f"{100 * high:.1f}] | {want['kappa']:.2f} [{klow:.2f}, {khigh:.2f}] | 0 |"
        )
        assert line.replace("-0.00", "0.00") in table.replace("-0.00", "0.00").replace(MISSING, "-"), line


def _filled_sheet(run: Path, folder: Path) -> Path:
    sheet = folder / "sheet.csv"
    assert main(["annotate", str(run), "--n", "4", "--output", str(sheet)]) == 0
    rows = _read_csv(sheet)
    for row in rows:
        row["label"] = "Satisfied"
    _write_csv(sheet, rows)
    return sheet


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("label", r"sheet.csv:{line}: field 'label' has 'perhaps'"),
        ("id", r"sheet.csv:{line}: field 'id' has 'zzz-999' \(open_ended\), which is not in this run"),
        ("duplicate", r"sheet.csv:{line}: field 'id' repeats .* first labelled on line 2"),
    ],
)
def test_a_bad_filled_sheet_is_one_line_naming_file_and_line(mock_run: Path, tmp_path: Path, change, message, capsys):
    sheet = _filled_sheet(mock_run, tmp_path)
    rows = _read_csv(sheet)
    if change == "label":
        rows[2]["label"] = "perhaps"
    elif change == "id":
        rows[2]["id"], rows[2]["question_type"] = "zzz-999", "open_ended"
    else:
        rows[2]["id"], rows[2]["question_type"] = rows[0]["id"], rows[0]["question_type"]
    _write_csv(sheet, rows)
    # The third data row starts on the line after the first two rows end (texts may span lines).
    text = sheet.read_text()
    with open(sheet, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        next(reader)
        next(reader)
        line = reader.line_num + 1
    assert main(["report", str(mock_run), "--human-labels", str(sheet), "--output", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert re.search(message.format(line=line), err), err
    assert text == sheet.read_text()
