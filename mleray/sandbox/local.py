"""`LocalSandbox`: the agent as a subprocess in a scratch workspace. It isolates NOTHING
(no memory limit, no network cut, the agent runs as this user and could read anything
this user can), so it is for developing agents and fast tests; results say isolated=False.

Layout: a temporary folder with submission/, logs/, code/ and instructions.md, given to
the agent through the same MLERAY_* variables as in docker; MLERAY_DATA points at the
competition's public folder. The agent runs in the workspace's home/agent (as in docker,
where it is /home/agent), its folder given as MLERAY_AGENT_DIR, with the interpreter
that runs mleray first on PATH, in its own process group so a timeout can signal the
whole group (SIGTERM, grace, SIGKILL). CPU time and peak RSS come from os.wait4.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from mleray.agents import load_agent
from mleray.errors import FailureKind, InfraError
from mleray.sandbox import artifacts
from mleray.sandbox.base import RunRequest, SandboxResult
from mleray.sandbox.contract import (
    VALIDATE_WRAPPER,
    VALIDATOR,
    AgentPaths,
    agent_environment,
    instructions_text,
    redact,
)
from mleray.sandbox.snapshots import SnapshotTaker

POLL_SECONDS = 0.1


class LocalSandbox:
    name = "local"
    isolated = False

    def reap(self, sweep: str | None = None) -> int:
        return 0  # nothing outlives a run: the process group is killed on every path

    def run(self, request: RunRequest, cancel: threading.Event | None = None) -> SandboxResult:
        agent = load_agent(request.agent_dir)
        workdir = Path(request.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="mleray-local-"))
        try:
            paths = _workspace(scratch, request, agent)
            env = _environment(request, agent, paths)
            command = agent.command_for(agent.dir)
            return _LocalRun(request, paths, workdir, cancel).execute(
                command, env, Path(paths.home)
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _workspace(scratch: Path, request: RunRequest, agent) -> AgentPaths:
    home = scratch / "home"
    for name in ("submission", "logs", "code", "agent"):
        (home / name).mkdir(parents=True)
    paths = AgentPaths(
        data=str(Path(request.public_dir).resolve()),
        submission=str(home / "submission"),
        logs=str(home / "logs"),
        code=str(home / "code"),
        instructions=str(home / "instructions.md"),
        agent_dir=str(agent.dir),
        validator=str(VALIDATOR),
        home=str(home / "agent"),
    )
    Path(paths.instructions).write_text(instructions_text(request, agent, paths))
    return paths


def _environment(request: RunRequest, agent, paths: AgentPaths) -> dict[str, str]:
    env = agent_environment(request, agent, paths)
    search = [
        str(Path(sys.executable).parent),
        str(VALIDATE_WRAPPER.parent),
        os.environ.get("PATH", ""),
    ]
    env["PATH"] = os.pathsep.join(p for p in search if p)
    env["PYTHONDONTWRITEBYTECODE"] = (
        "1"  # the agent's folder is the user's source tree: leave it clean
    )
    return env


class _LocalRun:
    def __init__(self, request: RunRequest, paths: AgentPaths, workdir: Path, cancel):
        self.request = request
        self.paths = paths
        self.workdir = workdir
        self.cancel = cancel or threading.Event()
        self.snapshots = SnapshotTaker(workdir, request.snapshot_interval)

    def execute(self, command: list[str], env: dict[str, str], cwd: Path) -> SandboxResult:
        if self.cancel.is_set():
            return self._result(FailureKind.CANCELLED, "cancelled before start", None, 0.0, None)
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
            started = time.monotonic()
            try:
                status, usage, stop_reason = self._wait(proc.pid, started)
            finally:
                _kill_group(proc.pid, signal.SIGKILL)  # leftovers of the group, on every path
                proc.returncode = 0  # reaped by os.wait4 already; keep Popen from waiting
        wall = time.monotonic() - started
        return self._finish(status, usage, stop_reason, wall, output_path)

    def _wait(self, pid: int, started: float):
        """Poll until exit; SIGTERM the group on timeout/cancel and SIGKILL after grace."""
        stop_reason: FailureKind | None = None
        term_at: float | None = None
        while True:
            waited, status, usage = os.wait4(pid, os.WNOHANG)
            if waited == pid:
                return status, usage, stop_reason
            elapsed = time.monotonic() - started
            self.snapshots.offer(elapsed, self._write_submission)
            if stop_reason is None and (self.cancel.is_set() or elapsed > self.request.time_limit):
                stop_reason = FailureKind.CANCELLED if self.cancel.is_set() else FailureKind.TIMEOUT
                term_at = time.monotonic()
                _kill_group(pid, signal.SIGTERM)
            elif term_at is not None and time.monotonic() - term_at > self.request.grace_period:
                _kill_group(pid, signal.SIGKILL)
            time.sleep(POLL_SECONDS)

    def _write_submission(self, target: Path, max_bytes: int) -> bool:
        source = Path(self.paths.submission) / "submission.csv"
        return (
            artifacts.copy_file(source, target, min(max_bytes, artifacts.SUBMISSION_CAP))
            is not None
        )

    def _finish(
        self, status: int, usage, stop_reason, wall: float, output_path: Path
    ) -> SandboxResult:
        collected = _collect(
            Path(self.paths.submission).parent, output_path, self.workdir, self.request.secrets
        )
        submission = self.workdir / "artifacts" / "submission" / "submission.csv"
        submission = submission if submission.is_file() else None
        self.snapshots.finish(wall, submission)
        exit_code = os.waitstatus_to_exitcode(status)
        if stop_reason is not None:
            kind, error = (
                stop_reason,
                (
                    "cancelled"
                    if stop_reason is FailureKind.CANCELLED
                    else f"time limit of {self.request.time_limit:g}s exceeded"
                ),
            )
        elif exit_code != 0:
            kind = FailureKind.AGENT_ERROR
            error = (
                f"agent exited with code {exit_code}"
                if exit_code > 0
                else f"agent killed by signal {signal.Signals(-exit_code).name}"
            )
        else:
            kind, error = FailureKind.COMPLETED, None
        if collected and error:
            error = f"{error}; {collected}"
        cpu = usage.ru_utime + usage.ru_stime
        peak = usage.ru_maxrss * 1024  # Linux reports KiB
        return self._result(kind, error, exit_code, wall, submission, cpu, peak)

    def _result(
        self, kind, error, exit_code, wall, submission, cpu=None, peak=None
    ) -> SandboxResult:
        art = self.workdir / "artifacts"
        return SandboxResult(
            status=kind.value,
            error=redact(error, self.request.secrets) if error else None,
            exit_code=exit_code,
            wall_seconds=wall,
            cpu_seconds=cpu,
            peak_memory_bytes=peak,
            submission_path=submission,
            logs_dir=art / "logs" if (art / "logs").is_dir() else None,
            code_dir=art / "code" if (art / "code").is_dir() else None,
            snapshots=self.snapshots.taken,
            sandbox="local",
            image_id=None,
            isolated=False,
        )


def _collect(home: Path, output_path: Path, workdir: Path, secrets) -> str:
    """Copy the agent's trees into workdir/artifacts; returns a note on skipped files."""

    def copy(name: str, dest: Path, cap: int) -> artifacts.Collected:
        return artifacts.copy_tree(home / name, dest, cap)

    return artifacts.collect_artifacts(
        workdir / "artifacts", copy, _tail(output_path, 10 * 1024**2), dict(secrets)
    )


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
