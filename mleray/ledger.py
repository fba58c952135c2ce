"""Accounting: what a sweep reserved, what its trials used, and how much did useful work.

Per attempt the store records node, GPU ids, GPU share, CPUs, memory request, wall
seconds, GPU-seconds (share × wall), container CPU seconds and peak memory, and what the
model gateway counted (requests, tokens, dollars, rate-limit waits). The ledger
sums them over every attempt (retried ones too: they held the hardware) and compares the
GPU-seconds with the capacity the cluster declared over the sweep's wall span:

  capacity_used_share = Σ gpu_seconds / (declared GPUs × (last finish − first start))

The driver appends the capacity it saw to `<results>/capacity.jsonl` once per session.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from mleray.errors import FailureKind
from mleray.results import load_attempts
from mleray.results.model_columns import usage_totals

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


@dataclass(frozen=True)
class NodeUsage:
    """What the attempts placed on one node (by IP) used."""

    attempts: int
    gpu_hours: float
    wall_hours: float


@dataclass(frozen=True)
class Ledger:
    """Counts by status (of final rows) and usage totals (of every attempt)."""

    trials: int
    by_status: dict[str, int]  # every FailureKind value, 0 included
    attempts: int
    wall_hours: float
    gpu_hours_used: float  # share × wall, summed over every attempt
    gpu_hours_useful: float  # the same over completed trials only
    cpu_hours: float
    peak_memory_bytes: int | None
    first_start: datetime | None
    last_finish: datetime | None
    span_seconds: float
    declared_gpus: float | None
    gpu_hours_capacity: float | None  # declared GPUs × span
    capacity_used_share: float | None  # gpu_hours_used / gpu_hours_capacity
    nodes: dict[str, NodeUsage]  # by node IP, "?" where none was recorded
    # the model gateway's counts summed over the attempts that used it; None: none did
    model_usage: dict | None = None

    def to_dict(self) -> dict:
        """The ledger as plain JSON-ready data (what `mleray status --json` prints)."""
        out = dataclasses.asdict(self)
        for key in ("first_start", "last_finish"):
            out[key] = None if out[key] is None else out[key].isoformat()
        return out


def sweep_ledger(df: pd.DataFrame, declared: float | None = None) -> Ledger:
    """Counts by status and usage totals. `df` holds attempts (`load_attempts`, with a
    `final` column) or one row per trial (`load`); `declared` is the cluster's GPU count."""
    final = df[df["final"]] if "final" in df.columns else df
    completed = final[final["status"] == FailureKind.COMPLETED.value]
    first = last = None
    span, capacity, share = 0.0, None, None
    if len(df):
        first, last = df["started_at"].min(), df["finished_at"].max()
        span = max(0.0, (last - first).total_seconds())
    used = _hours(df["gpu_seconds"])
    if declared and span > 0:
        capacity = declared * span / 3600.0
        share = used / capacity
    peak = df["peak_memory_bytes"]
    return Ledger(
        trials=int(len(final)),
        by_status={kind.value: int((final["status"] == kind.value).sum()) for kind in FailureKind},
        attempts=int(len(df)),
        wall_hours=_hours(df["wall_seconds"]),
        gpu_hours_used=used,
        gpu_hours_useful=_hours(completed["gpu_seconds"]),
        cpu_hours=_hours(df["cpu_seconds"]),
        peak_memory_bytes=int(peak.max()) if peak.notna().any() else None,
        first_start=first,
        last_finish=last,
        span_seconds=span,
        declared_gpus=declared,
        gpu_hours_capacity=capacity,
        capacity_used_share=share,
        nodes=_usage_by_node(df),
        model_usage=usage_totals(df),
    )


def _usage_by_node(df: pd.DataFrame) -> dict[str, NodeUsage]:
    if not len(df):
        return {}
    return {
        str(node): NodeUsage(
            attempts=int(len(rows)),
            gpu_hours=_hours(rows["gpu_seconds"]),
            wall_hours=_hours(rows["wall_seconds"]),
        )
        for node, rows in df.groupby(df["node_ip"].fillna("?"), sort=True)
    }


def ledger_for(results_dir: str | os.PathLike) -> Ledger:
    """The ledger of a results folder: every attempt plus the recorded capacity."""
    return sweep_ledger(load_attempts(results_dir), declared_gpus(results_dir))
