"""Processes a test started in a session of their own."""

from __future__ import annotations

import os
import signal
from pathlib import Path


def kill_session(pgid: int) -> None:
    """SIGKILL, one by one, the processes left in the session a test started (Ray's
    per-node agents outlive a driver killed with SIGKILL)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    os.kill(int(entry.name), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                continue


def kill_matching(*needles: str) -> int:
    """SIGKILL every process whose command line holds one of `needles` (a cluster's own
    temp folder or GCS address: never a broad name); returns how many."""
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if any(needle in command for needle in needles):
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
        except (OSError, ProcessLookupError):
            continue
    return killed


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
