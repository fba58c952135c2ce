"""The Sandbox protocol: run one agent attempt on one competition, isolated.

A backend takes a `RunRequest` (everything the run needs, as plain data) and returns a
`SandboxResult` (how it ended, usage, and host paths of the collected artifacts). It never
raises for agent behaviour (non-zero exit, timeout, OOM, no submission): those are
statuses. It raises `mleray.errors.InfraError` for infrastructure faults it cannot turn
into a result, and `SandboxUnavailableError` when it cannot run at all.

Container layout the agent sees (the `local` backend gives the same through env vars):
  /home/data                 read-only public files + description.md
  /home/submission/          the agent writes submission.csv here
  /home/logs/, /home/code/   kept as artifacts
  /home/instructions.md      tells the agent all of this
  validate-submission        on PATH: checks the format against sample_submission.csv
Env: COMPETITION_ID, MLERAY_SEED, MLERAY_MODEL, TIME_LIMIT_SECS, MLERAY_GPU_IDS,
CUDA_VISIBLE_DEVICES, NVIDIA_VISIBLE_DEVICES, plus the agent's env and named secrets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class RunRequest:
    trial_id: str
    sweep: str
    competition_id: str
    public_dir: Path  # host dir with the public files and description.md
    agent_dir: Path  # the agent's folder (config.yaml, Dockerfile, entry script)
    workdir: Path  # host dir the backend owns for this attempt's artifacts
    model: str | None = None
    seed: int = 0
    time_limit: float = 600.0  # seconds of agent wall time before SIGTERM
    grace_period: float = 10.0  # seconds between SIGTERM and kill
    cpus: float = 1.0
    memory_bytes: int = 4 * 1024**3
    pids_limit: int = 512
    shm_bytes: int = 256 * 1024**2
    gpu_ids: tuple[str, ...] = ()
    kwargs: Mapping[str, object] = field(default_factory=dict)  # agent kwargs
    env: Mapping[str, str] = field(default_factory=dict)  # extra non-secret env
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)  # never logged
    snapshot_interval: float | None = None  # seconds; None disables anytime snapshots


@dataclass(frozen=True)
class Snapshot:
    elapsed_seconds: float  # since the agent started
    path: Path  # host copy of submission.csv at that moment


@dataclass(frozen=True)
class SandboxResult:
    status: str  # a FailureKind value
    error: str | None
    exit_code: int | None
    wall_seconds: float
    cpu_seconds: float | None  # agent CPU time, where the backend can measure it
    peak_memory_bytes: int | None
    submission_path: Path | None  # host path of the final submission.csv, if any
    logs_dir: Path | None
    code_dir: Path | None
    snapshots: tuple[Snapshot, ...] = ()
    sandbox: str = ""  # backend name: "docker" or "local"
    image_id: str | None = None
    isolated: bool = True  # False for `local`: results record it


@runtime_checkable
class Sandbox(Protocol):
    name: str

    def run(self, request: RunRequest, cancel: threading.Event | None = None) -> SandboxResult:
        """Run the agent to completion, timeout or cancellation (`cancel` set → status
        `cancelled`), always cleaning up what it started."""
        ...

    def reap(self, sweep: str | None = None) -> int:
        """Remove leftovers of earlier runs (for docker: containers by label, for one
        sweep or all); returns how many were removed."""
        ...


SnapshotCallback = Callable[[Snapshot], None]
