"""`build_report`: every number of an evaluation, as plain JSON-serialisable data.

A report never fails on what a sweep lacks: an empty folder, trials not run, seeds with
competitions missing, competitions without a valid submission are all stated in
`Report.missing`, one line each, and the tables are computed from what is there.

With splits (`split="low"` or `["low", "medium", "high"]`, as MLE-bench reports), every
table gains a `split` column and each split is aggregated over its own competitions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from mleray.analysis import bootstrap, curves, missing, rates, scores
from mleray.analysis.frame import (
    GROUP_KEYS,
    NOT_RUN_STATUSES,
    PASS_METRICS,
    ReportError,
    final_trials,
    load_attempts,
    load_snapshots,
    load_split,
    one_run_per_cell,
    runs_frame,
)
from mleray.analysis.passk import pass_at_k_table

NOTES = [
    "Medal rates follow MLE-bench's aggregate_grading_reports.py: per seed, the % of the "
    "split's competitions; then mean ± SEM (ddof=1) across complete seeds, 95% CI = "
    "mean ± 1.96·SEM. padded_* counts a missing competition as no medal (MLE-bench's "
    "--pad-missing).",
    "Differences from MLE-bench: seeds are the trials' seed labels (MLE-bench pairs reports "
    "by read order); one seed gives SEM = null (MLE-bench prints 0). As in MLE-bench, a "
    "run is judged by the submission it left whatever its exit status (timeout, agent_error, "
    "oom included); infra_error and cancelled trials were not run and are reported as missing.",
    "pass@k is the unbiased estimator 1 - C(n-c,k)/C(n,k) per competition, averaged over "
    "competitions with at least k runs. Bootstrap intervals resample competitions.",
]


@dataclass(frozen=True)
class Report:
    results_dir: str
    splits: list[str]
    ks: list[int]
    generated_at: str
    counts: dict
    missing: list[str]
    notes: list[str]
    medal_rates: list[dict] = field(default_factory=list)
    seed_rates: list[dict] = field(default_factory=list)
    incomplete_seeds: list[dict] = field(default_factory=list)
    pass_at_k: list[dict] = field(default_factory=list)
    bootstrap: list[dict] = field(default_factory=list)
    paired: list[dict] = field(default_factory=list)
    time_curves: list[dict] = field(default_factory=list)
    gpu_cost: list[dict] = field(default_factory=list)
    hardware: list[dict] = field(default_factory=list)
    competition_scores: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        # shallow: the fields are plain records already, and asdict's deep copy of
        # them costs seconds on a million-row sweep
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @property
    def group_keys(self) -> list[str]:
        return [*GROUP_KEYS, "split"] if self.splits else list(GROUP_KEYS)


def _plain(value):
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(item) for item in value]
    return value


def records(frame: pd.DataFrame) -> list[dict]:
    """A frame as JSON-ready dicts: Python scalars, None for NaN and ±inf."""
    columns = []
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):  # group keys: as their strings
            column = column.astype(column.cat.categories.dtype)
        if pd.api.types.is_float_dtype(column.dtype):
            finite = np.isfinite(column.to_numpy(dtype=float, na_value=np.nan))
            values = [v if ok else None for v, ok in zip(column.tolist(), finite.tolist())]
        elif (
            pd.api.types.is_integer_dtype(column.dtype)
            or pd.api.types.is_bool_dtype(column.dtype)
            or (pd.api.types.is_string_dtype(column.dtype) and not column.isna().any())
        ):
            values = column.tolist()  # already Python ints, bools and str, none missing
        else:
            values = [_plain(value) for value in column.tolist()]
        columns.append(values)
    names = [str(name) for name in frame.columns]
    return [dict(zip(names, row)) for row in zip(*columns)]


def resolve_ks(ks: list[int] | None, most_runs: int) -> list[int]:
    """The k values to report: all of 1..n by default; each must be 1 ≤ k ≤ n."""
    if ks is None:
        return list(range(1, most_runs + 1))
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ReportError(f"--k: {k!r} is not a positive whole number")
        if most_runs and k > most_runs:
            raise ReportError(
                f"--k: k={k} exceeds the most runs any competition has (n={most_runs})"
            )
    return sorted({int(k) for k in ks})


@dataclass(frozen=True)
class _Frames:
    """A results folder ready for the tables: one final row per trial, one run per cell."""

    attempts: pd.DataFrame  # every attempt in scope (GPU accounting)
    trials: pd.DataFrame  # latest final attempt per trial
    runs: pd.DataFrame  # trials that ran, one per group × competition × seed
    runs_by_share: pd.DataFrame  # the same, one per group × GPU share × competition × seed
    snapshots: pd.DataFrame
    expected: dict  # split name (None without splits) -> competition ids
    notes: list[str]  # what was set aside, for `missing`
    empty_folder: bool


def _read(results_dir: Path, splits: list[str]) -> _Frames:
    all_attempts, snapshots = load_attempts(results_dir), load_snapshots(results_dir)
    expected = (
        {name: load_split(name) for name in splits}
        if splits
        else {None: sorted(all_attempts["competition_id"].unique())}
    )
    inside = all_attempts["competition_id"].isin(set().union(*expected.values()))
    notes = (
        [
            f"{int((~inside).sum())} trial rows of competitions outside split "
            f"{', '.join(splits)} ignored"
        ]
        if not inside.all()
        else []
    )
    attempts = all_attempts if inside.all() else all_attempts.loc[inside]
    final = attempts["final"].eq(True)
    final_rows = attempts if final.all() else attempts.loc[final]
    trials = final_trials(final_rows)
    if len(attempts) > len(final_rows):
        notes.append(
            f"{len(attempts) - len(final_rows)} earlier attempts (retried or "
            f"abandoned) count towards GPU-hours only"
        )
    if len(final_rows) > len(trials):
        notes.append(
            f"{len(final_rows) - len(trials)} final rows superseded by a later "
            f"attempt of the same trial"
        )
    all_runs = runs_frame(trials)
    runs, duplicates = one_run_per_cell(all_runs, GROUP_KEYS)
    # Sweeps of one agent at several GPU shares share cells; the hardware table compares them.
    # (with no cell shared, none is shared once the GPU share is a key too)
    by_share = one_run_per_cell(all_runs, [*GROUP_KEYS, "gpu_share"])[0] if duplicates else runs
    if duplicates:
        notes.append(
            f"{duplicates} runs share a group, competition and seed with a later "
            f"one (different sweep or kwargs); only the latest is counted (the hardware "
            f"table keeps one per GPU share)"
        )
    return _Frames(attempts, trials, runs, by_share, snapshots, expected, notes, all_attempts.empty)


def _by_split(frame: pd.DataFrame, expected: dict) -> pd.DataFrame:
    """One copy of each row per split its competition belongs to, with a `split` column."""
    if None in expected:
        return frame
    return pd.concat(
        [
            frame.loc[frame["competition_id"].isin(ids)].assign(split=name)
            for name, ids in expected.items()
        ],
        ignore_index=True,
    )


def _seed_tables(
    runs: pd.DataFrame, trials: pd.DataFrame, keys: list[str], expected: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-seed rates and incomplete seeds, each split against its own competitions."""
    tables, incomplete = [], []
    for name, ids in expected.items():
        in_split = (lambda f: f) if name is None else (lambda f, n=name: f.loc[f["split"] == n])
        split_runs, split_trials = in_split(runs), in_split(trials)
        seeds = pd.MultiIndex.from_frame(
            split_trials[[*keys, "seed"]].drop_duplicates().sort_values([*keys, "seed"])
        )
        table = rates.seed_table(split_runs, keys, seeds, ids)
        tables.append(table)
        incomplete.append(rates.incomplete_seeds(split_runs, keys, table, ids))
    return pd.concat(tables, ignore_index=True), pd.concat(incomplete, ignore_index=True)


def _counts(frames: _Frames, most_runs: int) -> dict:
    trials, runs = frames.trials, frames.runs
    return {
        "attempts": int(len(frames.attempts)),
        "trials": int(len(trials)),
        "runs": int(len(runs)),
        "not_run": int(trials["status"].isin(NOT_RUN_STATUSES).sum()),
        "by_status": {
            str(k): int(v) for k, v in trials["status"].value_counts().sort_index().items()
        },
        "competitions_expected": len(set().union(*frames.expected.values())),
        "groups": int(len(runs[GROUP_KEYS].drop_duplicates())),
        "most_runs_per_competition": most_runs,
        "snapshots": int(len(frames.snapshots)),
    }


def build_report(
    results_dir: str | Path,
    ks: list[int] | None = None,
    split: str | list[str] | None = None,
    n_boot: int = bootstrap.DEFAULT_BOOTSTRAP,
    seed: int = bootstrap.DEFAULT_SEED,
) -> Report:
    """Read a results folder and compute every table (see the module docstring)."""
    splits = [split] if isinstance(split, str) else list(split or [])
    frames = _read(Path(results_dir), splits)
    per_competition = frames.runs.groupby([*GROUP_KEYS, "competition_id"], observed=True).size()
    most_runs = int(per_competition.max()) if len(frames.runs) else 0
    ks = resolve_ks(ks, most_runs)
    keys = [*GROUP_KEYS, "split"] if splits else list(GROUP_KEYS)
    trials, runs = (
        _by_split(frames.trials, frames.expected),
        _by_split(frames.runs, frames.expected),
    )
    best = scores.normalised_best_scores(runs, keys)
    lines = (
        [missing.NO_TRIALS]
        if frames.empty_folder
        else missing.not_run_line(frames.trials) + missing.never_run_lines(runs, frames.expected)
    )
    report = Report(
        results_dir=str(results_dir),
        splits=splits,
        ks=ks,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        counts=_counts(frames, most_runs),
        missing=lines,
        notes=NOTES,
    )
    if runs.empty:
        return dataclasses.replace(
            report, missing=lines + ([] if frames.empty_folder else frames.notes)
        )
    seed_table, incomplete = _seed_tables(runs, trials, keys, frames.expected)
    lines += (
        missing.incomplete_lines(incomplete, keys)
        + missing.no_valid_lines(best, keys)
        + frames.notes
    )
    return dataclasses.replace(
        report,
        missing=lines,
        medal_rates=records(rates.medal_rates(seed_table, keys)),
        seed_rates=records(seed_table),
        incomplete_seeds=records(incomplete),
        pass_at_k=records(pass_at_k_table(runs, keys, PASS_METRICS, ks)),
        bootstrap=records(bootstrap.bootstrap_table(runs, keys, PASS_METRICS, n_boot, seed)),
        paired=records(bootstrap.paired_table(runs, keys, "any_medal", n_boot, seed)),
        time_curves=records(curves.time_curves(runs, frames.snapshots, keys)),
        gpu_cost=records(curves.gpu_cost(_by_split(frames.attempts, frames.expected), runs, keys)),
        hardware=records(
            curves.hardware_table(_by_split(frames.runs_by_share, frames.expected), keys)
        ),
        competition_scores=records(best),
    )
