"""`build_report`: every number of an evaluation, as plain JSON-serialisable data.

A report never fails on what a sweep lacks: an empty folder, trials not run, seeds with
competitions missing, competitions without a valid submission are all stated in
`Report.missing`, one line each, and the tables are computed from what is there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from mleray.analysis import bootstrap, curves, rates, scores
from mleray.analysis.frame import (GROUP_KEYS, NO_MODEL, NOT_RUN_STATUSES, PASS_METRICS,
                                   ReportError, final_trials, group_label, load_attempts,
                                   load_snapshots, load_split, one_run_per_cell, row_label,
                                   runs_frame)
from mleray.analysis.passk import pass_at_k_table

MAX_LISTED = 8  # names listed in one "missing" line before "and N more"

NOTES = [
    "Medal rates follow MLE-bench's aggregate_grading_reports.py: per seed, the % of the "
    "split's competitions; then mean ± SEM (ddof=1) across complete seeds, 95% CI = "
    "mean ± 1.96·SEM. padded_* counts a missing competition as no medal (MLE-bench's "
    "--pad-missing).",
    "Differences from MLE-bench: seeds are the trials' seed labels (MLE-bench pairs reports "
    "by read order); one seed gives SEM = null (MLE-bench prints 0); a run that did not "
    "complete (agent_error, timeout, oom) is a failure even if it left a gradable file; "
    "infra_error and cancelled trials were not run and are reported as missing.",
    "pass@k is the unbiased estimator 1 - C(n-c,k)/C(n,k) per competition, averaged over "
    "competitions with at least k runs. Bootstrap intervals resample competitions.",
]


@dataclass(frozen=True)
class Report:
    results_dir: str
    split: str | None
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
        return dataclasses.asdict(self)

    @property
    def group_keys(self) -> list[str]:
        return [*GROUP_KEYS, "split"] if self.split else list(GROUP_KEYS)


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
        if pd.api.types.is_float_dtype(column.dtype):
            finite = np.isfinite(column.to_numpy(dtype=float, na_value=np.nan))
            values = [v if ok else None for v, ok in zip(column.tolist(), finite.tolist())]
        elif (pd.api.types.is_integer_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype)
              or (pd.api.types.is_string_dtype(column.dtype) and not column.isna().any())):
            values = column.tolist()  # already Python ints, bools and str, none missing
        else:
            values = [_plain(value) for value in column.tolist()]
        columns.append(values)
    names = [str(name) for name in frame.columns]
    return [dict(zip(names, row)) for row in zip(*columns)]


def _listed(names: list) -> str:
    shown = ", ".join(map(str, names[:MAX_LISTED]))
    return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def resolve_ks(ks: list[int] | None, most_runs: int) -> list[int]:
    """The k values to report: all of 1..n by default; each must be 1 ≤ k ≤ n."""
    if ks is None:
        return list(range(1, most_runs + 1))
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ReportError(f"--k: {k!r} is not a positive whole number")
        if most_runs and k > most_runs:
            raise ReportError(f"--k: k={k} exceeds the most runs any competition has (n={most_runs})")
    return sorted({int(k) for k in ks})


def _incomplete_lines(incomplete: pd.DataFrame, keys: list[str]) -> list[str]:
    """A line per incomplete seed when there are few, else a line per group."""
    rows = incomplete.to_dict("records")
    if len(rows) <= MAX_LISTED:
        return [f"{row_label(row, keys)} seed {row['seed']}: incomplete, "
                f"{len(row['missing'])} of {row['competitions_expected']} competitions "
                f"missing ({_listed(row['missing'])})" for row in rows]
    lines = []
    for group, block in incomplete.groupby(keys, observed=True, sort=True):
        label = group_label(group)
        absent = int(block["missing"].map(len).sum())
        lines.append(f"{label}: {len(block)} seeds incomplete, {absent} runs missing in all "
                     f"(seeds {_listed(block['seed'].tolist())}); per seed in incomplete_seeds")
    return lines


def _missing_lines(trials: pd.DataFrame, all_attempts: pd.DataFrame, runs: pd.DataFrame,
                   keys: list[str], expected: list[str], incomplete: pd.DataFrame,
                   best: pd.DataFrame, extra: list[str]) -> list[str]:
    lines = []
    if all_attempts.empty:
        return ["no trials: the results folder has no trial rows (nothing has finished yet?)"]
    not_run = trials.loc[trials["status"].isin(NOT_RUN_STATUSES)]
    if len(not_run):
        by_status = not_run["status"].value_counts().sort_index()
        kinds = ", ".join(f"{count} {status}" for status, count in by_status.items())
        by_group = not_run.groupby(keys, observed=True).size()
        groups = ", ".join(f"{group_label(g)}: {n}" for g, n in by_group.items())
        lines.append(f"{len(not_run)} trials not run ({kinds}; {groups}); they are left out of "
                     f"every denominator: {_listed(sorted(not_run['trial_id']))}")
    absent = sorted(set(expected) - set(runs["competition_id"].unique()))
    if absent:
        lines.append(f"{len(absent)} competitions have no run at all: {_listed(absent)}")
    lines += _incomplete_lines(incomplete, keys)
    for row in scores.competitions_without_valid(best, keys).to_dict("records"):
        lines.append(f"{row_label(row, keys)}: no valid submission in "
                     f"{len(row['competitions'])} competitions ({_listed(row['competitions'])})")
    return lines + extra


def _empty_report(results_dir: Path, split: str | None, ks: list[int], counts: dict,
                  missing: list[str]) -> Report:
    return Report(results_dir=str(results_dir), split=split, ks=ks,
                  generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  counts=counts, missing=missing, notes=NOTES)


def _select(all_attempts: pd.DataFrame, split: str | None) -> tuple[pd.DataFrame, list[str],
                                                                   list[str], list[str]]:
    """The trial rows to analyse, the group keys, the expected competitions, and notes."""
    if not split:
        return all_attempts, list(GROUP_KEYS), sorted(all_attempts["competition_id"].unique()), []
    expected = load_split(split)
    outside = ~all_attempts["competition_id"].isin(expected)
    notes = [f"{int(outside.sum())} trial rows of competitions outside split {split} ignored"] \
        if outside.any() else []
    return all_attempts.loc[~outside].assign(split=split), [*GROUP_KEYS, "split"], expected, notes


def _counts(all_attempts, trials, runs, snapshots, keys, expected, most_runs) -> dict:
    return {
        "attempts": int(len(all_attempts)), "trials": int(len(trials)), "runs": int(len(runs)),
        "not_run": int(trials["status"].isin(NOT_RUN_STATUSES).sum()),
        "by_status": {str(k): int(v) for k, v in trials["status"].value_counts().sort_index().items()},
        "competitions_expected": len(expected), "groups": int(len(runs[keys].drop_duplicates())),
        "most_runs_per_competition": most_runs, "snapshots": int(len(snapshots)),
    }


def build_report(results_dir: str | Path, ks: list[int] | None = None, split: str | None = None,
                 n_boot: int = bootstrap.DEFAULT_BOOTSTRAP,
                 seed: int = bootstrap.DEFAULT_SEED) -> Report:
    """Read a results folder and compute every table (see the module docstring)."""
    results_dir = Path(results_dir)
    all_attempts, snapshots = load_attempts(results_dir), load_snapshots(results_dir)
    attempts, keys, expected, extra = _select(all_attempts, split)
    attempts = attempts.assign(model=attempts["model"].fillna(NO_MODEL))
    final_rows = attempts.loc[attempts["final"].eq(True)]
    trials = final_trials(final_rows)
    if len(attempts) > len(final_rows):
        extra.append(f"{len(attempts) - len(final_rows)} earlier attempts (retried or abandoned) "
                     f"count towards GPU-hours only")
    if len(final_rows) > len(trials):
        extra.append(f"{len(final_rows) - len(trials)} final rows superseded by a later attempt "
                     f"of the same trial")
    runs, duplicates = one_run_per_cell(runs_frame(trials), keys)
    if duplicates:
        extra.append(f"{duplicates} runs share a group, competition and seed with a later "
                     f"one (different sweep or kwargs); only the latest is counted")
    per_competition = runs.groupby([*keys, "competition_id"], observed=True).size()
    most_runs = int(per_competition.max()) if len(runs) else 0
    ks = resolve_ks(ks, most_runs)
    counts = _counts(all_attempts, trials, runs, snapshots, keys, expected, most_runs)
    best = scores.normalised_best_scores(runs, keys)
    if runs.empty:
        missing = _missing_lines(trials, all_attempts, runs, keys, expected,
                                 pd.DataFrame(columns=["seed"]), best, extra)
        return _empty_report(results_dir, split, ks, counts, missing)
    seed_index = pd.MultiIndex.from_frame(
        trials[[*keys, "seed"]].drop_duplicates().sort_values([*keys, "seed"]))
    seed_table = rates.seed_table(runs, keys, seed_index, expected)
    incomplete = rates.incomplete_seeds(runs, keys, seed_table, expected)
    return Report(
        results_dir=str(results_dir), split=split, ks=ks,
        generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        counts=counts, notes=NOTES,
        missing=_missing_lines(trials, all_attempts, runs, keys, expected, incomplete, best, extra),
        medal_rates=records(rates.medal_rates(seed_table, keys)),
        seed_rates=records(seed_table),
        incomplete_seeds=records(incomplete),
        pass_at_k=records(pass_at_k_table(runs, keys, PASS_METRICS, ks)),
        bootstrap=records(bootstrap.bootstrap_table(runs, keys, PASS_METRICS, n_boot, seed)),
        paired=records(bootstrap.paired_table(runs, keys, "any_medal", n_boot, seed)),
        time_curves=records(curves.time_curves(runs, snapshots, keys)),
        gpu_cost=records(curves.gpu_cost(attempts, runs, keys)),
        hardware=records(curves.hardware_table(runs, keys)),
        competition_scores=records(best),
    )
