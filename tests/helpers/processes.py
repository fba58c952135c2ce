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
