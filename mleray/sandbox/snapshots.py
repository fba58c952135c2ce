"""Anytime snapshots: copies of a changed submission.csv taken while the agent runs.

A backend calls `offer` from its poll loop with a function that writes the agent's current
submission.csv to a given host path (returning False when there is none); a copy is kept
under `workdir/snapshots/<elapsed>.csv` only when its bytes differ from the last one kept,
and at most every `interval` seconds. `finish` takes a last one from the final submission.

All snapshots of a run together stay within `budget_bytes` (default 2 GiB): each is
held on this node's disk and then in memory on its way to grading, and an agent that
rewrites a huge submission.csv every interval would otherwise fill both. A snapshot that
does not fit is not taken (the writer is told how many bytes are left), and later ones
still are while they fit.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from mleray.sandbox.base import Snapshot

WriteSubmission = Callable[[Path, int], bool]  # (target, max bytes) -> written
SNAPSHOT_BUDGET_BYTES = 2 * 1024**3


class SnapshotTaker:
    def __init__(
        self, workdir: Path, interval: float | None, budget_bytes: int = SNAPSHOT_BUDGET_BYTES
    ):
        self.directory = workdir / "snapshots"
        self.interval = interval
        self.budget_bytes = budget_bytes
        self._kept_bytes = 0
        self._last_try: float | None = None
        self._last_digest: str | None = None
        self._taken: list[Snapshot] = []

    @property
    def enabled(self) -> bool:
        return self.interval is not None and self.interval > 0

    @property
    def remaining_bytes(self) -> int:
        return max(0, self.budget_bytes - self._kept_bytes)

    @property
    def taken(self) -> tuple[Snapshot, ...]:
        return tuple(self._taken)

    def due(self, elapsed: float) -> bool:
        return self.enabled and (
            self._last_try is None or elapsed - self._last_try >= self.interval
        )

    def offer(self, elapsed: float, write: WriteSubmission) -> None:
        """Take a snapshot now if one is due and the submission changed."""
        if not self.due(elapsed):
            return
        self._last_try = elapsed
        self.directory.mkdir(parents=True, exist_ok=True)
        pending = self.directory / f".pending-{os.getpid()}.csv"
        pending.unlink(missing_ok=True)
        try:
            if write(pending, self.remaining_bytes):
                self._keep(elapsed, pending)
        finally:
            pending.unlink(missing_ok=True)

    def finish(self, elapsed: float, final_submission: Path | None) -> None:
        """The last snapshot: the final submission, if it differs from the last kept."""
        if not self.enabled or final_submission is None or not final_submission.is_file():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self._keep(elapsed, final_submission, copy=True)

    def _keep(self, elapsed: float, source: Path, copy: bool = False) -> None:
        if source.stat().st_size > self.remaining_bytes:
            return
        data = source.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest == self._last_digest:
            return
        self._last_digest = digest
        self._kept_bytes += len(data)
        target = self.directory / f"{elapsed:010.3f}.csv"
        if copy:
            target.write_bytes(data)
        else:
            source.replace(target)
        self._taken.append(Snapshot(elapsed_seconds=round(elapsed, 3), path=target))
