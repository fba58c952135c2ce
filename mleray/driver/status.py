"""`SweepStatus`: what the scheduling loop reports each tick, as a frozen record.

The loop builds it (asking Ray when each running actor was placed); the live view only
reads it, so the view needs neither the loop's internals nor Ray.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from mleray.errors import FailureKind


@dataclass(frozen=True)
class RunningAttempt:
    trial_id: str
    label: str  # competition · agent/model · seed
    attempt: int
    gpus: float  # the trial's GPU share
    placed_at: datetime | None  # when Ray placed its actor; None while it waits for resources


@dataclass(frozen=True)
class SweepStatus:
    sweep: str
    total: int  # trials this run set out to finish
    counts: Mapping[FailureKind, int] = field(default_factory=dict)  # final rows written so far
    running: tuple[RunningAttempt, ...] = ()
    grading: int = 0  # attempts waiting for their grades
    retries: int = 0
    gpu_seconds: float = 0.0  # GPU share × wall of the attempts that ended

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def gpu_seconds_at(self, now: datetime) -> float:
        """GPU-seconds held so far: ended attempts, plus running ones since placement."""
        held = sum(
            job.gpus * (now - job.placed_at).total_seconds()
            for job in self.running
            if job.placed_at is not None
        )
        return self.gpu_seconds + held
