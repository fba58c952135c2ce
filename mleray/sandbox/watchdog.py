"""A container dies with the process that started it: one small watchdog per container (and
per agent process group of the `local` sandbox).

Ray kills a trial actor's process when the actor is killed, its node is lost or the driver
of its job dies (even with SIGKILL), but a Docker container is no process of the actor's:
without this it would keep its CPUs, memory and GPU share until someone reaps it.

`Watchdog(name)` starts, before the container is created, a detached process (double-forked
into its own session: Ray kills an exiting worker's direct children, and a process group
signal must not reach it either) that holds the read end of a pipe whose write end only
this process has. It blocks on that pipe, so it needs no polling and no PID (which can be
reused): a byte from `release()` (the run removed its container itself) ends it quietly;
end-of-file, which the kernel delivers as soon as this process is gone however it died,
makes it remove the container by name, retrying while the engine does not answer (a
restarting daemon) for up to `RETRY_SECONDS`. `abandon()` (the run could not remove it)
closes the pipe without the byte, so the watchdog keeps trying.

Run as a script (`python -I watchdog.py docker NAME`, or `process-group PGID`): its imports
are the standard library until it has to remove something, so each costs a few MB while it
waits. `-I` keeps this file's folder off `sys.path` (this package's `docker.py` would
shadow the SDK).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

RELEASE = b"r"
RETRY_SECONDS = float(os.environ.get("MLERAY_WATCHDOG_RETRY_SECONDS", "900"))
SCRIPT = Path(__file__).resolve()


class Watchdog:
    """The host side: start with the container's name, then `release()` or `abandon()`."""

    def __init__(self, kind: str, target: str):
        read_end, self._write_end = os.pipe()  # both non-inheritable (PEP 446) ...
        try:
            starter = subprocess.Popen(
                [sys.executable, "-I", str(SCRIPT), kind, target],
                stdin=read_end,  # ... but Popen hands this one to the watchdog as its stdin
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            starter.wait()  # exits once it has forked the watchdog itself
        except BaseException:
            os.close(self._write_end)
            raise
        finally:
            os.close(read_end)

    def release(self) -> None:
        """The target is cleaned up already: the watchdog exits without touching it."""
        self._close(RELEASE)

    def abandon(self) -> None:
        """Clean-up failed here: the watchdog removes the target, retrying."""
        self._close(b"")

    def _close(self, message: bytes) -> None:
        if self._write_end < 0:
            return
        try:
            if message:
                os.write(self._write_end, message)
        except OSError:
            pass  # the watchdog is gone already
        finally:
            os.close(self._write_end)
            self._write_end = -1


def _remove_container(name: str) -> bool:
    """True once the container is gone; False while the engine cannot be reached."""
    import docker

    try:
        client = docker.from_env(timeout=60)
        client.api.remove_container(name, force=True, v=True)
        return True
    except docker.errors.NotFound:
        return True
    except docker.errors.APIError as exc:
        # 409: removal already in progress (the engine finishes it)
        return exc.response is not None and exc.response.status_code == 409
    except Exception:  # the engine is not answering (restarting): try again
        return False


def _kill_process_group(pgid: str) -> bool:
    """The local sandbox's agent: its whole process group."""
    try:
        os.killpg(int(pgid), signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # gone already
    return True


_CLEANERS = {"docker": _remove_container, "process-group": _kill_process_group}


def main(argv: list[str]) -> int:
    kind, target = argv
    cleaner = _CLEANERS[kind]
    if os.fork() > 0:  # the starter exits: the watchdog is nobody's child in Ray's tree
        os._exit(0)
    try:
        message = os.read(0, 1)
    except OSError:
        message = b""
    if message == RELEASE:
        return 0
    deadline = time.monotonic() + RETRY_SECONDS
    while not cleaner(target) and time.monotonic() < deadline:
        time.sleep(2.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
