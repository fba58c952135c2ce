"""`DockerSandbox`: one container per trial attempt, through the Docker SDK.

The container: the agent's image (`mleray.sandbox.images.image_tag`), the competition's public
folder bind-mounted read-only at /home/data (nothing else of the host is mounted: no
private answers, never the Docker socket), user 1000:1000, all capabilities dropped,
no-new-privileges, `network_mode="none"` unless the agent config asks for `bridge`, CPU,
memory (= memory+swap, so OOM is real), pids and shm limits, capped json logs, and
docker-init as PID 1 so SIGTERM reaches the agent (PID 1 ignores signals it has no handler
for). Labels `mleray.managed=1`, `mleray.sweep`, `mleray.trial_id` let `reap` remove
orphans of dead actors.

Files move with `put_archive`/`get_archive` (docker cp), not writable bind mounts: a bind
mount would let the agent plant symlinks that the host follows and fill the host's disk
live; with an archive the agent's tree arrives as tar entries, from which only regular
files and folders within caps are written (see `artifacts`). The runtime files
(instructions.md, validate-submission and its validator) are put into the created
container before it starts, so any image works and grading changes need no rebuild.

Errors: a missing image or a daemon fault raises `InfraError` (retryable); `check_ready`
raises `SandboxUnavailableError` up front so a sweep fails fast before it starts.
"""

from __future__ import annotations

import io
import os
import tarfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

from mleray.agents import CONTAINER_AGENT_DIR, AgentConfig, load_agent
from mleray.errors import FailureKind, InfraError, SandboxUnavailableError
from mleray.sandbox import artifacts
from mleray.sandbox.base import RunRequest, SandboxResult
from mleray.sandbox.contract import (
    CONTAINER_PATHS,
    VALIDATE_WRAPPER,
    VALIDATOR,
    agent_environment,
    instructions_text,
    redact,
)
from mleray.sandbox.images import image_tag
from mleray.sandbox.snapshots import SnapshotTaker
from mleray.sandbox.usage import UsageSampler

LABEL_MANAGED = "mleray.managed"
LABEL_SWEEP = "mleray.sweep"
LABEL_TRIAL = "mleray.trial_id"
AGENT_UID = 1000
OUTPUT_LOG_CAP = "10m"  # json-file max-size: the agent's stdout cannot fill the host disk


def missing_image_message(tag: str, agent: AgentConfig) -> str:
    if agent.image and not agent.dockerfile:  # nothing mleray could build
        return (
            f"prebuilt image {tag} for agent {agent.name} is not on this node: "
            f"docker pull {tag} (or docker load)"
        )
    return (
        f"image {tag} for agent {agent.name} is not built: run `mleray agents build {agent.name}`"
    )


class DockerSandbox:
    name = "docker"
    isolated = True

    def __init__(self, client=None, poll_seconds: float = 0.25, stats_seconds: float = 1.0):
        self._client = client
        self.poll_seconds = poll_seconds
        self.stats_seconds = stats_seconds
        self._gpu_runtime: bool | None = None

    @property
    def client(self):
        if self._client is None:
            import docker

            try:
                self._client = docker.from_env(timeout=120)
                self._client.ping()
            except Exception as exc:  # any failure to reach the engine
                self._client = None
                raise InfraError(f"no Docker engine answers ({type(exc).__name__}: {exc})") from exc
        return self._client

    def check_ready(self, agent: AgentConfig) -> str:
        """The agent's image tag, or SandboxUnavailableError when it cannot run at all."""
        import docker

        tag = image_tag(agent)
        try:
            self.client.images.get(tag)
        except InfraError as exc:
            raise SandboxUnavailableError(f"{exc}: run scripts/setup-docker.sh") from exc
        except docker.errors.ImageNotFound as exc:
            raise SandboxUnavailableError(missing_image_message(tag, agent)) from exc
        return tag

    def gpu_runtime(self) -> bool:
        """Whether GPUs can be attached: the engine has the NVIDIA runtime (or the
        operator says so with MLERAY_DOCKER_GPUS=1)."""
        if self._gpu_runtime is None:
            forced = os.environ.get("MLERAY_DOCKER_GPUS")
            if forced is not None:
                self._gpu_runtime = forced == "1"
            else:
                self._gpu_runtime = "nvidia" in (self.client.info().get("Runtimes") or {})
        return self._gpu_runtime

    def reap(self, sweep: str | None = None) -> int:
        labels = [f"{LABEL_MANAGED}=1"] + ([f"{LABEL_SWEEP}={sweep}"] if sweep else [])
        removed = 0
        for container in self.client.containers.list(all=True, filters={"label": labels}):
            if _remove(container):
                removed += 1
        return removed

    def run(self, request: RunRequest, cancel: threading.Event | None = None) -> SandboxResult:
        import docker
        import requests

        agent = load_agent(request.agent_dir)
        cancel = cancel or threading.Event()
        workdir = Path(request.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        if cancel.is_set():
            return _ContainerRun.empty_result(FailureKind.CANCELLED, "cancelled before start")
        tag = image_tag(agent)
        name, container = _container_name(request), None
        try:
            try:
                image = self.client.images.get(tag)
            except docker.errors.ImageNotFound as exc:
                raise InfraError(missing_image_message(tag, agent)) from exc
            container = self._create(request, agent, tag, name)
            container.put_archive("/", _runtime_archive(request, agent))
            return _ContainerRun(self, container, request, workdir, cancel, image.id).execute()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            detail = getattr(exc, "explanation", None) or str(exc)
            raise InfraError(
                redact(
                    f"docker error for trial {request.trial_id}: {detail}", dict(request.secrets)
                )
            ) from exc
        finally:
            # by name when `create` did not return (interrupted, timed out): the engine
            # may have made the container all the same
            _remove(container if container is not None else _NamedContainer(self._client, name))

    def _create(self, request: RunRequest, agent: AgentConfig, tag: str, name: str | None = None):
        from docker.types import DeviceRequest, LogConfig, Mount

        attach = bool(request.gpu_ids) and self.gpu_runtime()
        devices = (
            [
                DeviceRequest(
                    driver="nvidia", device_ids=list(request.gpu_ids), capabilities=[["gpu"]]
                )
            ]
            if attach
            else []
        )
        return self.client.containers.create(
            image=tag,
            command=agent.command_for(CONTAINER_AGENT_DIR),
            name=name or _container_name(request),
            labels={LABEL_MANAGED: "1", LABEL_SWEEP: request.sweep, LABEL_TRIAL: request.trial_id},
            environment=agent_environment(request, agent, CONTAINER_PATHS, devices_attached=attach),
            user=f"{AGENT_UID}:{AGENT_UID}",
            working_dir=CONTAINER_PATHS.home,
            mounts=[
                Mount(
                    target=CONTAINER_PATHS.data,
                    source=str(Path(request.public_dir).resolve()),
                    type="bind",
                    read_only=True,
                )
            ],
            network_mode=agent.network,
            nano_cpus=int(request.cpus * 1e9),
            mem_limit=request.memory_bytes,
            memswap_limit=request.memory_bytes,
            pids_limit=request.pids_limit,
            shm_size=request.shm_bytes,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            init=True,
            device_requests=devices,
            log_config=LogConfig(
                type="json-file", config={"max-size": OUTPUT_LOG_CAP, "max-file": "1"}
            ),
            detach=True,
        )


class _ContainerRun:
    """One started container: the poll loop, limits, usage sampling and collection."""

    def __init__(
        self,
        sandbox: DockerSandbox,
        container,
        request: RunRequest,
        workdir: Path,
        cancel,
        image_id,
    ):
        self.sandbox = sandbox
        self.container = container
        self.request = request
        self.workdir = workdir
        self.cancel = cancel
        self.image_id = image_id
        self.snapshots = SnapshotTaker(workdir, request.snapshot_interval)
        self.usage = UsageSampler(container, sandbox.stats_seconds)

    def execute(self) -> SandboxResult:
        self.container.start()
        started = time.monotonic()
        stop_reason = self._wait(started)
        wall = _state_wall_seconds(self.container.attrs["State"]) or time.monotonic() - started
        state = self.container.attrs["State"]
        exit_code = int(state.get("ExitCode", -1))
        note = self._collect()
        submission = self.workdir / "artifacts" / "submission" / "submission.csv"
        submission = submission if submission.is_file() else None
        self.snapshots.finish(wall, submission)
        kind, error = self._classify(stop_reason, exit_code, bool(state.get("OOMKilled")))
        if note and error:
            error = f"{error}; {note}"
        return self._result(kind, error, exit_code, wall, submission)

    def _wait(self, started: float) -> FailureKind | None:
        """Poll until the container exits; SIGTERM on timeout/cancel, SIGKILL after grace."""
        stop_reason, term_at = None, None
        while True:
            self.usage.sample()
            self.container.reload()
            if self.container.attrs["State"]["Status"] in ("exited", "dead"):
                return stop_reason
            now = time.monotonic()
            elapsed = now - started
            self.snapshots.offer(elapsed, self._write_submission)
            if stop_reason is None and (self.cancel.is_set() or elapsed > self.request.time_limit):
                stop_reason = FailureKind.CANCELLED if self.cancel.is_set() else FailureKind.TIMEOUT
                term_at = now
                self._signal("SIGTERM")
            elif term_at is not None and now - term_at > self.request.grace_period:
                self._signal("SIGKILL")
            time.sleep(self.sandbox.poll_seconds)

    def _signal(self, name: str) -> None:
        import docker

        try:
            self.container.kill(signal=name)
        except docker.errors.APIError:
            pass  # it exited in between: nothing to signal

    def _write_submission(self, target: Path, max_bytes: int) -> bool:
        import docker

        try:
            bits, _ = self.container.get_archive(f"{CONTAINER_PATHS.submission}/submission.csv")
        except docker.errors.NotFound:
            return False
        return artifacts.extract_single_file(bits, target, min(max_bytes, artifacts.SUBMISSION_CAP))

    def _collect(self) -> str:
        """Copy the agent's trees and output into workdir/artifacts; a note on skipped files."""
        return artifacts.collect_artifacts(
            self.workdir / "artifacts",
            self._collect_tree,
            self.container.logs(stdout=True, stderr=True),
            dict(self.request.secrets),
        )

    def _collect_tree(self, name: str, dest: Path, cap: int) -> artifacts.Collected:
        import docker

        try:
            bits, _ = self.container.get_archive(f"/home/{name}")
        except docker.errors.NotFound:  # the agent removed the folder
            dest.mkdir(parents=True)
            return artifacts.Collected()
        return artifacts.extract_archive(bits, dest, cap)

    def _classify(
        self, stop_reason, exit_code: int, oom_killed: bool
    ) -> tuple[FailureKind, str | None]:
        if stop_reason is FailureKind.CANCELLED:
            return stop_reason, "cancelled"
        if stop_reason is FailureKind.TIMEOUT:
            return stop_reason, f"time limit of {self.request.time_limit:g}s exceeded"
        if oom_killed and exit_code != 0:
            return FailureKind.OOM, f"out of memory (limit {self.request.memory_bytes} bytes)"
        if exit_code != 0:
            return FailureKind.AGENT_ERROR, f"agent exited with code {exit_code}"
        return FailureKind.COMPLETED, None

    def _result(
        self, kind: FailureKind, error, exit_code, wall: float, submission
    ) -> SandboxResult:
        art = self.workdir / "artifacts"
        return SandboxResult(
            status=kind.value,
            error=redact(error, dict(self.request.secrets)) if error else None,
            exit_code=exit_code,
            wall_seconds=wall,
            cpu_seconds=self.usage.cpu_seconds,
            peak_memory_bytes=self.usage.peak_memory_bytes,
            submission_path=submission,
            logs_dir=art / "logs",
            code_dir=art / "code",
            snapshots=self.snapshots.taken,
            sandbox="docker",
            image_id=self.image_id,
            isolated=True,
        )

    @staticmethod
    def empty_result(kind: FailureKind, error: str) -> SandboxResult:
        return SandboxResult(
            status=kind.value,
            error=error,
            exit_code=None,
            wall_seconds=0.0,
            cpu_seconds=None,
            peak_memory_bytes=None,
            submission_path=None,
            logs_dir=None,
            code_dir=None,
            sandbox="docker",
            isolated=True,
        )


def _runtime_archive(request: RunRequest, agent: AgentConfig) -> bytes:
    """The files every run adds to the container: the agent's home layout (owned by the
    agent user, in case the image lacks it), instructions.md and validate-submission."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for folder in ("home/submission", "home/logs", "home/code", "home/agent"):
            _add(archive, folder, None, 0o755, AGENT_UID)
        for folder in ("opt/mleray", "opt/mleray/bin"):
            _add(archive, folder, None, 0o755, 0)
        _add(
            archive,
            "home/instructions.md",
            instructions_text(request, agent, CONTAINER_PATHS).encode(),
            0o644,
            0,
        )
        _add(archive, "opt/mleray/bin/validate-submission", VALIDATE_WRAPPER.read_bytes(), 0o755, 0)
        if VALIDATOR.is_file():
            _add(archive, "opt/mleray/validate.py", VALIDATOR.read_bytes(), 0o644, 0)
    return buffer.getvalue()


def _add(archive: tarfile.TarFile, name: str, data: bytes | None, mode: int, owner: int) -> None:
    info = tarfile.TarInfo(name)
    info.mode, info.uid, info.gid, info.mtime = mode, owner, owner, int(time.time())
    if data is None:
        info.type = tarfile.DIRTYPE
        archive.addfile(info)
    else:
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))


def _container_name(request: RunRequest) -> str:
    def safe(text: str, size: int) -> str:
        return "".join(c if c.isalnum() or c in "_.-" else "-" for c in text)[:size]

    return f"mleray-{safe(request.sweep, 24)}-{safe(request.trial_id, 24)}-{uuid.uuid4().hex[:6]}"


def _state_wall_seconds(state: dict) -> float | None:
    """Agent wall time from the engine's own start/finish stamps (nanosecond RFC 3339)."""
    try:
        start, end = (
            datetime.fromisoformat(state[k][:26].rstrip("Z") + "+00:00")
            for k in ("StartedAt", "FinishedAt")
        )
    except (KeyError, ValueError, TypeError):
        return None
    seconds = (end - start).total_seconds()
    return seconds if seconds >= 0 else None


class _NamedContainer:
    """A container known only by name, for removal (`create` may not have returned)."""

    def __init__(self, client, name: str):
        self.client, self.name = client, name

    def remove(self, **options) -> None:
        if self.client is not None:
            self.client.api.remove_container(self.name, **options)


def _remove(container) -> bool:
    """Remove a container; never raises for the engine's sake: a result in hand must not
    be lost to a failed clean-up, and the reaper removes what is left by label."""
    import docker
    import requests

    try:
        container.remove(force=True, v=True)
        return True
    except docker.errors.NotFound:
        return False
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return False  # removal already in progress, or the engine is gone
