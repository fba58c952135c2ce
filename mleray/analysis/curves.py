"""Scaling: rates against time budget (from graded snapshots), and GPU cost per medal.

The time curve answers "had the budget been t, what would the rate be?". For each run
and each grid time t, the run's state is its latest graded snapshot at or before t
(mode "latest"), or whether any snapshot so far succeeded (mode "best"). A run's final
grade counts as one more event at its `wall_seconds` (whatever its exit status, as in
the final rates), so at the full budget the curve meets the final rate. Runs with no event
at or before t count as failures; the denominator is every run of the group.

Vectorised over events: each run's state changes (+1 / −1) are summed per grid bin and
cumulated, so the cost is O(events), not O(runs × grid).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mleray.analysis.model_cost import MODEL_COST_COLUMNS, with_model_cost

CURVE_METRICS = ["any_medal", "above_median", "valid_submission"]
HOUR = 3600.0
FINE_GRID_POINTS = 10  # for runs shorter than two hours, an hourly grid says nothing


def time_grid(max_elapsed_seconds: float) -> np.ndarray:
    """Every hour up to the longest run, or ten even steps when runs are short."""
    if not np.isfinite(max_elapsed_seconds) or max_elapsed_seconds <= 0:
        return np.array([0.0])
    if max_elapsed_seconds >= 2 * HOUR:
        return np.arange(0, math.ceil(max_elapsed_seconds / HOUR) + 1) * HOUR
    return np.linspace(0.0, max_elapsed_seconds, FINE_GRID_POINTS + 1)


def display_unit(max_hours: float) -> tuple[str, float]:
    """The unit to show elapsed times in (name, hours per unit): hours for long runs,
    minutes or seconds for the short runs of tests and smoke sweeps."""
    if max_hours >= 2:
        return "h", 1.0
    if max_hours * 60 >= 2:
        return "min", 1 / 60
    return "s", 1 / 3600


def _events(
    runs: pd.DataFrame, snapshots: pd.DataFrame, keys: list[str], metrics: list[str]
) -> pd.DataFrame:
    # Only the snapshots of each run's final attempt, as booleans (null means "no").
    ran = snapshots[["trial_id", "attempt", "elapsed_seconds", *metrics]].merge(
        runs[["trial_id", "attempt", *keys]], on=["trial_id", "attempt"], how="inner"
    )
    ran = ran.assign(**{metric: ran[metric].eq(True) for metric in metrics}, final=0)
    finals = runs.loc[runs["wall_seconds"].notna(), ["trial_id", *keys, "wall_seconds", *metrics]]
    finals = finals.rename(columns={"wall_seconds": "elapsed_seconds"}).assign(final=1)
    events = pd.concat([ran.drop(columns="attempt"), finals], ignore_index=True)
    if ran.empty:  # one event per run: already in order
        return events, np.ones(len(events), dtype=bool)
    # By run, then time; at one instant the final grade is the later word.
    code = pd.factorize(events["trial_id"])[0]
    order = np.lexsort((events["final"].to_numpy(), events["elapsed_seconds"].to_numpy(), code))
    code = code[order]
    return events.iloc[order].reset_index(drop=True), np.r_[True, code[1:] != code[:-1]]


def time_curves(
    runs: pd.DataFrame,
    snapshots: pd.DataFrame,
    keys: list[str],
    grid_seconds: np.ndarray | None = None,
    mode: str = "latest",
    metrics: list[str] = CURVE_METRICS,
) -> pd.DataFrame:
    """Per group × metric × grid time: the % of runs in a successful state at that time."""
    if mode not in ("latest", "best"):
        raise ValueError(f"time_curves: mode must be 'latest' or 'best', got {mode!r}")
    columns = [*keys, "metric", "elapsed_hours", "rate_pct", "runs"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    events, first_of_trial = _events(runs, snapshots, keys, metrics)  # by run, in time order
    if grid_seconds is None:
        grid_seconds = time_grid(events["elapsed_seconds"].max() if len(events) else 0.0)
    grid = np.asarray(grid_seconds, dtype=float)
    bins = np.searchsorted(grid, events["elapsed_seconds"].to_numpy(), side="left")
    run_counts = runs.groupby(keys, observed=True).size()
    # Each event's group as a row of run_counts, so that the changes of state are summed
    # per group × bin with one bincount (not a groupby per metric).
    group = run_counts.index.get_indexer(pd.MultiIndex.from_frame(events[keys]))
    cell = group * len(grid) + bins
    in_grid = bins < len(grid)
    frames = []
    for metric in metrics:
        state = events[metric].to_numpy(dtype=bool)
        if mode == "best":
            state = (
                events.assign(_s=state).groupby("trial_id", sort=False)["_s"].cummax().to_numpy()
            )
        previous = np.concatenate(([False], state[:-1]))
        previous[first_of_trial] = False
        delta = state.astype(np.int64) - previous.astype(np.int64)
        changed = in_grid & (delta != 0)
        sums = np.bincount(
            cell[changed], weights=delta[changed], minlength=len(run_counts) * len(grid)
        )
        per_bin = pd.DataFrame(
            sums.reshape(len(run_counts), len(grid)).cumsum(axis=1), index=run_counts.index
        )
        rate = per_bin.div(run_counts, axis=0) * 100.0
        rate.columns = grid / HOUR
        long = rate.stack(future_stack=True).rename("rate_pct").reset_index()
        long.columns = [*keys, "elapsed_hours", "rate_pct"]
        long = long.merge(run_counts.rename("runs").reset_index(), on=keys, how="left")
        long.insert(len(keys), "metric", metric)
        frames.append(long)
    return pd.concat(frames, ignore_index=True)[columns]


def gpu_cost(attempts: pd.DataFrame, runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per group: GPU-hours spent by every attempt (final or retried, run or not; `final`
    marks the trials' own rows), medals won by the runs, and GPU-hours per medal (None
    without a medal); the same for model tokens and dollars (`model_cost`)."""
    columns = [
        *keys,
        "trials",
        "runs",
        "gpu_hours",
        "wall_hours",
        "medals",
        "gpu_hours_per_medal",
        *MODEL_COST_COLUMNS,
    ]
    if attempts.empty:
        return pd.DataFrame(columns=columns)
    spent = attempts.groupby(keys, observed=True).agg(
        trials=("final", "sum"),
        gpu_seconds=("gpu_seconds", "sum"),
        wall_seconds=("wall_seconds", "sum"),
    )  # trials: final rows (nunique is slow)
    won = runs.groupby(keys, observed=True).agg(
        runs=("trial_id", "size"), medals=("any_medal", "sum")
    )
    table = spent.join(won, how="left").fillna({"runs": 0, "medals": 0})
    table[["trials", "runs"]] = table[["trials", "runs"]].astype(int)
    return with_model_cost(_cost_columns(table), attempts, keys).reset_index()[columns]


def hardware_table(runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per group × GPU share: runs, medal %, GPU-hours and GPU-hours per medal."""
    columns = [
        *keys,
        "gpu_share",
        "runs",
        "any_medal_pct",
        "gpu_hours",
        "medals",
        "gpu_hours_per_medal",
    ]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    table = (
        runs.assign(gpu_share=runs["gpu_share"].fillna(0.0))
        .groupby([*keys, "gpu_share"], observed=True)
        .agg(
            runs=("trial_id", "size"),
            medals=("any_medal", "sum"),
            gpu_seconds=("gpu_seconds", "sum"),
            wall_seconds=("wall_seconds", "sum"),
        )
    )
    table["any_medal_pct"] = table["medals"] / table["runs"] * 100.0
    return _cost_columns(table).reset_index()[columns]


def _cost_columns(table: pd.DataFrame) -> pd.DataFrame:
    table["gpu_hours"] = table["gpu_seconds"] / HOUR
    table["wall_hours"] = table["wall_seconds"] / HOUR
    table["medals"] = table["medals"].astype(int)
    table["gpu_hours_per_medal"] = (table["gpu_hours"] / table["medals"]).where(table["medals"] > 0)
    return table
