"""`TrialOutcome`: what one trial attempt returns to the driver, as plain data.

It crosses the Ray boundary from the TrialActor, so it holds bytes, not paths on the
agent's node: the final submission, the anytime snapshots and an artifacts archive (logs
and code). No Ray import here, so the result store can build rows from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from mleray.errors import FailureKind
from mleray.gateway.usage import ModelUsage


@dataclass(frozen=True)
class Placement:
    """Where Ray ran the attempt: its node, and the GPU ids Ray granted it."""

    node_id: str | None = None
    node_ip: str | None = None
    gpu_ids: tuple[str, ...] = ()


NOT_PLACED = Placement()  # an attempt whose actor never answered: no node known


@dataclass(frozen=True)
class TrialOutcome:
    trial_id: str
    attempt: int
    status: FailureKind  # a value given as its string is stored as the member
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
    placement: Placement = field(default=NOT_PLACED)
    sandbox: str | None = None
    image_id: str | None = None
    isolated: bool = True
    model_usage: ModelUsage | None = None  # what its gateway token used; None: no gateway

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", FailureKind(self.status))

    @property
    def retryable(self) -> bool:
        return self.status.retryable

    def with_status(self, status: FailureKind, error: str | None) -> TrialOutcome:
        return replace(self, status=status, error=error)

    @classmethod
    def infra_error(
        cls,
        trial_id: str,
        attempt: int,
        started_at: datetime,
        error: str,
        placement: Placement = NOT_PLACED,
        sandbox: str | None = None,
        status: FailureKind = FailureKind.INFRA_ERROR,
    ) -> TrialOutcome:
        """An attempt the infrastructure failed, not the agent: the actor's sandbox could
        not run (daemon fault, missing image or data, full disk), or the actor never
        returned (node or actor lost). Charged from `started_at` until now; the error
        is kept to its first line."""
        now = datetime.now(UTC)
        return cls(
            trial_id=trial_id,
            attempt=attempt,
            status=status,
            error=error.splitlines()[0] if error else error,
            started_at=started_at,
            finished_at=now,
            wall_seconds=max(0.0, (now - started_at).total_seconds()),
            placement=placement,
            sandbox=sandbox,
        )
