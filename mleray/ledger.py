"""Accounting: what a sweep reserved, what its trials used, and how much did useful work.

Per attempt the store records node, GPU ids, GPU share, CPUs, memory request, wall
seconds, GPU-seconds (share × wall), container CPU seconds and peak memory. The ledger
sums them over every attempt (retried ones too: they held the hardware) and compares the
GPU-seconds with the capacity the cluster declared over the sweep's wall span:

  capacity_used_share = Σ gpu_seconds / (declared GPUs × (last finish − first start))

The driver appends the capacity it saw to `<results>/capacity.jsonl` once per session.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from mleray.errors import FailureKind
from mleray.results import load_attempts

CAPACITY_FILE = "capacity.jsonl"


def record_capacity(results_dir: str | os.PathLike, gpus: float, cpus: float, address: str) -> None:
    """Append this session's cluster capacity (one JSON line; appends are atomic enough
    for one short line, and a torn last line is skipped when read)."""
    line = json.dumps(
        {
            "at": datetime.now(UTC).isoformat(),
            "gpus": gpus,
            "cpus": cpus,
            "address": address,
        }
    )
    with open(Path(results_dir) / CAPACITY_FILE, "a") as handle:
        handle.write(line + "\n")


def declared_gpus(results_dir: str | os.PathLike) -> float | None:
    """The most GPUs any session of this sweep saw, or None when none was recorded."""
    path = Path(results_dir) / CAPACITY_FILE
    if not path.is_file():
        return None
    seen = []
    for line in path.read_text().splitlines():
        try:
            seen.append(float(json.loads(line)["gpus"]))
        except (ValueError, KeyError, TypeError):
            continue
    return max(seen) if seen else None


def _hours(seconds: pd.Series) -> float:
    return float(seconds.fillna(0).sum()) / 3600.0


def sweep_ledger(df: pd.DataFrame, declared: float | None = None) -> dict:
    """Counts by status and usage totals. `df` holds attempts (`load_attempts`, with a
    `final` column) or one row per trial (`load`); `declared` is the cluster's GPU count."""
    final = df[df["final"]] if "final" in df.columns else df
    by_status = {kind.value: int((final["status"] == kind.value).sum()) for kind in FailureKind}
    completed = final[final["status"] == FailureKind.COMPLETED.value]
    ledger = {
        "trials": int(len(final)),
        "by_status": by_status,
        "attempts": int(len(df)),
        "wall_hours": _hours(df["wall_seconds"]),
        "gpu_hours_used": _hours(df["gpu_seconds"]),
        "gpu_hours_useful": _hours(completed["gpu_seconds"]),
        "cpu_hours": _hours(df["cpu_seconds"]),
        "peak_memory_bytes": int(df["peak_memory_bytes"].max())
        if df["peak_memory_bytes"].notna().any()
        else None,
        "first_start": None,
        "last_finish": None,
        "span_seconds": 0.0,
        "declared_gpus": declared,
        "gpu_hours_capacity": None,
        "capacity_used_share": None,
        "nodes": {},
    }
    if not len(df):
        return ledger
    first, last = df["started_at"].min(), df["finished_at"].max()
    span = max(0.0, (last - first).total_seconds())
    ledger.update(first_start=first.isoformat(), last_finish=last.isoformat(), span_seconds=span)
    if declared and span > 0:
        ledger["gpu_hours_capacity"] = declared * span / 3600.0
        ledger["capacity_used_share"] = ledger["gpu_hours_used"] / ledger["gpu_hours_capacity"]
    for node, rows in df.groupby(df["node_ip"].fillna("?"), sort=True):
        ledger["nodes"][str(node)] = {
            "attempts": int(len(rows)),
            "gpu_hours": _hours(rows["gpu_seconds"]),
            "wall_hours": _hours(rows["wall_seconds"]),
        }
    return ledger


def ledger_for(results_dir: str | os.PathLike) -> dict:
    """The ledger of a results folder: every attempt plus the recorded capacity."""
    return sweep_ledger(load_attempts(results_dir), declared_gpus(results_dir))
