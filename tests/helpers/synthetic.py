"""Synthetic results folders in the store's layout, for tests and the report benchmark
(`benchmarks/bench_report.py`); not part of the library, which never uses them.

`trial_table(rows)` fills every TRIAL_SCHEMA column a row leaves out (sensible defaults
for a completed, graded trial), so a test states only what it is about. `synthetic_trials`
draws a whole sweep at once (vectorised, seeded) for benchmarks.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mleray.results import SNAPSHOT_SCHEMA, TRIAL_SCHEMA, ResultWriter

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

_DEFAULTS = {
    "sweep": "test",
    "agent": "baseline",
    "model": None,
    "seed": 0,
    "attempt": 1,
    "status": "completed",
    "sandbox": "local",
    "gpu_share": 0.0,
    "cpus": 1.0,
    "wall_seconds": 60.0,
    "gpu_seconds": 0.0,
    "started_at": _EPOCH,
    "finished_at": _EPOCH,
    "graded_at": _EPOCH,
    "gold_threshold": 0.9,
    "silver_threshold": 0.85,
    "bronze_threshold": 0.8,
    "median_threshold": 0.6,
    "submission_exists": True,
    "valid_submission": True,
    "is_lower_better": False,
    "any_medal": False,
    "gold_medal": False,
    "silver_medal": False,
    "bronze_medal": False,
    "above_median": False,
}


def trial_id_for(row: dict) -> str:
    identity = "|".join(
        str(row.get(key)) for key in ("sweep", "competition_id", "agent", "model", "seed")
    )
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def _complete(row: dict, schema: pa.Schema) -> dict:
    full = {**_DEFAULTS, **row}
    full.setdefault("trial_id", trial_id_for(full))
    if "score" in row and "any_medal" not in row:  # derive medals from the score
        full.update(_medals(full))
    return {name: full.get(name) for name in schema.names}


def _medals(row: dict) -> dict:
    score = row["score"]
    if score is None or not row["valid_submission"]:
        return {}
    sign = -1.0 if row["is_lower_better"] else 1.0
    reached = {
        name: sign * score >= sign * row[f"{name}_threshold"]
        for name in ("gold", "silver", "bronze")
    }
    gold, silver = reached["gold"], reached["silver"] and not reached["gold"]
    bronze = reached["bronze"] and not (reached["gold"] or reached["silver"])
    return {
        "gold_medal": gold,
        "silver_medal": silver,
        "bronze_medal": bronze,
        "any_medal": gold or silver or bronze,
        "above_median": sign * score > sign * row["median_threshold"],
    }


def trial_table(rows: list[dict]) -> pa.Table:
    """TRIAL_SCHEMA rows; each dict needs at least `competition_id`."""
    return pa.Table.from_pylist([_complete(row, TRIAL_SCHEMA) for row in rows], schema=TRIAL_SCHEMA)


def snapshot_table(rows: list[dict]) -> pa.Table:
    """SNAPSHOT_SCHEMA rows; each dict needs `competition_id` and `elapsed_seconds`."""
    return pa.Table.from_pylist(
        [_complete(row, SNAPSHOT_SCHEMA) for row in rows], schema=SNAPSHOT_SCHEMA
    )


def write_results(
    results_dir: str | Path,
    trials: pa.Table | list[dict],
    snapshots: pa.Table | list[dict] | None = None,
    file_per_trial: bool = True,
    attempts: pa.Table | list[dict] | None = None,
) -> Path:
    """Write a results folder. By default through the store's own `ResultWriter` (one
    atomic file per attempt, as a sweep writes them); `file_per_trial=False` writes each
    table as one file instead, for big benchmarks. `attempts` are non-final attempts
    (retried infra errors), which the store keeps for accounting."""
    root = Path(results_dir)
    as_tables = {
        "trials": trial_table(trials) if isinstance(trials, list) else trials,
        "snapshots": snapshot_table(snapshots) if isinstance(snapshots, list) else snapshots,
        "attempts": trial_table(attempts) if isinstance(attempts, list) else attempts,
    }
    if not file_per_trial:
        for folder, table in as_tables.items():
            (root / folder).mkdir(parents=True, exist_ok=True)
            if table is not None:
                pq.write_table(table, root / folder / "all.parquet")
        return root
    writer = ResultWriter(root)
    (root / "trials").mkdir(exist_ok=True)
    for folder, final in (("trials", True), ("attempts", False)):
        for row in as_tables[folder].to_pylist() if as_tables[folder] is not None else []:
            writer.write_trial(row, final=final)
    by_attempt: dict[tuple, list[dict]] = {}
    for row in as_tables["snapshots"].to_pylist() if as_tables["snapshots"] is not None else []:
        by_attempt.setdefault((row["trial_id"], row["attempt"]), []).append(row)
    for rows in by_attempt.values():
        writer.write_snapshots(rows)
    return root


def synthetic_trials(
    competitions: int, agents: int, models: int, seeds: int, rng_seed: int = 0
) -> pa.Table:
    """A full sweep (competitions × agents × models × seeds rows) with random outcomes:
    skill varies by agent and competition, ~3% of trials fail and ~1% are not run."""
    rng = np.random.default_rng(rng_seed)
    comp, agent, model, seed = (
        axis.ravel()
        for axis in np.meshgrid(
            np.arange(competitions),
            np.arange(agents),
            np.arange(models),
            np.arange(seeds),
            indexing="ij",
        )
    )
    rows = comp.size
    skill = (
        rng.normal(0, 1, competitions)[comp] + 0.4 * agent + 0.2 * model + rng.normal(0, 1, rows)
    )
    score = 1.0 / (1.0 + np.exp(-skill))
    status = np.where(rng.random(rows) < 0.03, "agent_error", "completed")
    status = np.where(rng.random(rows) < 0.01, "infra_error", status)
    done = status == "completed"
    thresholds = {"gold": 0.9, "silver": 0.85, "bronze": 0.8, "median": 0.6}
    gold = done & (score >= thresholds["gold"])
    silver = done & ~gold & (score >= thresholds["silver"])
    bronze = done & ~gold & ~silver & (score >= thresholds["bronze"])
    wall = rng.uniform(600, 24 * 3600, rows)
    columns = {
        "trial_id": np.char.add("t", np.arange(rows).astype(str)),
        "sweep": np.full(rows, "bench"),
        "competition_id": np.char.add("comp-", comp.astype(str)),
        "agent": np.char.add("agent-", agent.astype(str)),
        "model": np.char.add("model-", model.astype(str)),
        "seed": seed,
        "attempt": np.ones(rows, int),
        "status": status,
        "gpu_share": np.full(rows, 0.5),
        "wall_seconds": wall,
        "gpu_seconds": 0.5 * wall,
        "score": np.where(done, score, np.nan),
        **{f"{name}_threshold": np.full(rows, value) for name, value in thresholds.items()},
        "gold_medal": gold,
        "silver_medal": silver,
        "bronze_medal": bronze,
        "any_medal": gold | silver | bronze,
        "above_median": done & (score > thresholds["median"]),
        "submission_exists": done,
        "valid_submission": done,
        "is_lower_better": np.zeros(rows, bool),
    }
    arrays = [
        pa.array(columns[f.name], type=f.type, from_pandas=True)
        if f.name in columns
        else pa.nulls(rows, f.type)
        for f in TRIAL_SCHEMA
    ]
    return pa.Table.from_arrays(arrays, schema=TRIAL_SCHEMA)
