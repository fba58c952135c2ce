"""`DockerSandbox`: one container per trial attempt, through the Docker SDK.

The container's settings, files and labels are in `container`; the stop clock and the
classification are the shared `lifecycle`. This module runs one: create it, put the
runtime files in, start it, poll it (usage, snapshots, the clock), collect its artifacts,
remove it on every path.

Files move with `put_archive`/`get_archive` (docker cp), not writable bind mounts: a bind
mount would let the agent plant symlinks that the host follows and fill the host's disk
live; with an archive the agent's tree arrives as tar entries, from which only regular
files and folders within caps are written (see `artifacts`).

Errors: a missing image or a daemon fault raises `InfraError` (retryable); `check_ready`
raises `SandboxUnavailableError` up front so a sweep fails fast before it starts.
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
    missing_image_message,
    remove_container,
    runtime_archive,
)
from mleray.sandbox.contract import CONTAINER_PATHS, redact, with_contract_services
from mleray.sandbox.images import image_tag
from mleray.sandbox.lifecycle import Ending, StopClock, Usage, conclude, not_started, supervise
from mleray.sandbox.snapshots import SnapshotTaker
from mleray.sandbox.usage import UsageSampler


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
        tag = image_tag(request.agent)
        name, container = container_name(request), None
        try:
            try:
                image = self.client.images.get(tag)
            except docker.errors.ImageNotFound as exc:
                raise InfraError(missing_image_message(tag, request.agent)) from exc
            container = self._create(request, tag, name)
            container.put_archive("/", runtime_archive(request))
            return _ContainerRun(self, container, request, cancel, image.id).execute()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            detail = getattr(exc, "explanation", None) or str(exc)
            message = f"docker error for trial {request.trial_id}: {detail}"
            raise InfraError(redact(message, dict(request.secrets))) from exc
        finally:
            # by name when `create` did not return (interrupted, timed out): the engine
            # may have made the container all the same
            remove_container(
                container if container is not None else NamedContainer(self._client, name)
            )

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

    def execute(self) -> SandboxResult:
        self.container.start()
        started = time.monotonic()
        clock = StopClock(
            self.request,
            self.cancel,
            terminate=lambda: self._signal("SIGTERM"),
            kill=lambda: self._signal("SIGKILL"),
        )
        stop_reason = supervise(clock, self._exited, self.sandbox.poll_seconds, self._snapshot)
        state = self.container.attrs["State"]
        wall = _state_wall_seconds(state) or time.monotonic() - started
        note = self._collect()
        ending = Ending(stop_reason, int(state.get("ExitCode", -1)), bool(state.get("OOMKilled")))
        usage = Usage(wall, self.usage.cpu_seconds, self.usage.peak_memory_bytes)
        return conclude(
            self.sandbox, self.request, ending, usage, self.snapshots, note, self.image_id
        )

    def _exited(self) -> bool:
        self.usage.sample()
        self.container.reload()
        return self.container.attrs["State"]["Status"] in ("exited", "dead")

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
