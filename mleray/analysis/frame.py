"""Reading a results folder into the frames the analysis works on.

`load_trials`/`load_snapshots` read the store (see `mleray.results`); `runs_frame` turns
trial rows into the "what ran and did it succeed" frame every rate is computed from:

- `cancelled` and `infra_error` mean "not run": they leave the denominators and are
  reported as missing;
- every other status ran; a run that did not complete counts as a failure in every rate
  (its grade fields are forced to False), never dropped.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mleray import results as results_store
from mleray.errors import MlerayError, NotFoundError
from mleray.results import SNAPSHOT_SCHEMA, TRIAL_SCHEMA

NOT_RUN_STATUSES = ("cancelled", "infra_error")
COMPLETED = "completed"
NO_MODEL = "-"  # shown for trials whose agent takes no model
GROUP_KEYS = ["agent", "model"]

# The headline metrics (pass@k, bootstrap) and MLE-bench's full per-seed set.
PASS_METRICS = ["any_medal", "gold_medal", "above_median", "valid_submission"]
SEED_METRICS = ["any_medal", "gold_medal", "silver_medal", "bronze_medal", "above_median",
                "valid_submission", "submission_exists"]
METRIC_LABELS = {
    "any_medal": "any medal", "gold_medal": "gold", "silver_medal": "silver",
    "bronze_medal": "bronze", "above_median": "above median",
    "valid_submission": "valid submission", "submission_exists": "submission exists",
}


class ReportError(MlerayError):
    """Bad report arguments (a k, a split) or an unreadable results file."""


def _read_folder(folder: Path, schema: pa.Schema) -> pd.DataFrame:
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    tables = []
    for path in files:
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise ReportError(f"{path}: unreadable Parquet file ({type(exc).__name__})") from None
        missing = [name for name in schema.names if name not in table.column_names]
        for name in missing:  # files from an older schema: absent columns are null
            table = table.append_column(schema.field(name), pa.nulls(len(table), schema.field(name).type))
        tables.append(table.select(schema.names).cast(schema))
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    # Null booleans would turn the column into `object`; no grade means "did not get it".
    for field in schema:
        if pa.types.is_boolean(field.type):
            index = table.schema.get_field_index(field.name)
            table = table.set_column(index, field, pc.fill_null(table.column(index), False))
    return table.to_pandas()


def _check_results_dir(results_dir: str | Path) -> Path:
    path = Path(results_dir)
    if not path.is_dir():
        raise NotFoundError(f"results folder {path} does not exist")
    return path


def load_trials(results_dir: str | Path) -> pd.DataFrame:
    """Every trial row under `<results>/trials/`, in TRIAL_SCHEMA columns (maybe empty)."""
    store_load = getattr(results_store, "load", None)
    if store_load is not None:
        return store_load(results_dir)
    return _read_folder(_check_results_dir(results_dir) / "trials", TRIAL_SCHEMA)


def load_snapshots(results_dir: str | Path) -> pd.DataFrame:
    """Every snapshot row under `<results>/snapshots/` (maybe empty)."""
    store_load = getattr(results_store, "load_snapshots", None)
    if store_load is not None:
        return store_load(results_dir)
    return _read_folder(_check_results_dir(results_dir) / "snapshots", SNAPSHOT_SCHEMA)


def load_split(name: str) -> list[str]:
    """Competition ids of a split (the registry's `competitions/splits/<name>.txt`)."""
    from mleray.registry import load_split as registry_load_split

    return list(registry_load_split(name))


def final_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per trial_id (its highest attempt: a retried trial's final word), with the
    model filled in so that groupby keeps model-less agents."""
    ordered = trials.sort_values(["trial_id", "attempt"], kind="stable")
    final = ordered.drop_duplicates("trial_id", keep="last").reset_index(drop=True)
    final["model"] = final["model"].fillna(NO_MODEL)
    return final


def runs_frame(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials that ran (from `final_trials`), with boolean metric columns that are
    False unless the trial completed."""
    runs = trials.loc[~trials["status"].isin(NOT_RUN_STATUSES)].copy()
    completed = runs["status"].eq(COMPLETED).to_numpy()
    for column in SEED_METRICS:  # .eq(True): null (ungraded) and NaN both mean "no"
        runs[column] = runs[column].eq(True).to_numpy() & completed
    # As MLE-bench does: a medal is any of gold, silver, bronze.
    runs["any_medal"] = runs["any_medal"] | runs["gold_medal"] | runs["silver_medal"] | runs["bronze_medal"]
    return runs.reset_index(drop=True)


def one_run_per_cell(runs: pd.DataFrame, keys: list[str]) -> tuple[pd.DataFrame, int]:
    """Keep the latest-finished run per group × competition × seed; also return how many
    duplicates were dropped (two sweeps with different kwargs under one agent and model
    share cells: counting both would weigh that seed twice)."""
    cell = [*keys, "competition_id", "seed"]
    ordered = runs.sort_values([*cell, "finished_at"], kind="stable", na_position="first")
    kept = ordered.drop_duplicates(cell, keep="last")
    return kept.sort_index().reset_index(drop=True), len(runs) - len(kept)
