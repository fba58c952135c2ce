"""The scheduling loop: admit attempts, wait on Ray, grade, record, retry, cancel.

One event loop over `ray.wait`. It keeps what the cluster holds admitted (see
`connect.Admission`), a few at a time while their actors start, sends each attempt that
ended to the sweep's grading actor on the node holding the answers (warm for the whole
sweep: see `mleray.actors.grading_task`), and has the store write one atomic Parquet file
per final attempt as each grade arrives. Each pass handles every reference that is ready,
not one per wait. Only a retryable failure kind (`infra_error`) runs again, as a new
attempt in a new actor.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from mleray.actors.outcome import TrialOutcome
from mleray.driver.connect import Admission
from mleray.driver.progress import SweepProgress
from mleray.driver.status import RunningAttempt, SweepStatus
from mleray.errors import FailureKind
from mleray.grading.report import AttemptGrades
from mleray.plan import Trial
from mleray.results import ResultWriter
from mleray.spec import SweepSpec

CANCEL_GRACE_S = 20.0  # how long cancelled sandboxes get to stop and clean up
GRADE_GRACE_S = 60.0  # then how long the grades of attempts that ended may take
RESIZE_EVERY_S = 5.0  # how often admission follows nodes joining or leaving
WAIT_S = 0.5  # longest wait for a reference before the loop looks around again


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
        admission: Admission | int,
        queue: list[tuple[Trial, int]],
        resize: Callable[[], Mapping[str, float]] | None = None,
    ):
        """`admission`: by resources, or a plain cap on the attempts in flight; `resize`
        gives the cluster's resources as they are now (nodes join and leave)."""
        self.spec, self.writer, self.resize = spec, writer, resize
        self.admission = (
            admission if isinstance(admission, Admission) else Admission(None, limit=admission)
        )
        self.grader = None  # the sweep's grading actor, started with the first grade
        self.queue = deque(admission_order(queue))
        self.total = len(self.queue)
        self.first_attempt = {t.trial_id: a for t, a in queue}
        self.running: dict = {}  # ObjectRef of outcome() -> _InFlight
        self.starting: dict = {}  # ObjectRef of placed_at() -> _InFlight, not yet begun
        self.grading: dict = {}  # ObjectRef of Grader.grade -> (Trial, TrialOutcome)
        self.counts: dict[FailureKind, int] = {}
        self.attempts = self.retries = 0
        self.gpu_seconds = 0.0

    def run(self, progress: bool) -> None:
        display = SweepProgress(self.status()) if progress else None
        resized_at = time.monotonic()
        self._start_grader()  # warm while the first attempts start
        try:
            while self.queue or self.running or self.grading:
                # nodes join (autoscaling, workers still booting) and leave: admission
                # follows them, or a sweep started small would never use the nodes it grows
                if self.resize and time.monotonic() - resized_at > RESIZE_EVERY_S:
                    self.admission.resized(self.resize())
                    resized_at = time.monotonic()
                self._admit()
                self._handle(self._ready())
                if display:
                    display.refresh(self.status())
        finally:
            if display:
                display.close(self.status())
        self._stop_grader()  # not on the way out of a fault: `cancel_all` still grades

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
        """Every reference ready now; if none is, wait (briefly: the view refreshes and
        admission follows the cluster) for the first one."""
        import ray

        refs = list(self.running) + list(self.grading)
        if not refs:
            return []
        refs += self.starting  # an actor that began lets the next one start
        ready = ray.wait(refs, num_returns=len(refs), timeout=0)[0]
        return ready or ray.wait(refs, num_returns=1, timeout=WAIT_S)[0]

    def _admit(self) -> None:
        from mleray.actors.options import actor_options
        from mleray.actors.trial_actor import TrialActor

        starting_limit = self.admission.starting_limit
        while self.queue and self.admission.admits(self.queue[0][0]):
            if starting_limit is not None and len(self.starting) >= starting_limit:
                return  # staggered: a wave started together is slow to begin, all of it
            trial, attempt = self.queue.popleft()
            actor = TrialActor.options(**actor_options(trial)).remote(trial, attempt)
            placed_ref = actor.placed_at.remote()
            job = _InFlight(trial, attempt, actor, placed_ref)
            self.running[actor.outcome.remote()] = self.starting[placed_ref] = job
            self.admission.add(trial)
            self.attempts += 1

    def _start_grader(self) -> None:
        """The sweep's grading actor, asked to prepare every competition of the queue."""
        from mleray.actors.grading_task import Grader, competition_key

        if self.grader is None:
            self.grader = Grader.remote()
            keys = tuple(dict.fromkeys(competition_key(t) for t, _ in self.queue))
            self.grader.warm.remote(keys)

    def _stop_grader(self) -> None:
        import ray

        if self.grader is not None:
            ray.kill(self.grader, no_restart=True)
            self.grader = None

    def _on_run_done(self, ref, cancelling: bool = False) -> None:
        """Record or retry the attempt, or send it to grading. While cancelling, an
        attempt that ended on its own (completed, failed, timed out) is still graded: it
        may have held a GPU for a day."""
        import ray

        job = self.running.pop(ref)
        self.starting.pop(job.placed_ref, None)  # ended (or was lost) before it answered
        outcome = _outcome_of(ref, job)
        ray.kill(job.actor, no_restart=True)  # frees its resources now, not at GC
        self.admission.remove(job.trial)
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
        self._start_grader()
        grade_ref = self.grader.grade.remote(job.trial, outcome.submission, outcome.snapshots)
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
        """Stop every sandbox, grade and record what finished, kill every actor. Sandboxes
        get CANCEL_GRACE_S to stop; grades of attempts that ended get GRADE_GRACE_S more
        (a grading actor started only now must first import its graders)."""
        for job in self.running.values():
            job.actor.cancel.remote()
        stop_by = time.monotonic() + CANCEL_GRACE_S
        try:
            while self.running and time.monotonic() < stop_by:
                self._handle(self._ready(), cancelling=True)
            self._kill_running()  # those that did not stop in time
            grade_by = time.monotonic() + GRADE_GRACE_S
            while self.grading and time.monotonic() < grade_by:
                self._handle(self._ready())
        finally:  # even if recording failed (the fault that got us here, again)
            self._kill_running()
            self.queue.clear()
            self._stop_grader()

    def _kill_running(self) -> None:
        import ray

        for job in self.running.values():
            ray.kill(job.actor, no_restart=True)
            self.admission.remove(job.trial)
        self.running.clear()
        self.starting.clear()

    def _handle(self, ready: list, cancelling: bool = False) -> None:
        for ref in ready:
            if ref in self.running:
                self._on_run_done(ref, cancelling)
            elif ref in self.grading:
                self._on_graded(ref)
            elif ref in self.starting:
                self.starting.pop(ref).placed_at()  # begun: kept for the view and timeline


def admission_order(queue: list[tuple[Trial, int]]) -> list[tuple[Trial, int]]:
    """The order attempts are admitted in: longest time limit first, then biggest GPU share,
    CPUs and memory, plan order among equals; retries join at the back. Long trials started
    last set the makespan however well the rest packs, and big pieces placed first leave
    the small ones to fill what is left of each GPU (the other way round, half-used GPUs
    keep a whole-GPU trial waiting). benchmarks/packing.py measures this order against
    biggest share first."""
    return sorted(
        queue,
        key=lambda item: (
            -item[0].time_limit,
            -item[0].gpus,
            -item[0].cpus,
            -item[0].memory_bytes,
        ),
    )


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
