"""The Sandbox protocol: run one agent attempt on one competition, isolated.

A backend takes a `RunRequest` (everything the run needs, as plain data: the parsed agent
config included) and returns a `SandboxResult` (how it ended as a `FailureKind`, usage, and
host paths of the collected artifacts). What each method raises:
  check_ready(agent)  makes this node ready where it can (docker builds a missing agent
                      image), else `SandboxUnavailableError` when it cannot run the agent
                      at all (no engine, a prebuilt image not here, command not found): a
                      sweep fails fast.
  run(request)        never raises for agent behaviour (non-zero exit, timeout, OOM, no
                      submission): those are statuses. `InfraError` for infrastructure
                      faults it cannot turn into a result (engine errors, missing image).
  reap(results_key)   `InfraError` when the engine cannot be reached.
`name` is the backend's registry name (recorded in results); `isolated` says whether the
agent is confined (False for `local`: results record it). Backends are registered by name
in `mleray.sandbox` (`register_sandbox`) and pass `mleray.sandbox.conformance`.

Container layout the agent sees (the `local` backend gives the same through env vars):
  /home/data                 read-only public files + description.md
  /home/submission/          the agent writes submission.csv here
  /home/logs/, /home/code/   kept as artifacts
  /home/instructions.md      tells the agent all of this
  validate-submission        on PATH: checks the format against sample_submission.csv
Env: COMPETITION_ID, MLERAY_SEED, MLERAY_MODEL, TIME_LIMIT_SECS, MLERAY_GPU_IDS,
CUDA_VISIBLE_DEVICES, NVIDIA_VISIBLE_DEVICES, plus the agent's env and named secrets.

Services (`RunRequest.services`): processes mleray starts inside the sandbox beside the
agent, before it, as the agent's user (a validation endpoint, a model-API forwarder). Each
gets its files placed in its own folder (`{service_dir}` in its command), the agent's
environment plus its own `env`, and its output in logs/mleray-services/<name>.log. Once
every service is ready (its `ready_port` on 127.0.0.1 accepts a connection, within
`ready_timeout` seconds of the run's start) the agent starts; a service that exits or does
not get ready ends the run as `infra_error` with an error naming it. Services live in the
agent's network namespace (loopback only at `network: none`), die with the agent, and
count against the run's limits and time limit.

Host sockets (`RunRequest.host_sockets`): host folders holding Unix sockets, the only way
out of a `network: none` container. Docker bind-mounts each (read-only: connecting needs no
write access to the mount) at its `container_dir`; local gives the host folder itself. The
variable `env_var` tells the agent and its services where the folder is, so both backends
work unchanged. The socket files must be connectable by uid 1000.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Protocol, runtime_checkable

from mleray.agents import AgentConfig
from mleray.errors import FailureKind, SpecError

_SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ServiceFile:
    """A file placed in a service's folder before it starts."""

    path: str  # relative to the service's folder
    data: bytes = field(repr=False)
    mode: int = 0o644

    def __post_init__(self) -> None:
        parts = PurePosixPath(self.path).parts
        if not parts or PurePosixPath(self.path).is_absolute() or ".." in parts:
            raise SpecError(f"service file path {self.path!r} must be relative, without '..'")


@dataclass(frozen=True)
class ServiceSpec:
    """A process mleray starts in the sandbox before the agent (see the module doc)."""

    name: str
    command: tuple[str, ...]  # argv; `{service_dir}` becomes the service's folder
    files: tuple[ServiceFile, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    ready_port: int | None = None  # ready once 127.0.0.1:ready_port accepts a connection
    ready_timeout: float = 30.0  # seconds from the run's start

    def __post_init__(self) -> None:
        if not _SERVICE_NAME.match(self.name):
            raise SpecError(f"service name {self.name!r} must be a lowercase id like 'validator'")
        if not self.command or not all(isinstance(part, str) for part in self.command):
            raise SpecError(f"service {self.name}: command must be a non-empty list of strings")
        if self.ready_port is not None and not 0 < self.ready_port < 65536:
            raise SpecError(f"service {self.name}: ready_port {self.ready_port} is no TCP port")
        if self.ready_timeout <= 0:
            raise SpecError(f"service {self.name}: ready_timeout must be positive")

    def command_for(self, service_dir: str) -> list[str]:
        return [part.replace("{service_dir}", service_dir) for part in self.command]


@dataclass(frozen=True)
class HostSocketDir:
    """A host folder of Unix sockets the agent and its services may connect to."""

    host_dir: Path
    container_dir: str  # where docker mounts it (absolute)
    env_var: str  # set to the folder's path as the agent sees it

    def __post_init__(self) -> None:
        if not PurePosixPath(self.container_dir).is_absolute():
            raise SpecError(f"host socket folder target {self.container_dir!r} must be absolute")
        if not _ENV_NAME.match(self.env_var):
            raise SpecError(f"host socket env_var {self.env_var!r} is not a variable name")


@dataclass(frozen=True)
class RunRequest:
    trial_id: str
    results_key: str  # the results folder's key: containers are labelled with it for reaping
    competition_id: str
    public_dir: Path  # host dir with the public files and description.md
    agent: AgentConfig  # parsed once by the caller; its `dir` holds the entry script
    workdir: Path  # host dir the backend owns for this attempt's artifacts
    model: str | None = None
    seed: int = 0
    time_limit: float = 600.0  # seconds of agent wall time before SIGTERM
    grace_period: float = 10.0  # seconds between SIGTERM and kill
    cpus: float = 1.0
    memory_bytes: int = 4 * 1024**3
    # None: the agent's config.yaml `resources`, else the defaults below (see `limits()`)
    pids_limit: int | None = None
    shm_bytes: int | None = None
    disk_bytes: int | None = None
    gpu_ids: tuple[str, ...] = ()
    kwargs: Mapping[str, object] = field(default_factory=dict)  # agent kwargs
    env: Mapping[str, str] = field(default_factory=dict)  # extra non-secret env
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)  # never logged
    snapshot_interval: float | None = None  # seconds; None disables anytime snapshots
    services: tuple[ServiceSpec, ...] = ()  # started before the agent, in this order
    host_sockets: tuple[HostSocketDir, ...] = ()

    def limits(self) -> ContainerLimits:
        """The pids, shm and disk bounds of this run: the request's (a sweep's
        `resources`), else the agent's config, else the defaults."""
        agent = self.agent
        return ContainerLimits(
            pids=self.pids_limit or agent.pids_limit or DEFAULT_PIDS_LIMIT,
            shm_bytes=self.shm_bytes or agent.shm_bytes or self.memory_bytes // 2,
            disk_bytes=self.disk_bytes or agent.disk_bytes or DEFAULT_DISK_BYTES,
        )


# A PyTorch GPU agent's data loader workers each start threads, and pass batches through
# /dev/shm: Docker's defaults (no pids bound; 64 MiB of shm) and the old 512 / 256 MiB
# were too small. Shm pages count against the container's memory limit (the memory cgroup
# charges them to the writer), so half of it is a share, not extra memory.
DEFAULT_PIDS_LIMIT = 4096
DEFAULT_DISK_BYTES = 32 * 1024**3  # what an agent may write into its container filesystem


@dataclass(frozen=True)
class ContainerLimits:
    pids: int  # processes and threads
    shm_bytes: int  # size of /dev/shm (a tmpfs, charged to the memory limit)
    disk_bytes: int  # the container's writable layer: /home/*, /tmp, everything but data


@dataclass(frozen=True)
class Snapshot:
    elapsed_seconds: float  # since the agent started
    path: Path  # host copy of submission.csv at that moment


@dataclass(frozen=True)
class SandboxResult:
    status: FailureKind
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
    name: str  # the registry name, recorded in results
    isolated: bool  # False: the agent can reach whatever this user can

    def check_ready(self, agent: AgentConfig) -> str:
        """What will run the agent (docker: the image tag; local: the command's path), or
        `SandboxUnavailableError` naming what is missing when this node cannot run it."""
        ...

    def run(self, request: RunRequest, cancel: threading.Event | None = None) -> SandboxResult:
        """Run the agent to completion, timeout or cancellation (`cancel` set → status
        `cancelled`), always cleaning up what it started; `InfraError` for faults of the
        infrastructure it cannot turn into a result."""
        ...

    def reap(self, results_key: str | None = None) -> int:
        """Remove leftovers of earlier runs (for docker: containers by label, of one results
        key or all); returns how many were removed; `InfraError` when the engine is gone."""
        ...


SnapshotCallback = Callable[[Snapshot], None]
