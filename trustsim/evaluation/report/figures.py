"""The paper's Figures 6-8: model x subject heatmaps of satisfaction and inconsistency."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from trustsim.evaluation.report.base import FIGURES, TABLE_SUBJECTS, RunSummary, check_runs, dimension_metrics
from trustsim.formatting import MISSING, is_number
from trustsim.records import write_atomic


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


@dataclass(frozen=True)
class Heatmap:
    """One figure: the ``metrics.json`` key it shows (per subject and overall) and how it is drawn."""

    figure: str  # key of FIGURES: the file it is written to
    key: str
    title: str
    scale_label: str
    cmap: str
    vmax: float


#: Figures 6, 7 and 8 of the paper. Satisfaction uses a 0-100% scale. Inconsistency uses 0-50% (darker =
#: worse, values above 50% get the darkest colour and still show their number), since it rarely exceeds a
#: third and a 0-100% scale would make every cell look the same pale shade.
HEATMAPS: tuple[Heatmap, ...] = (
    Heatmap(
        "self_report",
        "self_report_satisfaction_rate",
        "Self-report questions: satisfaction rate (%) per subject",
        "satisfaction rate",
        "YlGnBu",
        100,
    ),
    Heatmap(
        "open_ended",
        "open_ended_satisfaction_rate",
        "Open-ended questions: satisfaction rate (%) per subject",
        "satisfaction rate",
        "YlGnBu",
        100,
    ),
    Heatmap(
        "inconsistency",
        "inconsistency_rate",
        "Inconsistency rate (%) between self-report and open-ended answers",
        "inconsistency rate",
        "OrRd",
        50,
    ),
)


def _heatmap(runs: Sequence[RunSummary], spec: Heatmap, path: Path) -> Path:
    """One model x subject heatmap of a rate in percent, annotated, on a fixed colour scale 0..spec.vmax.

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
            value = (dimension_metrics(run, subject) or {}).get(spec.key)
            if is_number(value):
                data[i, j] = 100 * value
        if is_number(run.metrics.get(spec.key)):
            data[i, -1] = 100 * run.metrics[spec.key]

    labels = [_short_label(run.name) for run in runs]
    label_lines = sum(label.count("\n") + 1 for label in labels)
    # Fixed height per row (not a stretched figure), so one model gives a slim strip and eight a block.
    height = 0.55 * len(runs) + 0.2 * (label_lines - len(runs)) + 2.0
    fig, ax = plt.subplots(figsize=(11.5, height))
    colormap = plt.get_cmap(spec.cmap).with_extremes(bad="#d9d9d9")
    image = ax.imshow(np.ma.masked_invalid(data), cmap=colormap, vmin=0, vmax=spec.vmax, aspect="auto")
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            value = data[i, j]
            if math.isnan(value):
                ax.text(j, i, MISSING, ha="center", va="center", fontsize=12, color="#555555")
                continue
            red, green, blue, _ = colormap(min(value, spec.vmax) / spec.vmax)
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
    ax.set_title(spec.title, pad=12)
    extend = "max" if spec.vmax < 100 else "neither"
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
    bar.set_label(f"{spec.scale_label} (%), fixed scale 0-{spec.vmax:g}", fontsize=9)
    bar.ax.tick_params(labelsize=8)
    write_atomic(path, lambda target: fig.savefig(target, dpi=130, bbox_inches="tight", format="png"))
    plt.close(fig)
    return path


def write_figures(runs: Sequence[RunSummary], output_dir: str | Path) -> list[Path]:
    """Figures 6, 7 and 8 of the paper (:data:`HEATMAPS`) as PNGs under ``output_dir/figures/``."""
    check_runs(runs)
    return [_heatmap(runs, spec, Path(output_dir) / FIGURES[spec.figure]) for spec in HEATMAPS]
