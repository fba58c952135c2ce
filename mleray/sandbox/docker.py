"""`DockerSandbox`: one container per trial attempt, through the Docker SDK.

The container's settings, files and labels are in `container`; the stop clock and the
classification are the shared `lifecycle`. This module runs one: create it, put the
runtime files in, start it, poll it (usage, snapshots, the clock), collect its artifacts,
remove it on every path.

Files move with `put_archive`/`get_archive` (docker cp), not writable bind mounts: a bind
mount would let the agent plant symlinks that the host follows and fill the host's disk
live; with an archive the agent's tree arrives as tar entries, from which only regular
files and folders within caps are written (see `artifacts`).

A missing agent image is built first, on this node (`images.ensure_agent_image`). Each
container gets a watchdog (`watchdog`) that removes it if this process dies; the disk
bound and kills from outside come from `engine_watch`.

Errors: an image that is missing and cannot be built, a daemon fault or restart, or the
container removed from outside raise `InfraError` (retryable); a kill from outside is an
`infra_error` result; `check_ready` raises `SandboxUnavailableError` up front so a sweep
fails fast before it starts.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime
from pathlib import Path

from mleray.agents import AgentConfig
from mleray.errors import InfraError, SandboxUnavailableError
from mleray.sandbox import artifacts
from mleray.sandbox.base import RunRequest, SandboxResult
from mleray.sandbox.container import (
    LABEL_MANAGED,
    LABEL_RESULTS_KEY,
    NamedContainer,
    container_name,
    create_container,
    remove_container,
    runtime_archive,
)
from mleray.sandbox.contract import CONTAINER_PATHS, redact, with_contract_services
from mleray.sandbox.engine_watch import DISK_CHECK_SECONDS, DiskWatch, outside_kill
from mleray.sandbox.images import (
    ImageBuildError,
    ImageMissingError,
    Progress,
    ensure_agent_image,
    stderr_progress,
)
from mleray.sandbox.lifecycle import Ending, StopClock, Usage, conclude, not_started, supervise
from mleray.sandbox.services import new_launch_key
from mleray.sandbox.snapshots import SnapshotTaker
from mleray.sandbox.usage import UsageSampler
from mleray.sandbox.watchdog import Watchdog


class DockerSandbox:
    name = "docker"
    isolated = True

    def __init__(
        self,
        client=None,
        poll_seconds: float = 0.25,
        stats_seconds: float = 1.0,
        disk_seconds: float = DISK_CHECK_SECONDS,
        build_missing: bool = True,
        progress: Progress | None = stderr_progress,
    ):
        self._client = client
        self.poll_seconds = poll_seconds
        self.stats_seconds = stats_seconds
        self.disk_seconds = disk_seconds  # how often the writable layer's size is checked
        self.build_missing = build_missing  # build an agent's missing image before running
        self.progress = progress  # where build output goes
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
        """The agent's image tag, built here first when it is missing (from the agent's
        folder, once per content hash); SandboxUnavailableError when it cannot run at all
        (no engine, a prebuilt image not on this node, a failed build)."""
        try:
            return ensure_agent_image(agent, self.client, self.build_missing, self.progress)
        except InfraError as exc:
            raise SandboxUnavailableError(f"{exc}: run scripts/setup-docker.sh") from exc
        except (ImageMissingError, ImageBuildError) as exc:
            raise SandboxUnavailableError(str(exc)) from exc

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

    def reap(self, results_key: str | None = None) -> int:
        labels = [f"{LABEL_MANAGED}=1"]
        if results_key:
            labels.append(f"{LABEL_RESULTS_KEY}={results_key}")
        removed = 0
        for container in self.client.containers.list(all=True, filters={"label": labels}):
            if remove_container(container):
                removed += 1
        return removed

    def run(self, request: RunRequest, cancel: threading.Event | None = None) -> SandboxResult:
        import docker
        import requests

        cancel = cancel or threading.Event()
        request = with_contract_services(request)  # MLE-bench's validation endpoint
        Path(request.workdir).mkdir(parents=True, exist_ok=True)
        if cancel.is_set():
            return not_started(self)
        name, container = container_name(request), None
        watchdog = _watchdog(name)  # removes the container if this process dies
        try:
            tag = self._image_here(request.agent)
            image = self.client.images.get(tag)
            container = self._create(request, tag, name)
            launch_key = new_launch_key()
            container.put_archive("/", runtime_archive(request, launch_key))
            run = _ContainerRun(self, container, request, cancel, image.id)
            return run.execute(launch_key)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            detail = getattr(exc, "explanation", None) or str(exc)
            message = f"docker error for trial {request.trial_id}: {detail}"
            raise InfraError(redact(message, dict(request.secrets))) from exc
        finally:
            # by name when `create` did not return (interrupted, timed out): the engine
            # may have made the container all the same
            gone = remove_container(
                container if container is not None else NamedContainer(self._client, name)
            )
            if gone:
                watchdog.release()
            else:
                watchdog.abandon()  # it keeps trying (the engine may be restarting)

    def _image_here(self, agent: AgentConfig) -> str:
        """The agent's tag, built on this node first when missing; InfraError otherwise."""
        try:
            return ensure_agent_image(agent, self.client, self.build_missing, self.progress)
        except (ImageMissingError, ImageBuildError) as exc:
            raise InfraError(str(exc)) from exc

    def _create(self, request: RunRequest, tag: str, name: str | None = None):
        gpus = bool(request.gpu_ids) and self.gpu_runtime()
        return create_container(self.client, request, tag, name or container_name(request), gpus)


class _ContainerRun:
    """One created container: start, poll (usage, snapshots, the clock), collect."""

    def __init__(self, sandbox: DockerSandbox, container, request: RunRequest, cancel, image_id):
        self.sandbox = sandbox
        self.container = container
        self.request = request
        self.workdir = Path(request.workdir)
        self.cancel = cancel
        self.image_id = image_id
        self.snapshots = SnapshotTaker(self.workdir, request.snapshot_interval)
        self.usage = UsageSampler(container, sandbox.stats_seconds)
        disk_bytes = request.limits().disk_bytes
        self.disk = DiskWatch(sandbox.client, container.id, disk_bytes, sandbox.disk_seconds)
        self.over_limit: str | None = None  # why mleray killed it, past a bound

    def execute(self, launch_key: str) -> SandboxResult:
        self.container.start()
        started, started_epoch = time.monotonic(), time.time()
        clock = StopClock(
            self.request,
            self.cancel,
            terminate=lambda: self._signal("SIGTERM"),
            kill=lambda: self._signal("SIGKILL"),
        )
        # `_exited` itself waits up to a poll period, returning the moment the agent exits
        stop_reason = supervise(clock, self._exited, 0.0, self._snapshot)
        state = self.container.attrs["State"]
        wall = _state_wall_seconds(state) or time.monotonic() - started
        code, oom = int(state.get("ExitCode", -1)), bool(state.get("OOMKilled"))
        outside = None
        if stop_reason is None and self.over_limit is None:  # mleray sent no signal
            outside = self._outside_kill(started_epoch)  # an agent may exit 0 on SIGTERM
        note = self._collect()
        ending = Ending(stop_reason, code, oom, over_limit=self.over_limit, outside_error=outside)
        usage = Usage(wall, self.usage.cpu_seconds, self.usage.peak_memory_bytes)
        return conclude(
            self.sandbox,
            self.request,
            ending,
            usage,
            self.snapshots,
            note,
            self.image_id,
            launch_key=launch_key,
        )

    def _exited(self) -> bool:
        """Whether the agent has exited, after waiting up to one poll period for it on the
        engine's `wait` (which answers at the exit itself, not at the next poll)."""
        import docker

        self.usage.sample()
        try:
            if _waited(self.container, self.sandbox.poll_seconds):
                self.container.reload()  # the exit code, OOMKilled and the engine's stamps
                if self.container.attrs["State"]["Status"] in ("exited", "dead"):
                    return True
        except docker.errors.NotFound as exc:
            raise InfraError(
                f"container {self.container.name} of trial {self.request.trial_id} was removed "
                "from outside mleray (docker rm?) while the agent ran"
            ) from exc
        if self.over_limit is None and self.disk.over():
            self.over_limit = self.disk.message()
            self._signal("SIGKILL")
        return False

    def _outside_kill(self, since: float) -> str | None:
        signal = outside_kill(self.sandbox.client, self.container.id, since)
        if signal is None:
            return None
        return (
            f"container killed from outside mleray (signal {signal}: docker kill, docker stop "
            "or the Docker engine shutting down)"
        )

    def _snapshot(self, elapsed: float) -> None:
        self.snapshots.offer(elapsed, self._write_submission)

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


def _waited(container, seconds: float) -> bool:
    """True once the container has stopped; False when `seconds` passed first (the SDK
    reports a read timeout as a ConnectionError; any other connection error propagates)."""
    import requests
    import urllib3

    try:
        container.wait(timeout=seconds)
    except requests.exceptions.ReadTimeout:
        return False
    except requests.exceptions.ConnectionError as exc:
        if exc.args and isinstance(exc.args[0], urllib3.exceptions.ReadTimeoutError):
            return False
        raise
    return True


def _watchdog(name: str) -> Watchdog:
    try:
        return Watchdog("docker", name)
    except OSError as exc:
        raise InfraError(f"cannot start the watchdog of container {name}: {exc}") from exc


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
