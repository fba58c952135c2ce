"""`TrialOutcome`: what one trial attempt returns to the driver, as plain data.

It crosses the Ray boundary from the TrialActor, so it holds bytes, not paths on the
agent's node: the final submission, the anytime snapshots and an artifacts archive (logs
and code). No Ray import here, so the result store can build rows from it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from mleray.errors import FailureKind


@dataclass(frozen=True)
class TrialOutcome:
    trial_id: str
    attempt: int
    status: str  # a FailureKind value
    error: str | None
    started_at: datetime  # UTC
    finished_at: datetime  # UTC
    wall_seconds: float
    exit_code: int | None = None
    cpu_seconds: float | None = None
    peak_memory_bytes: int | None = None
    submission: bytes | None = None  # final submission.csv, if the agent wrote one
    snapshots: tuple[tuple[float, bytes], ...] = ()  # (elapsed seconds, submission.csv)
    artifacts: bytes | None = None  # tar.gz of logs/ and code/, if small enough
    node_id: str | None = None
    node_ip: str | None = None
    gpu_ids: tuple[str, ...] = ()
    sandbox: str | None = None
    image_id: str | None = None
    isolated: bool = True

    @property
    def retryable(self) -> bool:
        return FailureKind(self.status).retryable

    def with_status(self, status: FailureKind, error: str | None) -> TrialOutcome:
        return replace(self, status=status.value, error=error)


def lost_outcome(
    trial_id: str,
    attempt: int,
    started_at: datetime,
    error: str,
    status: FailureKind = FailureKind.INFRA_ERROR,
) -> TrialOutcome:
    """The outcome the driver records when the actor never returned one (node or actor
    lost, cancelled before it answered)."""
    now = datetime.now(UTC)
    return TrialOutcome(
        trial_id=trial_id,
        attempt=attempt,
        status=status.value,
        error=error,
        started_at=started_at,
        finished_at=now,
        wall_seconds=max(0.0, (now - started_at).total_seconds()),
    )
