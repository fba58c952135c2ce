"""PNG plots of a Report (matplotlib, Agg backend): pass@k, rate vs time, score heat map.

Each function takes the report's plain records and writes one PNG; with nothing to
plot it still writes a figure that says so, so a report folder always has the same files.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on clusters and CI

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from mleray.analysis.curves import display_unit  # noqa: E402
from mleray.analysis.frame import METRIC_LABELS, group_labels  # noqa: E402

PASS_K_PNG = "pass_at_k.png"
TIME_PNG = "medal_rate_vs_time.png"
HEATMAP_PNG = "competition_heatmap.png"
HEATMAP_RANGE = (-1.0, 1.5)  # normalised scores: 0 = median, 1 = gold; clipped for colour
DPI = 110


def _save(figure, path: Path) -> Path:
    # Laid out and drawn once, at the final dpi, straight to an Agg canvas: `savefig`
    # draws the figure a second time (a layout pass) before rendering it.
    figure.set_dpi(DPI)
    figure.tight_layout()
    FigureCanvasAgg(figure).print_png(path)
    plt.close(figure)
    return path


def _nothing(axis, what: str) -> None:
    axis.text(0.5, 0.5, f"no {what} to plot", ha="center", va="center", fontsize=12)
    axis.set_axis_off()


def plot_pass_at_k(pass_at_k: list[dict], keys: list[str], path: str | Path) -> Path:
    """One panel per metric (2 × 2 for the four): pass@k against k, a line per group."""
    frame = pd.DataFrame(pass_at_k)
    metrics = list(dict.fromkeys(frame["metric"])) if len(frame) else []
    columns = min(2, max(1, len(metrics)))
    rows = max(1, -(-len(metrics) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 3.8 * rows), squeeze=False)
    if not metrics:
        _nothing(axes[0, 0], "pass@k values")
        return _save(figure, Path(path))
    frame["group"] = group_labels(frame, keys)
    marker = "o" if frame["k"].nunique() <= 30 else None
    for axis, metric in zip(axes.ravel(), metrics):
        for group, block in frame.loc[frame["metric"] == metric].groupby("group", sort=True):
            axis.plot(
                block["k"], block["pass_at_k"].astype(float) * 100, marker=marker, label=group
            )
        axis.set_title(f"pass@k: {METRIC_LABELS.get(metric, metric)}")
        axis.set_xlabel("k (runs per competition)")
        axis.set_ylabel("% of competitions")
        axis.set_ylim(0, 100)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
    for axis in axes.ravel()[len(metrics) :]:
        axis.set_axis_off()
    axes[0, 0].legend(fontsize=7)
    return _save(figure, Path(path))


def plot_time_curves(
    time_curves: list[dict], keys: list[str], path: str | Path, metric: str = "any_medal"
) -> Path:
    """Rate of `metric` against elapsed time (the time budget), one line per group."""
    frame = pd.DataFrame(time_curves)
    figure, axis = plt.subplots(figsize=(6.4, 4.0))
    if frame.empty or not (frame["metric"] == metric).any():
        _nothing(axis, "time curves")
        return _save(figure, Path(path))
    frame = frame.loc[frame["metric"] == metric].copy()
    frame["group"] = group_labels(frame, keys)
    unit, per_unit = display_unit(float(frame["elapsed_hours"].max()))
    for group, block in frame.groupby("group", sort=True):
        axis.step(
            block["elapsed_hours"] / per_unit,
            block["rate_pct"].astype(float),
            where="post",
            marker=".",
            label=group,
        )
    axis.set_title(f"{METRIC_LABELS.get(metric, metric)} rate vs time budget")
    axis.set_xlabel(f"elapsed time ({unit})")
    axis.set_ylabel("% of runs")
    axis.set_ylim(bottom=0)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    return _save(figure, Path(path))


def plot_heatmap(competition_scores: list[dict], keys: list[str], path: str | Path) -> Path:
    """Competitions × groups: best score normalised so that median = 0 and gold = 1."""
    frame = pd.DataFrame(competition_scores)
    if frame.empty:
        figure, axis = plt.subplots(figsize=(6.4, 4.0))
        _nothing(axis, "scores")
        return _save(figure, Path(path))
    frame["group"] = group_labels(frame, keys)
    grid = frame.pivot_table(
        index="competition_id", columns="group", values="normalised", aggfunc="max", dropna=False
    ).sort_index()
    values = np.clip(grid.to_numpy(dtype=float), *HEATMAP_RANGE)
    height = max(3.0, 0.28 * len(grid.index) + 1.5)
    width = max(5.0, 1.1 * len(grid.columns) + 3.0)
    figure, axis = plt.subplots(figsize=(width, height))
    cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="lightgrey")  # grey: no valid score
    image = axis.imshow(
        np.ma.masked_invalid(values),
        aspect="auto",
        cmap=cmap,
        vmin=HEATMAP_RANGE[0],
        vmax=HEATMAP_RANGE[1],
    )
    axis.set_xticks(range(len(grid.columns)), grid.columns, rotation=30, ha="right", fontsize=8)
    axis.set_yticks(range(len(grid.index)), grid.index, fontsize=7)
    axis.set_title(
        "best score per competition\n(0 = median, 1 = gold; grey = no valid submission)",
        fontsize=10,
    )
    figure.colorbar(image, ax=axis, label="normalised score")
    return _save(figure, Path(path))


def write_plots(report, out_dir: str | Path) -> list[Path]:
    """All three plots of a Report into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keys = report.group_keys
    return [
        plot_pass_at_k(report.pass_at_k, keys, out / PASS_K_PNG),
        plot_time_curves(report.time_curves, keys, out / TIME_PNG),
        plot_heatmap(report.competition_scores, keys, out / HEATMAP_PNG),
    ]
