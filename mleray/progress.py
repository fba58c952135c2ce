"""The sweep's live terminal view, on stderr so `--json` output stays clean."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mleray.driver import SweepLoop


class SweepProgress:
    """A live terminal view on stderr: counts by status, attempts in flight, GPU-hours."""

    def __init__(self, loop: SweepLoop):
        from rich.console import Console
        from rich.live import Live

        self.loop = loop
        self.total = len(loop.queue)
        self.live = Live(
            self._render(), console=Console(stderr=True), refresh_per_second=2, transient=False
        )
        self.live.start()

    def refresh(self) -> None:
        self.live.update(self._render())

    def close(self) -> None:
        self.refresh()
        self.live.stop()

    def _render(self):
        from rich.table import Table

        loop, now = self.loop, datetime.now(UTC)
        done = sum(loop.counts.values())
        placed = {ref: job.placed_at() for ref, job in loop.running.items()}  # None: still queued
        in_flight = sum(
            job.trial.gpus * (now - placed[ref]).total_seconds()
            for ref, job in loop.running.items()
            if placed[ref] is not None
        )
        table = Table(
            title=f"sweep {loop.spec.name}: {done}/{self.total} trials done, "
            f"{len(loop.running)} in flight, {len(loop.grading)} grading, "
            f"{loop.retries} retries, GPU-hours {(loop.gpu_seconds + in_flight) / 3600:.3f}",
            title_justify="left",
        )
        for column in ("trial", "competition · agent · seed", "attempt", "for"):
            table.add_column(column)
        for ref, job in list(loop.running.items())[:8]:
            held = (
                "queued" if placed[ref] is None else f"{(now - placed[ref]).total_seconds():.0f}s"
            )
            table.add_row(job.trial.trial_id, job.trial.label(), str(job.attempt), held)
        if loop.counts:
            table.caption = "  ".join(f"{k}: {v}" for k, v in sorted(loop.counts.items()))
        return table
