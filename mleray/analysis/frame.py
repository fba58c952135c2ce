"""Reading a results folder into the frames the analysis works on.

`load_trials`/`load_snapshots` read the store (see `mleray.results`); `runs_frame` turns
trial rows into the "what ran and did it succeed" frame every rate is computed from:

- `cancelled` and `infra_error` mean "not run": they leave the denominators and are
  reported as missing;
- every other status ran and is judged by the grade of whatever submission it left, as
  MLE-bench grades a run however the agent ended: a run that timed out (AIDE-style agents
  always run to the limit) keeps its medal; one that crashed without a valid submission
  has none. Runs are never dropped from the denominators.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mleray import results as results_store
from mleray.errors import MlerayError

NOT_RUN_STATUSES = ("cancelled", "infra_error")
NO_MODEL = "-"  # shown for trials whose agent takes no model
GROUP_KEYS = ["agent", "model"]

# The headline metrics (pass@k, bootstrap) and MLE-bench's full per-seed set.
PASS_METRICS = ["any_medal", "gold_medal", "above_median", "valid_submission"]
SEED_METRICS = [
    "any_medal",
    "gold_medal",
    "silver_medal",
    "bronze_medal",
    "above_median",
    "valid_submission",
    "submission_exists",
]
METRIC_LABELS = {
    "any_medal": "any medal",
    "gold_medal": "gold",
    "silver_medal": "silver",
    "bronze_medal": "bronze",
    "above_median": "above median",
    "valid_submission": "valid submission",
    "submission_exists": "submission exists",
}


GROUP_SEPARATOR = " / "


def group_label(values) -> str:
    """'agent / model' for a group key: a tuple, a single value, or a row and its keys."""
    return GROUP_SEPARATOR.join(map(str, values if isinstance(values, tuple) else (values,)))


def row_label(row: dict, keys: list[str]) -> str:
    """The group label of one record (a dict with the key columns)."""
    return group_label(tuple(row[key] for key in keys))


def group_labels(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """The group label of every row of `frame` (column-wise: a row-wise join takes
    seconds on the pass@k table of a million-row sweep)."""
    labels = frame[keys[0]].astype(str)
    for key in keys[1:]:
        labels = labels + GROUP_SEPARATOR + frame[key].astype(str)
    return labels


class ReportError(MlerayError):
    """Bad report arguments: a k that is not a whole number or exceeds the runs."""


def load_attempts(results_dir: str | Path) -> pd.DataFrame:
    """Every recorded attempt, with `final` True for rows of `<results>/trials/` and False
    for retried or abandoned attempts (which count only towards GPU-hours).

    One read of the store serves both; `final_trials` then keeps each trial's latest final
    attempt, as `mleray.results.load` does. Only the columns the report uses are read;
    the model is filled in (`NO_MODEL`), and the group keys are categorical: a groupby on
    a million string keys spends most of its time hashing them again each time.
    """
    attempts = results_store.read_attempts_table(results_dir, READ_COLUMNS).to_pandas()
    attempts["model"] = attempts["model"].fillna(NO_MODEL)
    for name in CATEGORY_COLUMNS:  # sorted categories: groups come out as strings' would
        attempts[name] = attempts[name].astype("category")
    return attempts


def load_snapshots(results_dir: str | Path) -> pd.DataFrame:
    """Graded snapshots of each trial's final attempt (maybe empty)."""
    return results_store.load_snapshots(results_dir)


def load_split(name: str) -> list[str]:
    """Competition ids of a split (the registry's `competitions/splits/<name>.txt`)."""
    from mleray.registry import load_split as registry_load_split

    return list(registry_load_split(name))


# What the analysis reads of a trial row (the rest is left behind: a million rows of
# forty columns is slow to copy).
ANALYSIS_COLUMNS = [
    "trial_id",
    "competition_id",
    "agent",
    "model",
    "seed",
    "attempt",
    "status",
    "gpu_share",
    "wall_seconds",
    "gpu_seconds",
    "finished_at",
    "score",
    "gold_threshold",
    "median_threshold",
    *SEED_METRICS,
    "is_lower_better",
]


# What `load_attempts` reads: the analysis columns and the model gateway's usage.
READ_COLUMNS = [*ANALYSIS_COLUMNS, "model_requests", "total_tokens", "dollars"]
CATEGORY_COLUMNS = ["competition_id", "agent", "model"]


def final_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per trial_id (its highest attempt: a retried trial's final word), with the
    model filled in so that groupby keeps model-less agents."""
    trials = trials[[c for c in trials.columns if c in ANALYSIS_COLUMNS or c == "split"]]
    if not trials["trial_id"].is_unique:  # sorting a million ids is the slow part
        trials = trials.sort_values(["trial_id", "attempt", "finished_at"], kind="stable")
        trials = trials.drop_duplicates("trial_id", keep="last")
    trials = trials.reset_index(drop=True)
    if trials["model"].isna().any():  # (`load_attempts` has filled it in already)
        trials = trials.assign(model=trials["model"].astype(object).fillna(NO_MODEL))
    return trials


def runs_frame(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials that ran (from `final_trials`), with boolean metric columns taken from
    their grades whatever their exit status (null, i.e. ungraded, means False)."""
    ran = ~trials["status"].isin(NOT_RUN_STATUSES)
    runs = (trials if ran.all() else trials.loc[ran]).reset_index(drop=True)
    # .eq(True): null (ungraded) and NaN both mean "no"
    metrics = {column: runs[column].eq(True).to_numpy() for column in SEED_METRICS}
    # As MLE-bench does: a medal is any of gold, silver, bronze.
    metrics["any_medal"] = (
        metrics["any_medal"]
        | metrics["gold_medal"]
        | metrics["silver_medal"]
        | metrics["bronze_medal"]
    )
    return runs.assign(**metrics)


def one_run_per_cell(runs: pd.DataFrame, keys: list[str]) -> tuple[pd.DataFrame, int]:
    """Keep the latest-finished run per group × competition × seed; also return how many
    duplicates were dropped (two sweeps with different kwargs under one agent and model
    share cells: counting both would weigh that seed twice)."""
    cell = [*keys, "competition_id", "seed"]
    shared = runs.duplicated(cell, keep=False)
    if not shared.any():
        return runs, 0
    ordered = runs.loc[shared].sort_values(
        [*cell, "finished_at"], kind="stable", na_position="first"
    )
    kept = pd.concat([runs.loc[~shared], ordered.drop_duplicates(cell, keep="last")])
    return kept.sort_index().reset_index(drop=True), len(runs) - len(kept)
