"""The scheduling loop: admit attempts, wait on Ray, grade, record, retry, cancel.

One event loop over `ray.wait`. It keeps about what fits admitted (see `connect`), sends
each attempt that ended to a grading task on the node holding the answers, and has the
store write one atomic Parquet file per final attempt as each grade arrives. Only a
retryable failure kind (`infra_error`) runs again, as a new attempt in a new actor.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from mleray.actors.outcome import TrialOutcome
from mleray.driver.progress import SweepProgress
from mleray.driver.status import RunningAttempt, SweepStatus
from mleray.errors import FailureKind
from mleray.grading.report import AttemptGrades
from mleray.plan import Trial
from mleray.results import ResultWriter
from mleray.spec import SweepSpec

CANCEL_GRACE_S = 20.0  # how long cancelled sandboxes get to stop and clean up
RESIZE_EVERY_S = 5.0  # how often the admission limit follows nodes joining or leaving


@dataclass
class _InFlight:
    trial: Trial
    attempt: int
    actor: object
    placed_ref: object  # ObjectRef of actor.placed_at()
    placed: datetime | None = None

    def placed_at(self) -> datetime | None:
        """When Ray placed the actor, from then on holding its GPU share; None while it
        waits for resources (admission queues a few), which costs nothing."""
        import ray

        if self.placed is None and ray.wait([self.placed_ref], timeout=0)[0]:
            try:  # small: kept by the driver, even if the node dies
                self.placed = ray.get(self.placed_ref)
            except ray.exceptions.RayError:
                pass  # died before it answered
        return self.placed


class SweepLoop:
    """The event loop: admit, wait, grade, record, retry. Holds only bookkeeping."""

    def __init__(
        self,
        spec: SweepSpec,
        writer: ResultWriter,
        limit: int,
        queue: list[tuple[Trial, int]],
        resize: Callable[[], int] | None = None,
    ):
        self.spec, self.writer, self.limit, self.resize = spec, writer, limit, resize
        self.queue = deque(queue)
        self.total = len(self.queue)
        self.first_attempt = {t.trial_id: a for t, a in queue}
        self.running: dict = {}  # ObjectRef of run() -> _InFlight
        self.grading: dict = {}  # ObjectRef of grade_attempt -> (Trial, TrialOutcome)
        self.counts: dict[FailureKind, int] = {}
        self.attempts = self.retries = 0
        self.gpu_seconds = 0.0

    def run(self, progress: bool) -> None:
        display = SweepProgress(self.status()) if progress else None
        resized_at = time.monotonic()
        try:
            while self.queue or self.running or self.grading:
                # nodes join (autoscaling, workers still booting) and leave: the limit
                # follows them, or a sweep started small would never use the nodes it grows
                if self.resize and time.monotonic() - resized_at > RESIZE_EVERY_S:
                    self.limit, resized_at = self.resize(), time.monotonic()
                self._admit()
                for ref in self._ready():
                    if ref in self.running:
                        self._on_run_done(ref)
                    else:
                        self._on_graded(ref)
                if display:
                    display.refresh(self.status())
        finally:
            if display:
                display.close(self.status())

    def status(self) -> SweepStatus:
        """This tick's record for the view (asks Ray which actors have been placed)."""
        running = tuple(
            RunningAttempt(
                trial_id=job.trial.trial_id,
                label=job.trial.label(),
                attempt=job.attempt,
                gpus=job.trial.gpus,
                placed_at=job.placed_at(),
            )
            for job in self.running.values()
        )
        return SweepStatus(
            sweep=self.spec.name,
            total=self.total,
            counts=dict(self.counts),
            running=running,
            grading=len(self.grading),
            retries=self.retries,
            gpu_seconds=self.gpu_seconds,
        )

    def _ready(self) -> list:
        import ray

        refs = list(self.running) + list(self.grading)
        return ray.wait(refs, num_returns=1, timeout=0.5)[0]

    def _admit(self) -> None:
        from mleray.actors.options import actor_options
        from mleray.actors.trial_actor import TrialActor

        while self.queue and len(self.running) < self.limit:
            trial, attempt = self.queue.popleft()
            actor = TrialActor.options(**actor_options(trial)).remote()
            placed_ref = actor.placed_at.remote()
            self.running[actor.run.remote(trial, attempt)] = _InFlight(
                trial, attempt, actor, placed_ref
            )
            self.attempts += 1

    def _on_run_done(self, ref, cancelling: bool = False) -> None:
        """Record or retry the attempt, or send it to grading. While cancelling, an
        attempt that ended on its own (completed, failed, timed out) is still graded: it
        may have held a GPU for a day."""
        import ray

        from mleray.actors.grading_task import grade_attempt

        job = self.running.pop(ref)
        outcome = _outcome_of(ref, job)
        ray.kill(job.actor, no_restart=True)  # frees its resources now, not at GC
        self.gpu_seconds += job.trial.gpus * outcome.wall_seconds
        if cancelling and outcome.retryable:  # lost while stopping: nothing to retry now
            outcome = outcome.with_status(FailureKind.CANCELLED, "sweep cancelled")
        if outcome.status == FailureKind.CANCELLED or (
            outcome.retryable and self._tries_left(job) > 0
        ):
            self.writer.record_unfinished(job.trial, outcome)
            if outcome.retryable:
                self.retries += 1
                self.queue.append((job.trial, job.attempt + 1))
            return
        grade_ref = grade_attempt.remote(job.trial, outcome.submission, outcome.snapshots)
        self.grading[grade_ref] = (job.trial, outcome)

    def _tries_left(self, job: _InFlight) -> int:
        first = self.first_attempt[job.trial.trial_id]
        return first + self.spec.max_attempts - 1 - job.attempt

    def _on_graded(self, ref) -> None:
        import ray

        trial, outcome = self.grading.pop(ref)
        try:
            grades = ray.get(ref)
        except ray.exceptions.RayError as exc:
            grades = AttemptGrades(final=None, error=f"grading failed: {_first_line(exc)}")
        self.writer.record_final(trial, outcome, grades)
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1

    def cancel_all(self) -> None:
        """Stop every sandbox, grade and record what finished, kill every actor."""
        import ray

        for job in self.running.values():
            job.actor.cancel.remote()
        deadline = time.monotonic() + CANCEL_GRACE_S
        try:
            while (self.running or self.grading) and time.monotonic() < deadline:
                for ref in self._ready():
                    if ref in self.grading:
                        self._on_graded(ref)
                    else:
                        self._on_run_done(ref, cancelling=True)
        finally:  # even if recording failed (the fault that got us here, again)
            for job in self.running.values():
                ray.kill(job.actor, no_restart=True)
            self.running.clear()
            self.queue.clear()


def _first_line(exc: BaseException) -> str:
    """`Kind: message` of the original exception (a RayTaskError wraps it as `cause`)."""
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}"


def _outcome_of(ref, job: _InFlight) -> TrialOutcome:
    """The attempt's TrialOutcome; a lost actor or node, or an actor that raised (a bug),
    becomes an infra_error outcome so the sweep goes on."""
    import ray

    try:
        return ray.get(ref)
    except ray.exceptions.RayActorError as exc:
        why = f"actor or node lost: {_first_line(exc)}"
    except ray.exceptions.RayError as exc:
        why = f"actor raised: {_first_line(exc)}"
    # it held its share from placement on; never placed, it held nothing (wall 0)
    started = job.placed_at() or datetime.now(UTC)
    return TrialOutcome.infra_error(job.trial.trial_id, job.attempt, started, why)
