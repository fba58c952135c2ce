"""One error hierarchy for mleray.

`MlerayError` is a user-facing failure: its message is one clear line naming the file,
field or value at fault, and the CLI prints it without a traceback (exit 2).

`FailureKind` classifies how a trial attempt ended. Failures outside our code (agent,
node, daemon) are data, not exceptions: they travel as a `FailureKind` in a
`TrialOutcome`, and only `INFRA_ERROR` is retried so pass@k denominators stay honest.
"""

from __future__ import annotations

from enum import Enum


class MlerayError(Exception):
    """A user-facing error whose message is a single line, shown without a traceback."""


class SpecError(MlerayError):
    """A sweep spec, competition or agent config with a bad field."""


class NotFoundError(MlerayError):
    """An unknown competition, agent, split or results folder."""


class NotPreparedError(MlerayError):
    """A competition whose data has not been prepared (or fails its checksums)."""


class SandboxUnavailableError(MlerayError):
    """No Docker engine, or a missing image: the sandbox cannot start at all."""


class FailureKind(str, Enum):
    COMPLETED = "completed"
    AGENT_ERROR = "agent_error"
    TIMEOUT = "timeout"
    OOM = "oom"
    INFRA_ERROR = "infra_error"
    CANCELLED = "cancelled"

    @property
    def retryable(self) -> bool:
        return self is FailureKind.INFRA_ERROR


class InfraError(Exception):
    """Raised inside a sandbox backend for infrastructure faults (daemon error, missing
    image, lost node); the actor turns it into an `infra_error` outcome."""
