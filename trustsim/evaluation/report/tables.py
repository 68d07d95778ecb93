"""``report.md``: the paper's Table 2 and Table 3a, inconsistency per subject, what was left out, judges."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trustsim.evaluation.report.base import FIGURES, TABLE_SUBJECTS, RunSummary, check_runs, dimension_metrics
from trustsim.formatting import MISSING, count_text, is_number, p_value_text, percent, percent_ci, score_text


def cell(text: Any) -> str:
    """Make text safe inside a Markdown table cell."""
    return str(text).replace("|", r"\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], align_first: int = 1) -> list[str]:
    """A Markdown table; the first ``align_first`` columns left-aligned (names), the rest right (numbers)."""
    rule = ["---" if i < align_first else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines





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
        values = [(dimension_metrics(run, s) or {}).get("open_ended_mean_score") for s in TABLE_SUBJECTS]
        matrix.append([*values, run.metrics.get("open_ended_mean_score")])
    rows: list[list[str]] = [
        [run.name, *(score_text(v) for v in values)] for run, values in zip(runs, matrix, strict=True)
    ]
    if len(runs) > 1:
        columns = zip(*matrix, strict=True)
        rows.append(["**Avg.**", *(score_text(_mean([v for v in col if is_number(v)])) for col in columns)])
    return markdown_table(header, rows)


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
                percent_ci(m.get("self_report_satisfaction_rate"), ci.get("self_report_satisfaction_rate")),
                percent_ci(m.get("open_ended_satisfaction_rate"), ci.get("open_ended_satisfaction_rate")),
                percent_ci(m.get("difference"), ci.get("difference"), signed=True),
                p_value_text((m.get("mcnemar") or {}).get("p_value")),
                percent_ci(m.get("both_satisfied_rate"), ci.get("both_satisfied_rate")),
            ]
        )
    return markdown_table(header, rows)


def inconsistency_table(runs: Sequence[RunSummary]) -> list[str]:
    """Inconsistency rate (%) per subject and overall with its CI (the numbers of Figure 8)."""
    header = ["Model", *(s.abbreviation for s in TABLE_SUBJECTS), "All"]
    rows = []
    for run in runs:
        cells = [percent((dimension_metrics(run, s) or {}).get("inconsistency_rate")) for s in TABLE_SUBJECTS]
        overall = percent_ci(
            run.metrics.get("inconsistency_rate"), (run.metrics.get("ci") or {}).get("inconsistency_rate")
        )
        rows.append([run.name, *cells, overall])
    return markdown_table(header, rows)


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
            count_text(run.metrics.get("n")),
            count_text(run.metrics.get("missing_self_report")),
            count_text(run.metrics.get("missing_open_ended")),
            count_text(run.metrics.get("missing_score")),
            count_text(run.metrics.get("failed_requests")),
            count_text(run.metrics.get("unparsable_verdicts")),
        ]
        for run in runs
    ]
    return markdown_table(header, rows)


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
                    percent(m.get("self_report_satisfaction_rate")),
                    percent(m.get("open_ended_satisfaction_rate")),
                    percent(m.get("both_satisfied_rate")),
                    percent(m.get("inconsistency_rate")),
                    score_text(m.get("open_ended_mean_score")),
                    unknown,
                ]
            )
    return markdown_table(header, rows, align_first=2) if rows else []


def _kappa(entry: Mapping[str, Any]) -> str:
    """Kappa with two decimals and its interval when there is one; why it is missing otherwise."""
    value = entry.get("cohen_kappa")
    if is_number(value):
        ci = entry.get("cohen_kappa_ci")
        if isinstance(ci, Sequence) and len(ci) == 2 and all(is_number(x) for x in ci):
            return f"{value:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"
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
                    percent_ci(entry.get("raw_agreement"), entry.get("raw_agreement_ci")),
                    _kappa(entry),
                ]
            )
        for judge, entry in (agreement.get("score_verdict") or {}).items():
            score_verdict.append(
                [
                    run.name,
                    judge,
                    entry.get("n", MISSING),
                    score_text(entry.get("mean_score_satisfied")),
                    score_text(entry.get("mean_score_not_satisfied")),
                    entry.get("low_score_satisfied", MISSING),
                    entry.get("high_score_not_satisfied", MISSING),
                    percent(entry.get("warning_fraction")),
                ]
            )
        for judge, entry in (agreement.get("human") or {}).items():
            human.append(
                [
                    run.name,
                    judge,
                    entry.get("n", MISSING),
                    percent_ci(entry.get("alignment_rate"), entry.get("alignment_rate_ci")),
                    _kappa(entry),
                    entry.get("missing", MISSING),
                ]
            )
    lines: list[str] = []
    if pairwise:
        lines += ["### Between judges (binary verdicts)", ""]
        lines += markdown_table(["Model", "Judge A", "Judge B", "n", "Raw agreement (%)", "Cohen's κ"], pairwise, 3)
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
        lines += markdown_table(header, score_verdict, 2)
        lines.append("")
    if human:
        lines += ["### With human labels (paper Table 6)", ""]
        lines += [
            "n: labelled answers the judge gave a verdict. `[low, high]`: 95% intervals, Wilson for the",
            "alignment rate, a seeded bootstrap over the labelled answers for kappa.",
            "",
        ]
        header = ["Model", "Judge", "n", "Alignment (%)", "Cohen's κ", "Labelled but no verdict"]
        lines += markdown_table(header, human, 2)
        lines.append("")
    return lines


def render_markdown(runs: Sequence[RunSummary]) -> str:
    """The whole ``report.md`` text (figures referenced at their :data:`FIGURES` paths)."""
    check_runs(runs)
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


