"""The sweep's live terminal view, on stderr so `--json` output stays clean. It shows
the `SweepStatus` the loop hands it each tick and asks nothing of the loop or of Ray."""

from __future__ import annotations

from datetime import UTC, datetime

from mleray.driver.status import SweepStatus
from mleray.errors import FailureKind

SHOWN_RUNNING = 8  # rows of attempts in flight; the title counts them all


class SweepProgress:
    """A live terminal view on stderr: counts by status, attempts in flight, GPU-hours."""

    def __init__(self, status: SweepStatus):
        from rich.console import Console
        from rich.live import Live

        self.live = Live(
            _render(status), console=Console(stderr=True), refresh_per_second=2, transient=False
        )
        self.live.start()

    def refresh(self, status: SweepStatus) -> None:
        self.live.update(_render(status))

    def close(self, status: SweepStatus) -> None:
        self.refresh(status)
        self.live.stop()


def _render(status: SweepStatus):
    from rich.table import Table

    now = datetime.now(UTC)
    table = Table(
        title=f"sweep {status.sweep}: {status.done}/{status.total} trials done, "
        f"{len(status.running)} in flight, {status.grading} grading, "
        f"{status.retries} retries, GPU-hours {status.gpu_seconds_at(now) / 3600:.3f}",
        title_justify="left",
    )
    for column in ("trial", "competition · agent · seed", "attempt", "for"):
        table.add_column(column)
    for job in status.running[:SHOWN_RUNNING]:
        held = (
            "queued" if job.placed_at is None else f"{(now - job.placed_at).total_seconds():.0f}s"
        )
        table.add_row(job.trial_id, job.label, str(job.attempt), held)
    if status.counts:
        counts = sorted((FailureKind(k).value, n) for k, n in status.counts.items())
        table.caption = "  ".join(f"{name}: {n}" for name, n in counts)
    return table
