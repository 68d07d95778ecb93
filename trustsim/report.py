"""Reports like the paper's: Table 2, Table 3a, Figures 6-8, what was left out, and an instance table.

Input is one :class:`RunSummary` per evaluated model, built from a run directory by the caller. The
tables and figures only read ``metrics.json`` content (the ``trustsim_consistency`` metric output), so
the report shows exactly the numbers that were scored, never a re-computation.

Optional ``metrics`` keys, rendered when present:

* ``failed_requests``, ``unparsable_verdicts``: an int, or a dict of ints (e.g. per question type or
  judge), shown as ``key: value`` pairs.
* ``per_judge``: judge spec -> the metric output computed from that judge's verdicts alone.
* ``agreement``: ``{"pairwise": trustsim.agreement.pairwise_agreement(...),
  "score_verdict": trustsim.agreement.score_verdict_agreement(...),
  "human": trustsim.agreement.human_alignment(...)}``, any sub-key may be absent.

``instances`` rows are one per (instance id, question type) with ``id``, ``dimension``,
``attribute``, ``question_type``, ``response``, ``verdict`` (aggregate bool or None), ``score``
(aggregate float or None), and each judge's grades either as dicts ``verdicts`` / ``scores`` (judge
spec -> value, as ``trustsim.aggregate.instance_rows`` builds them) or as flat columns
``verdict[<judge spec>]`` / ``score[<judge spec>]``. ``instances.parquet`` always stores the flat
form: a plain table that pandas, ``datasets`` and spreadsheet tools read without struct/map types,
and in which a judge absent from one run is simply null there. Other row keys are kept as columns.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trustsim.schema import SUBJECTS, Subject

#: Subjects in the paper's Table 2 column order (alphabetical by abbreviation: Com., Eco., ... Soc.).
TABLE_SUBJECTS: tuple[Subject, ...] = tuple(sorted(SUBJECTS, key=lambda s: s.abbreviation))

#: Shown for a number that does not exist (subject not evaluated, no known verdict).
MISSING = "\N{EN DASH}"

#: Figure files, relative to the output folder.
FIGURES: dict[str, str] = {
    "self_report": "figures/self_report_satisfaction.png",
    "open_ended": "figures/open_ended_satisfaction.png",
    "inconsistency": "figures/inconsistency.png",
}

#: Leading columns of ``instances.parquet``; per-judge columns follow, then any other keys.
BASE_COLUMNS: tuple[str, ...] = (
    "model",
    "id",
    "dimension",
    "attribute",
    "question_type",
    "response",
    "verdict",
    "score",
)


@dataclass
class RunSummary:
    """One evaluated model: its display name, its ``metrics.json`` content and its instance rows."""

    name: str
    metrics: dict[str, Any]
    instances: list[dict[str, Any]] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- format


def _is_number(value: Any) -> bool:
    """A real number to print: not None, not NaN, and not a bool (which Python counts as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def _pct(value: Any) -> str:
    """A fraction as a percentage with one decimal (the paper's precision), or the missing mark."""
    return f"{100 * value:.1f}" if _is_number(value) else MISSING


def _pct_ci(value: Any, ci: Any, *, signed: bool = False) -> str:
    """``83.3 [80.1, 86.2]``; the sign is forced for differences so direction is visible at a glance."""
    if not _is_number(value):
        return MISSING
    text = f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"
    if isinstance(ci, Sequence) and len(ci) == 2 and all(_is_number(x) for x in ci):
        text += f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"
    return text


def _score(value: Any) -> str:
    """A 1-5 score with two decimals, as the paper's Table 2 prints it."""
    return f"{value:.2f}" if _is_number(value) else MISSING


def _count(value: Any) -> str:
    """An int, or a dict of ints as ``key: value`` pairs (counts broken down by question type or judge)."""
    if isinstance(value, Mapping):
        return ", ".join(f"{key}: {count}" for key, count in value.items()) or "0"
    return MISSING if value is None else str(value)


def _p_value(value: Any) -> str:
    """Three decimals, with very small values as ``<0.001`` rather than a misleading ``0.000``."""
    if not _is_number(value):
        return MISSING
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _cell(text: Any) -> str:
    """Make text safe inside a Markdown table cell."""
    return str(text).replace("|", r"\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], align_first: int = 1) -> list[str]:
    """A Markdown table; the first ``align_first`` columns left-aligned (names), the rest right (numbers)."""
    rule = ["---" if i < align_first else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _dimension(run: RunSummary, subject: Subject) -> Mapping[str, Any] | None:
    per_dimension = run.metrics.get("per_dimension") or {}
    return per_dimension.get(subject.name)


# ---------------------------------------------------------------------------------------------- tables


def _mean(values: Sequence[float]) -> float | None:
    """Plain mean, None for no values (a column no model has stays missing, not 0)."""
    return sum(values) / len(values) if values else None


def table2(runs: Sequence[RunSummary]) -> list[str]:
    """Mean open-ended score per subject and overall, one row per model (the paper's Table 2).

    ``Avg.`` is the run's ``open_ended_mean_score``: the mean over all scored instances, which equals
    the mean of the subject columns when subjects are equally sized, as in the paper. With several
    models a last ``Avg.`` row averages each column over the models that have it.
    """
    header = ["Model", *(s.abbreviation for s in TABLE_SUBJECTS), "Avg."]
    matrix: list[list[float | None]] = []
    for run in runs:
        values = [(_dimension(run, s) or {}).get("open_ended_mean_score") for s in TABLE_SUBJECTS]
        matrix.append([*values, run.metrics.get("open_ended_mean_score")])
    rows: list[list[str]] = [[run.name, *(_score(v) for v in values)] for run, values in zip(runs, matrix, strict=True)]
    if len(runs) > 1:
        columns = zip(*matrix, strict=True)
        rows.append(["**Avg.**", *(_score(_mean([v for v in col if _is_number(v)])) for col in columns)])
    return _table(header, rows)


def table3a(runs: Sequence[RunSummary]) -> list[str]:
    """Satisfaction rates of the two question types and their difference, with 95% CIs (Table 3a).

    Δ is signed (open-ended minus self-report, in percentage points); the paper prints its size only.
    The McNemar p-value says whether the paired difference could be chance.
    """
    header = ["Model", "n", "Self-Rep.", "Open-En.", "Δ (OE - SR)", "McNemar p", "Both satisfied"]
    rows = []
    for run in runs:
        m, ci = run.metrics, run.metrics.get("ci") or {}
        rows.append(
            [
                run.name,
                m.get("n", MISSING),
                _pct_ci(m.get("self_report_satisfaction_rate"), ci.get("self_report_satisfaction_rate")),
                _pct_ci(m.get("open_ended_satisfaction_rate"), ci.get("open_ended_satisfaction_rate")),
                _pct_ci(m.get("difference"), ci.get("difference"), signed=True),
                _p_value((m.get("mcnemar") or {}).get("p_value")),
                _pct_ci(m.get("both_satisfied_rate"), ci.get("both_satisfied_rate")),
            ]
        )
    return _table(header, rows)


def inconsistency_table(runs: Sequence[RunSummary]) -> list[str]:
    """Inconsistency rate (%) per subject and overall with its CI (the numbers of Figure 8)."""
    header = ["Model", *(s.abbreviation for s in TABLE_SUBJECTS), "All"]
    rows = []
    for run in runs:
        cells = [_pct((_dimension(run, s) or {}).get("inconsistency_rate")) for s in TABLE_SUBJECTS]
        overall = _pct_ci(
            run.metrics.get("inconsistency_rate"), (run.metrics.get("ci") or {}).get("inconsistency_rate")
        )
        rows.append([run.name, *cells, overall])
    return _table(header, rows)


def left_out_table(runs: Sequence[RunSummary]) -> list[str]:
    """What did not enter the numbers: unknown verdicts and scores, failed requests, unparsable answers."""
    header = [
        "Model",
        "Instances",
        "Self-report verdict unknown",
        "Open-ended verdict unknown",
        "Score unknown",
        "Failed requests",
        "Unparsable verdicts",
    ]
    rows = [
        [
            run.name,
            _count(run.metrics.get("n")),
            _count(run.metrics.get("missing_self_report")),
            _count(run.metrics.get("missing_open_ended")),
            _count(run.metrics.get("missing_score")),
            _count(run.metrics.get("failed_requests")),
            _count(run.metrics.get("unparsable_verdicts")),
        ]
        for run in runs
    ]
    return _table(header, rows)


def per_judge_table(runs: Sequence[RunSummary]) -> list[str]:
    """The headline numbers as each judge alone would give them; empty when no run has ``per_judge``."""
    header = ["Model", "Judge", "Self-Rep.", "Open-En.", "Both satisfied", "Inconsistency", "Mean score", "Unknown"]
    rows = []
    for run in runs:
        for judge, m in (run.metrics.get("per_judge") or {}).items():
            unknown = f"SR {m.get('missing_self_report', MISSING)}, OE {m.get('missing_open_ended', MISSING)}"
            rows.append(
                [
                    run.name,
                    judge,
                    _pct(m.get("self_report_satisfaction_rate")),
                    _pct(m.get("open_ended_satisfaction_rate")),
                    _pct(m.get("both_satisfied_rate")),
                    _pct(m.get("inconsistency_rate")),
                    _score(m.get("open_ended_mean_score")),
                    unknown,
                ]
            )
    return _table(header, rows, align_first=2) if rows else []


def _kappa(entry: Mapping[str, Any]) -> str:
    value = entry.get("cohen_kappa")
    if _is_number(value):
        return f"{value:.2f}"
    return f"{MISSING} ({entry['kappa_note']})" if entry.get("kappa_note") else MISSING


def agreement_tables(runs: Sequence[RunSummary]) -> list[str]:
    """Judge-vs-judge, score-vs-verdict and judge-vs-human tables from ``metrics["agreement"]``."""
    pairwise, score_verdict, human = [], [], []
    for run in runs:
        agreement = run.metrics.get("agreement") or {}
        for entry in agreement.get("pairwise") or []:
            pairwise.append(
                [
                    run.name,
                    entry["judge_a"],
                    entry["judge_b"],
                    entry.get("n", MISSING),
                    _pct(entry.get("raw_agreement")),
                    _kappa(entry),
                ]
            )
        for judge, entry in (agreement.get("score_verdict") or {}).items():
            score_verdict.append(
                [
                    run.name,
                    judge,
                    entry.get("n", MISSING),
                    _score(entry.get("mean_score_satisfied")),
                    _score(entry.get("mean_score_not_satisfied")),
                    entry.get("low_score_satisfied", MISSING),
                    entry.get("high_score_not_satisfied", MISSING),
                    _pct(entry.get("warning_fraction")),
                ]
            )
        for judge, entry in (agreement.get("human") or {}).items():
            human.append(
                [
                    run.name,
                    judge,
                    entry.get("n", MISSING),
                    _pct(entry.get("alignment_rate")),
                    _kappa(entry),
                    entry.get("missing", MISSING),
                ]
            )
    lines: list[str] = []
    if pairwise:
        lines += ["### Between judges (binary verdicts)", ""]
        lines += _table(["Model", "Judge A", "Judge B", "n", "Raw agreement (%)", "Cohen's κ"], pairwise, 3)
        lines.append("")
    if score_verdict:
        lines += ["### Each judge's score against its own verdict", ""]
        header = [
            "Model",
            "Judge",
            "n",
            "Mean score, Satisfied",
            "Mean score, Not Satisfied",
            "Score ≤ 2 but Satisfied",
            "Score ≥ 4 but Not Satisfied",
            "Warnings (%)",
        ]
        lines += _table(header, score_verdict, 2)
        lines.append("")
    if human:
        lines += ["### With human labels (paper Table 6)", ""]
        header = ["Model", "Judge", "n", "Alignment (%)", "Cohen's κ", "Labelled but no verdict"]
        lines += _table(header, human, 2)
        lines.append("")
    return lines


def render_markdown(runs: Sequence[RunSummary]) -> str:
    """The whole ``report.md`` text (figures referenced at their :data:`FIGURES` paths)."""
    _check_runs(runs)
    lines = [
        "# TrustSim report",
        "",
        f"{len(runs)} model(s): " + ", ".join(f"`{run.name}`" for run in runs) + ".",
        "",
        "Rates are percentages of the answers whose verdict is known; answers with a failed request or an",
        "unparsable judge verdict are left out of the rates and counted under *Left out*. `[low, high]` is a",
        "95% percentile bootstrap confidence interval over instances. "
        f"{MISSING} means there is nothing to show (subject not evaluated, or no known verdict).",
        "",
        "## Open-ended rating score per subject (paper Table 2)",
        "",
        *table2(runs),
        "",
        "## Satisfaction rates (paper Table 3a)",
        "",
        "Self-Rep. / Open-En.: share of self-report / open-ended answers judged Satisfied. Δ: open-ended minus",
        "self-report, in percentage points. McNemar p: exact test on the instances with both verdicts known.",
        "Both satisfied: share of instances whose two answers are both Satisfied (general consistency).",
        "",
        *table3a(runs),
        "",
        "## Inconsistency rate per subject (paper Figure 8)",
        "",
        "Share of instances (with both verdicts known) where exactly one of the two answers is Satisfied.",
        "",
        *inconsistency_table(runs),
        "",
        "## Figures",
        "",
        f"![Self-report satisfaction rate per subject (paper Figure 6)]({FIGURES['self_report']})",
        "",
        f"![Open-ended satisfaction rate per subject (paper Figure 7)]({FIGURES['open_ended']})",
        "",
        f"![Inconsistency rate per subject (paper Figure 8)]({FIGURES['inconsistency']})",
        "",
        "## Left out",
        "",
        *left_out_table(runs),
        "",
    ]
    judges = per_judge_table(runs)
    if judges:
        lines += ["## Per judge", "", "Each judge's verdicts scored on their own.", "", *judges, ""]
    agreement = agreement_tables(runs)
    if agreement:
        lines += ["## Judge agreement", "", *agreement]
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------------------------- figures


def _short_label(name: str, width: int = 30, max_chars: int = 58) -> str:
    """A model name fit for an axis: cut in the middle if very long, wrapped at ``/ : - _`` boundaries.

    Cutting in the middle keeps both the organisation and the size/variant suffix
    (``meta-llama/Llama-3.1-70B-Instruct``), which is where model names differ.
    """
    if len(name) > max_chars:
        keep = max_chars - 1
        name = name[: keep // 2] + "…" + name[-(keep - keep // 2) :]
    pieces = [p for p in re.split(r"(?<=[/:_ -])", name) if p]
    lines: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + len(piece) > width:
            lines.append(current)
            current = ""
        current += piece
        while len(current) > width:
            lines.append(current[:width])
            current = current[width:]
    if current:
        lines.append(current)
    return "\n".join(line.strip() for line in lines)


def _heatmap(
    runs: Sequence[RunSummary],
    key: str,
    overall_key: str,
    *,
    title: str,
    scale_label: str,
    cmap: str,
    vmax: float,
    path: Path,
) -> Path:
    """One model x subject heatmap of a rate in percent, annotated, on a fixed colour scale 0..vmax.

    A fixed scale (rather than the data's range) keeps colours comparable between figures and reports.
    Missing cells are grey with the missing mark, so "not evaluated" never looks like 0%.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    columns = [s.abbreviation for s in TABLE_SUBJECTS] + ["All"]
    data = np.full((len(runs), len(columns)), np.nan)
    for i, run in enumerate(runs):
        for j, subject in enumerate(TABLE_SUBJECTS):
            value = (_dimension(run, subject) or {}).get(key)
            if _is_number(value):
                data[i, j] = 100 * value
        if _is_number(run.metrics.get(overall_key)):
            data[i, -1] = 100 * run.metrics[overall_key]

    labels = [_short_label(run.name) for run in runs]
    label_lines = sum(label.count("\n") + 1 for label in labels)
    # Fixed height per row (not a stretched figure), so one model gives a slim strip and eight a block.
    height = 0.55 * len(runs) + 0.2 * (label_lines - len(runs)) + 2.0
    fig, ax = plt.subplots(figsize=(11.5, height))
    colormap = plt.get_cmap(cmap).with_extremes(bad="#d9d9d9")
    image = ax.imshow(np.ma.masked_invalid(data), cmap=colormap, vmin=0, vmax=vmax, aspect="auto")
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            value = data[i, j]
            if math.isnan(value):
                ax.text(j, i, MISSING, ha="center", va="center", fontsize=12, color="#555555")
                continue
            red, green, blue, _ = colormap(min(value, vmax) / vmax)
            dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
            weight = "bold" if j == len(columns) - 1 else "normal"
            ax.text(
                j,
                i,
                f"{value:.1f}",
                ha="center",
                va="center",
                fontsize=9,
                color="white" if dark else "black",
                fontweight=weight,
            )
    ax.set_xticks(range(len(columns)), columns)
    ax.set_yticks(range(len(runs)), labels, fontsize=9)
    ax.tick_params(length=0)
    ax.xaxis.tick_top()
    ax.axvline(len(columns) - 1.5, color="white", linewidth=3)
    ax.set_title(title, pad=12)
    extend = "max" if vmax < 100 else "neither"
    # Horizontal, under the map: a vertical bar would shrink to the height of a single-model strip.
    bar = fig.colorbar(
        image,
        ax=ax,
        orientation="horizontal",
        location="bottom",
        shrink=0.45,
        aspect=40,
        pad=0.04,
        extend=extend,
        fraction=0.6 / height,
    )
    bar.set_label(f"{scale_label} (%), fixed scale 0-{vmax:g}", fontsize=9)
    bar.ax.tick_params(labelsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return path


def write_figures(runs: Sequence[RunSummary], output_dir: str | Path) -> list[Path]:
    """Figures 6, 7 and 8 of the paper as PNGs under ``output_dir/figures/``; returns their paths.

    Satisfaction uses a 0-100% scale. Inconsistency uses 0-50% (darker = worse, values above 50% get
    the darkest colour and still show their number), since it rarely exceeds a third and a 0-100%
    scale would make every cell look the same pale shade.
    """
    _check_runs(runs)
    output_dir = Path(output_dir)
    return [
        _heatmap(
            runs,
            "self_report_satisfaction_rate",
            "self_report_satisfaction_rate",
            title="Self-report questions: satisfaction rate (%) per subject",
            scale_label="satisfaction rate",
            cmap="YlGnBu",
            vmax=100,
            path=output_dir / FIGURES["self_report"],
        ),
        _heatmap(
            runs,
            "open_ended_satisfaction_rate",
            "open_ended_satisfaction_rate",
            title="Open-ended questions: satisfaction rate (%) per subject",
            scale_label="satisfaction rate",
            cmap="YlGnBu",
            vmax=100,
            path=output_dir / FIGURES["open_ended"],
        ),
        _heatmap(
            runs,
            "inconsistency_rate",
            "inconsistency_rate",
            title="Inconsistency rate (%) between self-report and open-ended answers",
            scale_label="inconsistency rate",
            cmap="OrRd",
            vmax=50,
            path=output_dir / FIGURES["inconsistency"],
        ),
    ]


# ---------------------------------------------------------------------------------------------- output


def _check_runs(runs: Sequence[RunSummary]) -> None:
    """A report needs runs with distinct names: the name is the row label and the parquet key."""
    if not runs:
        raise ValueError("no runs to report")
    names = [run.name for run in runs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"run names must be distinct; repeated: {', '.join(duplicates)}")


def write_report(runs: Sequence[RunSummary], output_dir: str | Path) -> Path:
    """Write ``report.md`` and its figures into ``output_dir``; returns the report's path."""
    _check_runs(runs)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_figures(runs, output_dir)
    path = output_dir / "report.md"
    path.write_text(render_markdown(runs), encoding="utf-8")
    return path


def _judge_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """``verdict[j]`` and ``score[j]`` for every judge seen, grouped by judge in sorted order."""
    judges = sorted(
        {key[len("verdict[") : -1] for row in rows for key in row if key.startswith("verdict[")}
        | {key[len("score[") : -1] for row in rows for key in row if key.startswith("score[")}
    )
    return [column for judge in judges for column in (f"verdict[{judge}]", f"score[{judge}]")]


def _flat_row(row: Mapping[str, Any], model: str) -> dict[str, Any]:
    """One parquet row: the run's name added, per-judge dicts spread into ``verdict[j]``/``score[j]``."""
    flat = {key: value for key, value in row.items() if key not in ("verdicts", "scores")}
    for judge, value in (row.get("verdicts") or {}).items():
        flat[f"verdict[{judge}]"] = value
    for judge, value in (row.get("scores") or {}).items():
        flat[f"score[{judge}]"] = value
    flat["model"] = model
    return flat


def write_instances_parquet(runs: Sequence[RunSummary], output_dir: str | Path) -> Path:
    """All runs' instance rows in one ``instances.parquet`` (a ``model`` column names the run).

    The schema is explicit - verdicts bool, scores float64, text string, all nullable - because
    inference from Python values would type an all-None column (a judge that failed everywhere) as
    ``null``, which breaks concatenating reports and confuses ``datasets``. A judge missing from one
    run gets nulls in that run's rows.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    _check_runs(runs)
    rows = [_flat_row(row, run.name) for run in runs for row in run.instances]
    judge_columns = _judge_columns(rows)
    known = set(BASE_COLUMNS) | set(judge_columns)
    extra: list[str] = []
    for row in rows:
        extra += [key for key in row if key not in known and key not in extra]

    def column_type(name: str) -> pa.DataType | None:
        if name == "verdict" or name.startswith("verdict["):
            return pa.bool_()
        if name == "score" or name.startswith("score["):
            return pa.float64()
        if name in BASE_COLUMNS:
            return pa.string()
        return None  # an extra column: let Arrow infer from its values

    arrays, names = [], []
    for name in [*BASE_COLUMNS, *judge_columns, *extra]:
        values = [row.get(name) for row in rows]
        wanted = column_type(name)
        if wanted == pa.float64():
            values = [None if v is None else float(v) for v in values]
        array = pa.array(values, type=wanted)
        if pa.types.is_null(array.type):
            array = array.cast(pa.string())
        arrays.append(array)
        names.append(name)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "instances.parquet"
    pq.write_table(pa.Table.from_arrays(arrays, names=names), path)
    return path
