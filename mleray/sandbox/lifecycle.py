"""The life of one run, shared by every backend: the stop clock and how a run ended.

A backend starts the agent, then calls `supervise` with three functions of its own: has it
exited, stop it politely (SIGTERM), kill it. The clock sends SIGTERM once the time limit
passes or `cancel` is set, and kills after the grace period until the agent is gone. After
collecting the artifacts the backend calls `conclude` with what it observed (`Ending`),
which classifies the run (completed / agent_error / timeout / oom / cancelled; agent_error
too when the backend stopped it past a bound such as the disk; infra_error when a service
never let the agent start or something outside the run ended it) and builds the
`SandboxResult`. It redacts secret values from the submission and snapshots first: grading
quotes cells in its messages, and nothing that leaves the node may carry a secret.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mleray.errors import FailureKind
from mleray.sandbox.artifacts import redact_file
from mleray.sandbox.base import RunRequest, SandboxResult
from mleray.sandbox.contract import redact
from mleray.sandbox.services import launch_failure
from mleray.sandbox.snapshots import SnapshotTaker

_SIGNALS = frozenset(s.value for s in signal.Signals)


class StopClock:
    """SIGTERM at the time limit or on cancellation, kill once the grace period is over."""

    def __init__(
        self,
        request: RunRequest,
        cancel: threading.Event,
        terminate: Callable[[], None],
        kill: Callable[[], None],
    ):
        self.time_limit = request.time_limit
        self.grace_period = request.grace_period
        self.cancel = cancel
        self._terminate, self._kill = terminate, kill
        self.started = time.monotonic()
        self.stop_reason: FailureKind | None = None  # TIMEOUT or CANCELLED once stopping
        self._terminated_at: float | None = None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def tick(self) -> None:
        now = time.monotonic()
        if self.stop_reason is None:
            if self.cancel.is_set() or now - self.started > self.time_limit:
                self.stop_reason = (
                    FailureKind.CANCELLED if self.cancel.is_set() else FailureKind.TIMEOUT
                )
                self._terminated_at = now
                self._terminate()
        elif now - self._terminated_at > self.grace_period:
            self._kill()


def supervise(
    clock: StopClock,
    exited: Callable[[], bool],
    poll_seconds: float,
    each_poll: Callable[[float], None] = lambda elapsed: None,
) -> FailureKind | None:
    """Poll until `exited()`; between polls `each_poll(elapsed)` (snapshots) and the clock.
    Returns why mleray stopped the run (TIMEOUT, CANCELLED), None when it ended by itself."""
    while not exited():
        each_poll(clock.elapsed())
        clock.tick()
        time.sleep(poll_seconds)
    return clock.stop_reason


@dataclass(frozen=True)
class Ending:
    """What the backend saw of the end of a run."""

    stop_reason: FailureKind | None  # from `supervise`
    exit_code: int | None  # negative: killed by that signal (local)
    oom_killed: bool = False  # the kernel's OOM killer ended it (docker reads it)
    over_limit: str | None = None  # the backend stopped the agent over a bound (disk): why
    outside_error: str | None = None  # ended by something outside the run (docker kill): what


def classify(
    request: RunRequest, ending: Ending, service_error: str | None = None
) -> tuple[FailureKind, str | None]:
    if ending.stop_reason is FailureKind.CANCELLED:
        return FailureKind.CANCELLED, "cancelled"
    if service_error:
        return FailureKind.INFRA_ERROR, service_error
    if ending.stop_reason is FailureKind.TIMEOUT:
        return FailureKind.TIMEOUT, f"time limit of {request.time_limit:g}s exceeded"
    if ending.over_limit:
        return FailureKind.AGENT_ERROR, ending.over_limit
    if ending.outside_error:
        return FailureKind.INFRA_ERROR, ending.outside_error
    code = ending.exit_code
    if ending.oom_killed and code != 0:
        return FailureKind.OOM, f"out of memory (limit {request.memory_bytes} bytes)"
    if code is not None and code < 0 and -code in _SIGNALS:
        return FailureKind.AGENT_ERROR, f"agent killed by signal {signal.Signals(-code).name}"
    if code != 0:
        return FailureKind.AGENT_ERROR, f"agent exited with code {code}"
    return FailureKind.COMPLETED, None


@dataclass(frozen=True)
class Usage:
    """What the backend measured."""

    wall_seconds: float
    cpu_seconds: float | None = None
    peak_memory_bytes: int | None = None


def conclude(
    sandbox,
    request: RunRequest,
    ending: Ending,
    usage: Usage,
    snapshots: SnapshotTaker,
    collect_note: str = "",
    image_id: str | None = None,
    launch_key: str = "",
) -> SandboxResult:
    """The result of a run whose artifacts are collected in workdir/artifacts; takes the
    last snapshot and redacts it and the submission; `collect_note` (files skipped) is
    added to an error; `launch_key`: the run's (see `services`), "" without services."""
    artifacts = Path(request.workdir) / "artifacts"
    logs, code = artifacts / "logs", artifacts / "code"
    submission = artifacts / "submission" / "submission.csv"
    submission = submission if submission.is_file() else None
    snapshots.finish(usage.wall_seconds, submission)
    for path in [submission, *(snapshot.path for snapshot in snapshots.taken)]:
        if path is not None:  # before anything leaves this node
            redact_file(path, dict(request.secrets))
    service_error = launch_failure(logs if logs.is_dir() else None, ending.exit_code, launch_key)
    kind, error = classify(request, ending, service_error)
    if collect_note and error:
        error = f"{error}; {collect_note}"
    return SandboxResult(
        status=kind,
        error=redact(error, dict(request.secrets)) if error else None,
        exit_code=ending.exit_code,
        wall_seconds=usage.wall_seconds,
        cpu_seconds=usage.cpu_seconds,
        peak_memory_bytes=usage.peak_memory_bytes,
        submission_path=submission,
        logs_dir=logs if logs.is_dir() else None,
        code_dir=code if code.is_dir() else None,
        snapshots=snapshots.taken,
        sandbox=sandbox.name,
        image_id=image_id,
        isolated=sandbox.isolated,
    )


def not_started(sandbox, error: str = "cancelled before start") -> SandboxResult:
    """The result of a run cancelled before anything started."""
    return SandboxResult(
        status=FailureKind.CANCELLED,
        error=error,
        exit_code=None,
        wall_seconds=0.0,
        cpu_seconds=None,
        peak_memory_bytes=None,
        submission_path=None,
        logs_dir=None,
        code_dir=None,
        sandbox=sandbox.name,
        isolated=sandbox.isolated,
    )
