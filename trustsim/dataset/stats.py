"""Dataset statistics: the tables of the card's statistics section and the Figure 3-style plot."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trustsim.dataset import assign_splits
from trustsim.records import write_atomic
from trustsim.schema import ATTRIBUTES, DIMENSIONS

#: Where the figure goes, relative to the dataset folder.
FIGURE_PATH = Path("figures/statistics.png")

QUESTION_COLUMNS = {"self-report": "self_report_question", "open-ended": "open_ended_question"}


def word_count(text: str) -> int:
    """Words as the paper counts them: whitespace-separated tokens."""
    return len(text.split())


def compute_statistics(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts per dimension, attribute and split half, answer balance and question lengths."""
    halves = assign_splits(records)
    by_dim_attr = Counter((r["dimension"], r["attribute"]) for r in records)
    words = {name: [word_count(r[col]) for r in records] for name, col in QUESTION_COLUMNS.items()}
    return {
        "n": len(records),
        "dimensions": [d for d in DIMENSIONS if any(r["dimension"] == d for r in records)],
        "per_dimension": dict(Counter(r["dimension"] for r in records)),
        "per_attribute": dict(Counter(r["attribute"] for r in records)),
        "per_dimension_attribute": {f"{d}|{a}": n for (d, a), n in by_dim_attr.items()},
        "yes_per_dimension": dict(Counter(r["dimension"] for r in records if r["self_report_expected"] == "Yes")),
        "train_per_dimension": dict(Counter(r["dimension"] for r in records if halves[r["id"]] == "train")),
        "words": {
            name: {
                "mean": statistics.fmean(values) if values else 0.0,
                "median": statistics.median(values) if values else 0,
                "min": min(values, default=0),
                "max": max(values, default=0),
                "share_10_25": sum(10 <= v <= 25 for v in values) / len(values) if values else 0.0,
            }
            for name, values in words.items()
        },
    }


def render_markdown(stats: Mapping[str, Any], figure: Path = FIGURE_PATH) -> str:
    """The card's statistics section (between the markers) as Markdown."""
    dims = stats["dimensions"]
    header = "| Subject | " + " | ".join(ATTRIBUTES) + " | Total | Yes / No | train / test |"
    lines = [
        f"**{stats['n']} instances** in {len(dims)} of {len(DIMENSIONS)} subjects.",
        "",
        "Instances per subject and attribute, the expected self-report answer, and the `adaorpo` split:",
        "",
        header,
        "|" + "---|" * (len(ATTRIBUTES) + 4),
    ]
    for dim in dims:
        cells = [str(stats["per_dimension_attribute"].get(f"{dim}|{a}", 0)) for a in ATTRIBUTES]
        total = stats["per_dimension"][dim]
        yes = stats["yes_per_dimension"].get(dim, 0)
        train = stats["train_per_dimension"].get(dim, 0)
        lines.append(
            f"| {dim} | " + " | ".join(cells) + f" | {total} | {yes} / {total - yes} | {train} / {total - train} |"
        )
    attr_cells = [str(stats["per_attribute"].get(a, 0)) for a in ATTRIBUTES]
    yes_all = sum(stats["yes_per_dimension"].values())
    train_all = sum(stats["train_per_dimension"].values())
    lines.append(
        "| **All** | "
        + " | ".join(attr_cells)
        + f" | {stats['n']} | {yes_all} / {stats['n'] - yes_all} | {train_all} / {stats['n'] - train_all} |"
    )
    lines += [
        "",
        "Question length in words:",
        "",
        "| Question | Mean | Median | Min | Max | Share with 10-25 words |",
        "|---|---|---|---|---|---|",
    ]
    for name, w in stats["words"].items():
        lines.append(
            f"| {name} | {w['mean']:.1f} | {w['median']:g} | {w['min']} | {w['max']} | {w['share_10_25']:.0%} |"
        )
    lines += ["", f"![Instances per subject and question lengths]({figure.as_posix()})"]
    return "\n".join(lines)


def plot_statistics(records: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Draw the paper's Figure 3: instances per subject (by attribute) and question lengths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = compute_statistics(records)
    dims = stats["dimensions"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [1.3, 1]})
    colours = plt.get_cmap("tab10").colors
    offsets = [0] * len(dims)
    for k, attribute in enumerate(ATTRIBUTES):
        counts = [stats["per_dimension_attribute"].get(f"{d}|{attribute}", 0) for d in dims]
        left.barh(dims, counts, left=offsets, color=colours[k], label=attribute.replace("_", " "))
        offsets = [o + c for o, c in zip(offsets, counts, strict=True)]
    for y, total in enumerate(offsets):
        left.text(total + 0.5, y, str(total), va="center", fontsize=9)
    left.invert_yaxis()
    left.set_xlabel("instances")
    left.set_xlim(0, max(offsets, default=1) * 1.15)
    left.set_title("Instances per subject, by attribute")
    left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4, fontsize=8, frameon=False)

    words = {name: [word_count(r[col]) for r in records] for name, col in QUESTION_COLUMNS.items()}
    top = max((max(v, default=0) for v in words.values()), default=0)
    bins = range(0, top + 3)
    for (name, values), colour in zip(words.items(), ("#1f77b4", "#ff7f0e"), strict=True):
        label = (
            f"{'SR' if name == 'self-report' else 'OE'} ({name}), mean {statistics.fmean(values) if values else 0:.1f}"
        )
        right.hist(values, bins=bins, alpha=0.55, color=colour, label=label)
    right.axvspan(10, 25, color="grey", alpha=0.08, label="10-25 words")
    right.set_xlabel("words per question")
    right.set_ylabel("questions")
    right.set_title("Question length")
    right.legend(fontsize=8)
    fig.suptitle(f"TRUSTSIM: {stats['n']} instances")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda target: fig.savefig(target, dpi=120, format="png"))
    plt.close(fig)
    return path
