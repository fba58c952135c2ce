"""Writing a Report out: Markdown, JSON (every number), PNGs, and the terminal table."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from rich.console import Group
from rich.table import Table
from rich.text import Text

from mleray.analysis.curves import display_unit
from mleray.analysis.frame import (
    METRIC_LABELS,
    PASS_METRICS,
    SEED_METRICS,
    ReportError,
    group_labels,
    row_label,
)
from mleray.analysis.render_models import (
    MD_HEADERS,
    TERMINAL_HEADERS,
    md_cells,
    terminal_cells,
    uses_models,
)

MAX_K_COLUMNS = 10  # pass@k columns shown in tables; the JSON has every k
MAX_TIME_COLUMNS = 12
MAX_HEATMAP_ROWS = 100

REPORT_MD = "report.md"
REPORT_JSON = "report.json"


def to_json(report) -> str:
    """One line per top-level field and one per table record: as easy to read and grep as
    an indented dump, and written by json's C encoder (an indented dump runs in Python:
    twice as slow on a million-row report)."""
    encode = json.JSONEncoder(allow_nan=False).encode
    fields = []
    for name, value in report.to_dict().items():
        if isinstance(value, list) and value:
            rows = ",\n".join(f"    {encode(item)}" for item in value)
            fields.append(f"  {encode(name)}: [\n{rows}\n  ]")
        else:
            fields.append(f"  {encode(name)}: {encode(value)}")
    return "{\n" + ",\n".join(fields) + "\n}\n"


def shown_ks(ks: list[int]) -> list[int]:
    """At most MAX_K_COLUMNS values of k: all when few, else powers of two plus the last."""
    if len(ks) <= MAX_K_COLUMNS:
        return list(ks)
    picked = [k for k in ks if k & (k - 1) == 0][: MAX_K_COLUMNS - 1]
    return sorted(set(picked) | {ks[-1]})


def _fmt(value, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _fmt_hours(value) -> str:
    """GPU-hours keep three significant digits: short test sweeps use thousandths of an hour."""
    return "n/a" if value is None else f"{value:.3g}"


def _mean_sem(row: dict | None, separator: str = " ± ") -> str:
    if row is None or row.get("mean_pct") is None:
        return "n/a"
    sem = "" if row["sem_pct"] is None else f"{separator}{row['sem_pct']:.1f}"
    return f"{row['mean_pct']:.1f}{sem}"


def _groups(report) -> dict[tuple, str]:
    rows = report.medal_rates or report.gpu_cost
    keys = report.group_keys
    return {tuple(row[k] for k in keys): row_label(row, keys) for row in rows}


def _splits_note(report, quote: str = "") -> str:
    if not report.splits:
        return ""
    word = "split" if len(report.splits) == 1 else "splits"
    return f", {word} " + ", ".join(f"{quote}{name}{quote}" for name in report.splits)


def _index(rows: list[dict], keys: list[str], *extra: str) -> dict[tuple, dict]:
    return {tuple(row[k] for k in [*keys, *extra]): row for row in rows}


def _md_table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines + [""]


def _md_rates(report) -> list[str]:
    rates = _index(report.medal_rates, report.group_keys, "metric")
    header = ["group", *(METRIC_LABELS[m] + " %" for m in SEED_METRICS), "seeds (complete/all)"]
    rows = []
    for group, label in _groups(report).items():
        first = rates.get((*group, SEED_METRICS[0]), {})
        rows.append(
            [
                label,
                *(_mean_sem(rates.get((*group, m))) for m in SEED_METRICS),
                f"{first.get('seeds', 0)}/{first.get('seeds_total', 0)}",
            ]
        )
    return [
        "## Medal rates (mean ± SEM over complete seeds, MLE-bench aggregation)",
        "",
        *_md_table(header, rows),
    ]


def _md_pass_at_k(report) -> list[str]:
    table = _index(report.pass_at_k, report.group_keys, "metric", "k")
    ks = shown_ks(report.ks)
    lines = ["## pass@k (% of competitions)", ""]
    for metric in PASS_METRICS:
        rows = [
            [label, *(_fmt(_pct(table.get((*group, metric, k)))) for k in ks)]
            for group, label in _groups(report).items()
        ]
        lines += [f"### {METRIC_LABELS[metric]}", "", *_md_table(["group", *map(str, ks)], rows)]
    return lines


def _pct(row: dict | None):
    return None if row is None or row["pass_at_k"] is None else row["pass_at_k"] * 100


def _md_bootstrap_and_pairs(report) -> list[str]:
    table = _index(report.bootstrap, report.group_keys, "metric")
    rows = []
    for group, label in _groups(report).items():
        cells = []
        for metric in PASS_METRICS:
            row = table.get((*group, metric))
            cells.append(
                "n/a"
                if row is None
                else f"{row['rate_pct']:.1f} [{row['ci_low_pct']:.1f}, {row['ci_high_pct']:.1f}]"
            )
        rows.append([label, *cells])
    lines = [
        "## 95% bootstrap intervals (competitions resampled)",
        "",
        *_md_table(["group", *(METRIC_LABELS[m] + " %" for m in PASS_METRICS)], rows),
    ]
    if report.paired:
        pair_rows = [
            [
                p["a"],
                p["b"],
                _fmt(p["difference_pct"]),
                f"[{_fmt(p['ci_low_pct'])}, {_fmt(p['ci_high_pct'])}]",
                p["competitions"],
                f"{p['a_better']}/{p['b_better']}/{p['ties']}",
            ]
            for p in report.paired
        ]
        lines += [
            "## Paired differences, any medal (A − B on shared competitions)",
            "",
            *_md_table(
                ["A", "B", "difference %", "95% CI", "competitions", "A better/B better/tied"],
                pair_rows,
            ),
        ]
    return lines


def _md_time_and_cost(report) -> list[str]:
    lines = []
    curves = pd.DataFrame(report.time_curves)
    if len(curves):
        curves = curves.loc[curves["metric"] == "any_medal"]
        hours = sorted(curves["elapsed_hours"].unique())
        step = max(1, -(-len(hours) // MAX_TIME_COLUMNS))
        hours = hours[::step] if hours[-1] in hours[::step] else [*hours[::step], hours[-1]]
        table = _index(curves.to_dict("records"), report.group_keys, "elapsed_hours")
        rows = [
            [label, *(_fmt(table.get((*g, h), {}).get("rate_pct")) for h in hours)]
            for g, label in _groups(report).items()
        ]
        unit, per_unit = display_unit(max(hours))
        lines += [
            "## Any-medal rate vs time budget (% of runs)",
            "",
            *_md_table(["group", *(f"{h / per_unit:.3g} {unit}" for h in hours)], rows),
        ]
    models = uses_models(report)
    cost = [
        [
            row_label(r, report.group_keys),
            r["trials"],
            r["runs"],
            _fmt_hours(r["gpu_hours"]),
            r["medals"],
            _fmt_hours(r["gpu_hours_per_medal"]),
            *(md_cells(r) if models else []),
        ]
        for r in report.gpu_cost
    ]
    if cost:
        headers = ["group", "trials", "runs", "GPU-hours", "medals", "GPU-hours per medal"]
        lines += [
            "## GPU and model cost" if models else "## GPU cost",
            "",
            *_md_table([*headers, *(MD_HEADERS if models else [])], cost),
        ]
    hardware = [
        [
            row_label(r, report.group_keys),
            r["gpu_share"],
            r["runs"],
            _fmt(r["any_medal_pct"]),
            _fmt_hours(r["gpu_hours_per_medal"]),
        ]
        for r in report.hardware
    ]
    if hardware:
        lines += [
            "## By GPU share",
            "",
            *_md_table(
                ["group", "GPU share", "runs", "any medal %", "GPU-hours per medal"], hardware
            ),
        ]
    return lines


def _md_scores(report) -> list[str]:
    frame = pd.DataFrame(report.competition_scores)
    if frame.empty:
        return []
    frame["group"] = group_labels(frame, report.group_keys)
    grid = frame.pivot_table(
        index="competition_id", columns="group", values="normalised", aggfunc="max", dropna=False
    ).sort_index()
    rows = [
        [comp, *(_fmt(None if pd.isna(v) else v, 2) for v in values)]
        for comp, values in zip(grid.index[:MAX_HEATMAP_ROWS], grid.to_numpy())
    ]
    more = len(grid.index) - MAX_HEATMAP_ROWS
    return [
        "## Best score per competition (0 = median, 1 = gold)",
        "",
        *_md_table(["competition", *grid.columns], rows),
        *([f"({more} more competitions in report.json)", ""] if more > 0 else []),
    ]


def to_markdown(report, plots: list[Path] | None = None) -> str:
    counts = report.counts
    lines = [
        "# mleray report",
        "",
        f"- results: `{report.results_dir}`" + _splits_note(report, "`"),
        f"- generated: {report.generated_at}",
        f"- {counts.get('trials', 0)} trials, {counts.get('runs', 0)} ran, "
        f"{counts.get('not_run', 0)} not run; {counts.get('competitions_expected', 0)} "
        f"competitions; {counts.get('groups', 0)} agent/model groups",
        "",
        "## What is missing",
        "",
    ]
    lines += [f"- {line}" for line in report.missing] or [
        "Nothing: every trial ran and every seed is complete."
    ]
    lines.append("")
    if report.medal_rates:
        lines += [
            *_md_rates(report),
            *_md_pass_at_k(report),
            *_md_bootstrap_and_pairs(report),
            *_md_time_and_cost(report),
            *_md_scores(report),
        ]
    if plots:
        lines += ["## Plots", "", *(f"![{p.stem}]({p.name})" for p in plots), ""]
    lines += ["## Method", "", *(f"- {note}" for note in report.notes), ""]
    return "\n".join(lines)


def write_report(report, out_dir: str | Path) -> list[Path]:
    """report.md, report.json and the PNGs into `out_dir`; returns every path written."""
    from mleray.analysis.plots import write_plots  # matplotlib: only when writing files

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        plots = write_plots(report, out)
        (out / REPORT_JSON).write_text(to_json(report))
        (out / REPORT_MD).write_text(to_markdown(report, plots))
    except OSError as exc:  # a file in the way, a read-only or missing parent
        raise ReportError(
            f"--out {out}: cannot write the report there ({exc.strerror or exc})"
        ) from None
    return [out / REPORT_MD, out / REPORT_JSON, *plots]


def _terminal_table(title: str, columns: list[str], rows: list[list[str]], caption: str) -> Table:
    table = Table(title=title, caption=caption, title_justify="left")
    table.add_column(columns[0], no_wrap=True)
    for column in columns[1:]:
        table.add_column(column, justify="right", overflow="fold")  # never "…" a number
    for row in rows:
        table.add_row(*row)
    return table


def terminal_view(report) -> Group:
    """Rich tables of the headline numbers (rates, then pass@k), then what is missing."""
    rates = _index(report.medal_rates, report.group_keys, "metric")
    passk = _index(report.pass_at_k, report.group_keys, "metric", "k")
    boot = _index(report.bootstrap, report.group_keys, "metric")
    cost = _index(report.gpu_cost, report.group_keys)
    ks = shown_ks(report.ks)
    models = uses_models(report)
    where = f"{report.results_dir}" + _splits_note(report)
    rate_rows, pass_rows = [], []
    for group, label in _groups(report).items():
        first = rates.get((*group, "any_medal"), {})
        rate_rows.append(
            [
                label,
                *(_mean_sem(rates.get((*group, m)), "±") for m in PASS_METRICS),
                f"{first.get('seeds', 0)}/{first.get('seeds_total', 0)}",
                _fmt_hours(cost.get(group, {}).get("gpu_hours_per_medal")),
                *(terminal_cells(cost.get(group, {})) if models else []),
            ]
        )
        b = boot.get((*group, "any_medal"))
        pass_rows.append(
            [
                label,
                *(_fmt(_pct(passk.get((*group, "any_medal", k)))) for k in ks),
                "n/a" if b is None else f"{b['ci_low_pct']:.1f}–{b['ci_high_pct']:.1f}",
            ]
        )
    tables = []
    if rate_rows:
        tables += [
            _terminal_table(
                f"medal rates: {where}",
                ["group", "medal %", "gold %", ">median %", "valid %", "seeds", "GPU-h/medal"]
                + (TERMINAL_HEADERS if models else []),
                rate_rows,
                "mean±SEM over complete seeds (MLE-bench); seeds: complete/all",
            ),
            _terminal_table(
                "any-medal pass@k (%)",
                ["group", *(f"k={k}" for k in ks), "95% CI"],
                pass_rows,
                "95% CI: bootstrap over competitions",
            ),
        ]
    missing = [Text(f"missing: {line}", style="yellow") for line in report.missing]
    return Group(*tables, *missing)
