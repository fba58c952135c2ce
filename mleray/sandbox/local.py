"""`LocalSandbox`: the agent as a subprocess in a scratch workspace. It isolates NOTHING
(no memory limit, no network cut, the agent runs as this user and could read anything
this user can), so it is for developing agents and fast tests; results say isolated=False.

Layout: a temporary folder with submission/, logs/, code/ and instructions.md, given to
the agent through the same MLERAY_* variables as in docker; MLERAY_DATA points at the
competition's public folder. The agent runs in the workspace's home/agent (as in docker,
where it is /home/agent), its folder given as MLERAY_AGENT_DIR, with the interpreter
that runs mleray first on PATH, in its own process group so the shared stop clock can
signal the whole group (SIGTERM, grace, SIGKILL). CPU time and peak RSS come from os.wait4.

Services run from the workspace's services/<name> folders, on this machine's loopback (so
two local runs of services on one fixed port collide: local isolates nothing); host socket
folders are given by their host path.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from mleray.agents import AgentConfig
from mleray.errors import InfraError, SandboxUnavailableError
from mleray.sandbox import artifacts
from mleray.sandbox.base import RunRequest, SandboxResult
from mleray.sandbox.contract import (
    VALIDATE_WRAPPER,
    VALIDATOR,
    AgentPaths,
    agent_command,
    agent_environment,
    instructions_text,
    with_contract_services,
)
from mleray.sandbox.lifecycle import Ending, StopClock, Usage, conclude, not_started, supervise
from mleray.sandbox.services import (
    LAUNCHER,
    launch_config,
    launched_command,
    new_launch_key,
    service_files,
)
from mleray.sandbox.snapshots import SnapshotTaker
from mleray.sandbox.watchdog import Watchdog

POLL_SECONDS = 0.1


class LocalSandbox:
    name = "local"
    isolated = False

    def check_ready(self, agent: AgentConfig) -> str:
        """The path of the agent's command, or SandboxUnavailableError when it is not found."""
        command = agent.command_for(agent.dir)[0]
        found = shutil.which(command, path=_search_path())
        if found is None:
            raise SandboxUnavailableError(
                f"agent {agent.name}: command {command!r} (field 'command' in "
                f"{agent.dir / 'config.yaml'}) is not found on this machine"
            )
        return found

    def reap(self, results_key: str | None = None) -> int:
        return 0  # nothing outlives a run: its process group is killed on every path, and
        # by its watchdog when the process running it dies

    def run(self, request: RunRequest, cancel: threading.Event | None = None) -> SandboxResult:
        cancel = cancel or threading.Event()
        request = with_contract_services(request)  # MLE-bench's validation endpoint
        Path(request.workdir).mkdir(parents=True, exist_ok=True)
        if cancel.is_set():
            return not_started(self)
        scratch = Path(tempfile.mkdtemp(prefix="mleray-local-"))
        launch_key = new_launch_key()
        try:
            paths = _workspace(scratch, request, launch_key)
            command = launched_command(
                request,
                agent_command(request, str(request.agent.dir)),
                [sys.executable, str(LAUNCHER)],
                str(scratch / "launch.json"),
            )
            return _LocalRun(self, request, paths, cancel, launch_key).execute(
                command, _environment(request, paths), Path(paths.home)
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _workspace(scratch: Path, request: RunRequest, launch_key: str) -> AgentPaths:
    home = scratch / "home"
    for name in ("submission", "logs", "code", "agent"):
        (home / name).mkdir(parents=True)
    paths = AgentPaths(
        data=str(Path(request.public_dir).resolve()),
        submission=str(home / "submission"),
        logs=str(home / "logs"),
        code=str(home / "code"),
        instructions=str(home / "instructions.md"),
        agent_dir=str(request.agent.dir),
        validator=str(VALIDATOR),
        home=str(home / "agent"),
    )
    Path(paths.instructions).write_text(instructions_text(request, paths))
    if request.services:
        _place_services(scratch, request, paths, launch_key)
    return paths


def _place_services(scratch: Path, request: RunRequest, paths: AgentPaths, key: str) -> None:
    root = scratch / "services"
    for service in request.services:
        (root / service.name).mkdir(parents=True)
    for relative, file in service_files(request):
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.data)
        target.chmod(file.mode)
    key_file = scratch / "launch-key"  # the launcher reads and removes it before starting
    key_file.touch(mode=0o600)
    key_file.write_text(key)
    config = launch_config(request, str(root), paths.logs, str(key_file))
    (scratch / "launch.json").write_text(config)


def _search_path() -> str:
    search = [
        str(Path(sys.executable).parent),
        str(VALIDATE_WRAPPER.parent),
        os.environ.get("PATH", ""),
    ]
    return os.pathsep.join(p for p in search if p)


def _environment(request: RunRequest, paths: AgentPaths) -> dict[str, str]:
    env = agent_environment(request, paths)
    env.update({sockets.env_var: str(sockets.host_dir) for sockets in request.host_sockets})
    env["PATH"] = _search_path()
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # the agent's folder is the user's source: keep it clean
    return env


class _LocalRun:
    def __init__(
        self, sandbox: LocalSandbox, request: RunRequest, paths: AgentPaths, cancel, launch_key
    ):
        self.sandbox = sandbox
        self.launch_key = launch_key
        self.request = request
        self.paths = paths
        self.workdir = Path(request.workdir)
        self.cancel = cancel
        self.snapshots = SnapshotTaker(self.workdir, request.snapshot_interval)
        self._waited: tuple[int, object] | None = None  # (wait status, rusage) once exited

    def execute(self, command: list[str], env: dict[str, str], cwd: Path) -> SandboxResult:
        output_path = Path(self.paths.logs).parent / "output.log"
        with open(output_path, "wb") as output:
            try:
                proc = subprocess.Popen(
                    command,
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise InfraError(
                    f"cannot start agent command {command[0]!r}: {exc.strerror}"
                ) from exc
            clock = StopClock(
                self.request,
                self.cancel,
                terminate=lambda: _kill_group(proc.pid, signal.SIGTERM),
                kill=lambda: _kill_group(proc.pid, signal.SIGKILL),
            )
            watch = None
            try:
                watch = Watchdog("process-group", str(proc.pid))  # if this process dies
                stop_reason = supervise(
                    clock, lambda: self._exited(proc.pid), POLL_SECONDS, self._snapshot
                )
            finally:
                _kill_group(proc.pid, signal.SIGKILL)  # leftovers of the group, on every path
                proc.returncode = 0  # reaped by os.wait4 already; keep Popen from waiting
                if watch is not None:
                    watch.release()
        wall = clock.elapsed()
        status, rusage = self._waited
        note = _collect(Path(self.paths.submission).parent, output_path, self.request)
        ending = Ending(stop_reason, os.waitstatus_to_exitcode(status))
        usage = Usage(
            wall,
            cpu_seconds=rusage.ru_utime + rusage.ru_stime,
            peak_memory_bytes=rusage.ru_maxrss * 1024,  # Linux reports KiB
        )
        return conclude(
            self.sandbox,
            self.request,
            ending,
            usage,
            self.snapshots,
            note,
            launch_key=self.launch_key if self.request.services else "",
        )

    def _exited(self, pid: int) -> bool:
        waited, status, rusage = os.wait4(pid, os.WNOHANG)
        if waited == pid:
            self._waited = (status, rusage)
        return waited == pid

    def _snapshot(self, elapsed: float) -> None:
        self.snapshots.offer(elapsed, self._write_submission)

    def _write_submission(self, target: Path, max_bytes: int) -> bool:
        source = Path(self.paths.submission) / "submission.csv"
        cap = min(max_bytes, artifacts.SUBMISSION_CAP)
        return artifacts.copy_file(source, target, cap) is not None


def _collect(home: Path, output_path: Path, request: RunRequest) -> str:
    """Copy the agent's trees into workdir/artifacts; returns a note on skipped files."""

    def copy(name: str, dest: Path, cap: int) -> artifacts.Collected:
        return artifacts.copy_tree(home / name, dest, cap)

    output = _tail(output_path, 10 * 1024**2)
    destination = Path(request.workdir) / "artifacts"
    return artifacts.collect_artifacts(destination, copy, output, dict(request.secrets))


def _tail(path: Path, limit: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - limit))
        return handle.read()


def _kill_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
