"""Anytime snapshots: copies of a changed submission.csv taken while the agent runs.

A backend calls `offer` from its poll loop with a function that writes the agent's current
submission.csv to a given host path (returning False when there is none); a copy is kept
under `workdir/snapshots/<elapsed>.csv` only when its bytes differ from the last one kept,
and at most every `interval` seconds. `finish` takes a last one from the final submission.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

from mleray.sandbox.base import Snapshot

WriteSubmission = Callable[[Path], bool]


class SnapshotTaker:
    def __init__(self, workdir: Path, interval: float | None):
        self.directory = workdir / "snapshots"
        self.interval = interval
        self._last_try: float | None = None
        self._last_digest: str | None = None
        self._taken: list[Snapshot] = []

    @property
    def enabled(self) -> bool:
        return self.interval is not None and self.interval > 0

    @property
    def taken(self) -> tuple[Snapshot, ...]:
        return tuple(self._taken)

    def due(self, elapsed: float) -> bool:
        return self.enabled and (self._last_try is None or elapsed - self._last_try >= self.interval)

    def offer(self, elapsed: float, write: WriteSubmission) -> None:
        """Take a snapshot now if one is due and the submission changed."""
        if not self.due(elapsed):
            return
        self._last_try = elapsed
        self.directory.mkdir(parents=True, exist_ok=True)
        pending = self.directory / f".pending-{os.getpid()}.csv"
        pending.unlink(missing_ok=True)
        try:
            if write(pending):
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
        data = source.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest == self._last_digest:
            return
        self._last_digest = digest
        target = self.directory / f"{elapsed:010.3f}.csv"
        if copy:
            target.write_bytes(data)
        else:
            source.replace(target)
        self._taken.append(Snapshot(elapsed_seconds=round(elapsed, 3), path=target))
