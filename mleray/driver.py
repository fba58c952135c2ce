"""The sweep driver: plan, check, then run every pending trial on Ray and store the results.

One event loop over `ray.wait`: it admits attempts up to about the cluster's capacity
(Ray's resource accounting decides where each actor goes; queuing thousands of actors
would only make Ray's scheduler and our bookkeeping slower), sends each finished attempt
to a grading task on the node holding the answers, and writes one atomic Parquet file per
final attempt as each grade arrives. Only `infra_error` is retried, as a new attempt in a
new actor. Ctrl-C or SIGTERM cancels: running sandboxes are told to stop, actors are
killed, the sweep's containers are reaped on every node, finished results stay, and
`KeyboardInterrupt` propagates (the CLI exits 130). A rerun skips trials already final.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from mleray.actors.options import ANSWERS_RESOURCE
from mleray.errors import FailureKind, MlerayError, NotPreparedError
from mleray.ledger import record_capacity
from mleray.plan import Trial, pending_trials, plan_trials
from mleray.progress import SweepProgress
from mleray.results import (
    ResultWriter,
    attempts_so_far,
    build_snapshot_row,
    build_trial_row,
    exclusive,
)
from mleray.spec import SweepSpec

ADMISSION_MARGIN = 2  # attempts queued beyond what fits at once, so no slot idles
CANCEL_GRACE_S = 20.0  # how long cancelled sandboxes get to stop and clean up
RESIZE_EVERY_S = 5.0  # how often the admission limit follows nodes joining or leaving
NODE_LOCAL_ENV = ("MLERAY_DATA_DIR", "MLERAY_SCRATCH_DIR")


@dataclass(frozen=True)
class SweepSummary:
    sweep: str
    results_dir: Path
    trial_ids: tuple[str, ...]  # every planned trial, in plan order
    skipped: int  # already final before this run
    attempts: int  # attempts started by this run
    retries: int  # of which retries after infra_error
    counts: Mapping[str, int] = field(default_factory=dict)  # final statuses written now
    wall_seconds: float = 0.0
    cancelled: bool = False


def preflight(spec: SweepSpec, trials: list[Trial], check_data: bool = True) -> None:
    """Everything that would make every trial fail, checked on the driver before Ray
    starts: data prepared, agents and their secrets, the sandbox able to run each agent."""
    from mleray.agents import get_agent, resolve_secrets
    from mleray.data import ensure_prepared
    from mleray.registry import get_competition
    from mleray.sandbox import get_sandbox

    if check_data:  # the driver's node holds the answers: it must be able to grade
        for cid in sorted({t.competition_id for t in trials}):
            competition = ensure_prepared(
                get_competition(cid, extra_paths=list(spec.competitions_path) or None)
            )
            if not competition.leaderboard_path.is_file():
                raise NotPreparedError(
                    f"competition {cid} has no leaderboard at {competition.leaderboard_path}"
                )
    sandbox = get_sandbox(spec.sandbox)
    check_ready = getattr(sandbox, "check_ready", None)
    for name in sorted({t.agent for t in trials}):
        agent = get_agent(name)
        resolve_secrets(agent, os.environ)
        if check_ready is not None:
            check_ready(agent)


def worker_env(address: str) -> dict[str, str]:
    """Environment the workers need: every MLERAY_* setting of the driver (never secrets:
    those are read from each node's own environment), and for the embedded Ray the data
    dir the driver resolved, so workers read the same cache."""
    env = {k: v for k, v in os.environ.items() if k.startswith("MLERAY_")}
    if address != "local":  # where data and scratch live is each cluster node's own business
        return {k: v for k, v in env.items() if k not in NODE_LOCAL_ENV}
    from mleray.registry import data_root

    env.setdefault("MLERAY_DATA_DIR", str(data_root()))
    return env


def connect(address: str, num_gpus: float | None, num_cpus: float | None) -> bool:
    """Start or join Ray; True when this call started it (and must shut it down). A Ray
    already initialised in this process (a notebook, a test) is used as it is."""
    import logging

    import ray

    if ray.is_initialized():
        return False
    if address != "local" and num_gpus is not None:
        raise MlerayError(
            "--num-gpus declares GPUs to an embedded Ray only; a cluster's "
            "nodes declare their own (drop --num-gpus with --address)"
        )
    kwargs = dict(
        runtime_env={"env_vars": worker_env(address)},
        log_to_driver=False,
        logging_level=logging.WARNING,
        configure_logging=True,
    )
    if address == "local":
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(
            address="local",
            num_gpus=num_gpus,
            num_cpus=num_cpus,
            resources={ANSWERS_RESOURCE: 1.0},
            include_dashboard=False,
            **kwargs,
        )
        return True
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise MlerayError(
            f"cannot join the Ray cluster at {address!r}: {str(exc).splitlines()[0]}"
        ) from None
    return False


def admission_limit(trial: Trial, totals: Mapping[str, float], local: bool) -> int:
    """How many attempts fit in the cluster at once (by CPUs, GPUs and memory), plus a
    margin. On the embedded Ray a trial that can never fit is an error, not a hang."""
    needs = {"CPU": trial.cpus, "GPU": trial.gpus, "memory": trial.memory_bytes}
    fits = min(
        int(totals.get(name, 0.0) / amount + 1e-9) for name, amount in needs.items() if amount > 0
    )
    if fits == 0:
        have = ", ".join(
            f"{name} {_amount(name, totals.get(name, 0.0))}"
            for name, amount in needs.items()
            if amount > 0
        )
        message = (
            f"a trial needs GPU {trial.gpus:g}, CPU {trial.cpus:g}, memory "
            f"{_amount('memory', trial.memory_bytes)} but Ray has {have}"
        )
        if local:
            raise MlerayError(message + " (declare GPUs with --num-gpus, or lower `resources`)")
        fits = 1  # an autoscaling cluster may grow to fit it
    return fits + ADMISSION_MARGIN


def _amount(resource: str, value: float) -> str:
    return f"{value / 1024**3:.1f} GiB" if resource == "memory" else f"{value:g}"


def run_sweep(
    spec: SweepSpec,
    *,
    address: str = "local",
    num_gpus: float | None = None,
    num_cpus: float | None = None,
    results_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> SweepSummary:
    """Run every trial of `spec` not already final in the results folder."""
    started = time.monotonic()
    results = Path(results_dir) if results_dir is not None else spec.results_dir
    trials = plan_trials(spec, results)
    todo = pending_trials(trials, results)
    summary = SweepSummary(
        sweep=spec.name,
        results_dir=results,
        trial_ids=tuple(t.trial_id for t in trials),
        skipped=len(trials) - len(todo),
        attempts=0,
        retries=0,
    )
    preflight(spec, todo, check_data=address == "local")
    if not todo:
        return summary
    with exclusive(results):
        todo = pending_trials(trials, results)  # again, now that no other driver can write
        summary = replace(summary, skipped=len(trials) - len(todo))
        if not todo:
            return summary
        started_here = connect(address, num_gpus, num_cpus)
        try:
            return _run_connected(spec, todo, results, address, summary, started, progress)
        finally:
            if started_here:
                import ray

                ray.shutdown()


def _run_connected(
    spec: SweepSpec,
    todo: list[Trial],
    results: Path,
    address: str,
    summary: SweepSummary,
    started: float,
    progress: bool,
) -> SweepSummary:
    import ray

    totals = ray.cluster_resources()
    if totals.get(ANSWERS_RESOURCE, 0) <= 0:
        raise MlerayError(
            f"no Ray node declares the resource {ANSWERS_RESOURCE!r}: start the node "
            f"holding the answers with --resources='{{\"{ANSWERS_RESOURCE}\": 1}}'"
        )
    limit = admission_limit(todo[0], totals, local=address == "local")
    writer = ResultWriter(results)
    writer.retire_superseded()  # rows a killed driver left behind (one row per trial)
    writer.write_spec(spec.to_dict())
    record_capacity(writer.root, totals.get("GPU", 0.0), totals.get("CPU", 0.0), address)
    _reap(spec.sandbox, todo[0].results_key, address)  # orphans of an earlier, killed run
    prior = attempts_so_far(writer.root)
    # nodes join (autoscaling, workers still booting) and leave: the limit follows them,
    # or a sweep started on a small cluster would never use the nodes it grows
    loop = SweepLoop(
        spec,
        writer,
        limit,
        [(t, prior.get(t.trial_id, 0) + 1) for t in todo],
        resize=lambda: admission_limit(todo[0], ray.cluster_resources(), local=False),
    )
    with _signals_handled(_raise_interrupt):  # SIGTERM cancels like Ctrl-C
        try:
            loop.run(progress)
        except BaseException:
            # Ctrl-C, or a fault of the driver itself (a full disk): nothing may go on
            # running, least of all containers holding GPUs; a second Ctrl-C must not cut
            # the clean-up short
            with _signals_handled(signal.SIG_IGN, (signal.SIGINT, signal.SIGTERM)):
                try:
                    loop.cancel_all()
                finally:
                    _reap(spec.sandbox, todo[0].results_key, address)
            raise
    return replace(
        summary,
        attempts=loop.attempts,
        retries=loop.retries,
        counts=dict(loop.counts),
        wall_seconds=time.monotonic() - started,
    )


def _reap(sandbox: str, results_key: str, address: str) -> int:
    """Remove the containers of this results folder's trials (labelled with its key, not
    the bare sweep name, so a same-named sweep elsewhere keeps its own): here for the
    embedded Ray (no worker to start), on every node of a cluster."""
    if address == "local":
        from mleray.sandbox import get_sandbox

        return get_sandbox(sandbox).reap(results_key)
    from mleray.actors.reaper import reap_everywhere

    return reap_everywhere(sandbox, results_key)


@contextlib.contextmanager
def _signals_handled(handler, signals=(signal.SIGTERM,)):
    """Install `handler` for `signals` inside the block (main thread only: elsewhere
    Python cannot set handlers, and the block runs with the defaults)."""
    old = {}
    for sig in signals:
        try:
            old[sig] = signal.signal(sig, handler)
        except ValueError:
            pass
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


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
            try:
                self.placed = ray.get(
                    self.placed_ref
                )  # small: kept by the driver, even if the node dies
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
        self.first_attempt = {t.trial_id: a for t, a in queue}
        self.running: dict = {}  # ObjectRef of run() -> _InFlight
        self.grading: dict = {}  # ObjectRef of grade_attempt -> (Trial, TrialOutcome)
        self.counts: dict[str, int] = {}
        self.attempts = self.retries = 0
        self.gpu_seconds = 0.0

    def run(self, progress: bool) -> None:
        import ray

        display = SweepProgress(self) if progress else None
        resized_at = time.monotonic()
        try:
            while self.queue or self.running or self.grading:
                if self.resize and time.monotonic() - resized_at > RESIZE_EVERY_S:
                    self.limit, resized_at = self.resize(), time.monotonic()
                self._admit()
                ready, _ = ray.wait(
                    list(self.running) + list(self.grading), num_returns=1, timeout=0.5
                )
                for ref in ready:
                    if ref in self.running:
                        self._on_run_done(ref)
                    else:
                        self._on_graded(ref)
                if display:
                    display.refresh()
        finally:
            if display:
                display.close()

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
        tries_left = (
            self.first_attempt[job.trial.trial_id] + self.spec.max_attempts - 1 - job.attempt
        )
        if outcome.status == FailureKind.CANCELLED.value or (outcome.retryable and tries_left > 0):
            self.writer.write_trial(build_trial_row(job.trial, outcome, None), final=False)
            if outcome.retryable:
                self.retries += 1
                self.queue.append((job.trial, job.attempt + 1))
            return
        grade_ref = grade_attempt.remote(job.trial, outcome.submission, outcome.snapshots)
        self.grading[grade_ref] = (job.trial, outcome)

    def _on_graded(self, ref) -> None:
        import ray

        trial, outcome = self.grading.pop(ref)
        try:
            report, snapshot_reports = ray.get(ref)
            grade_error = None
        except ray.exceptions.RayError as exc:
            report, snapshot_reports = None, []
            grade_error = f"grading failed: {_first_line(exc)}"
        # kept, so a failed or outdated grade can be redone without rerunning the agent
        if outcome.submission is not None:
            self.writer.write_submission(trial.trial_id, outcome.attempt, outcome.submission)
        if outcome.artifacts:
            self.writer.write_artifacts(trial.trial_id, outcome.attempt, outcome.artifacts)
        # snapshots before the trial row: a final row implies its snapshots are stored
        self.writer.write_snapshots(
            [
                build_snapshot_row(trial, outcome.attempt, elapsed, snap)
                for elapsed, snap in snapshot_reports
            ]
        )
        row = build_trial_row(trial, outcome, report)
        if grade_error:
            row["grade_error"] = grade_error
        self.writer.write_trial(row, final=True)
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1

    def cancel_all(self) -> None:
        """Stop every sandbox, grade and record what finished, kill every actor."""
        import ray

        for job in self.running.values():
            job.actor.cancel.remote()
        deadline = time.monotonic() + CANCEL_GRACE_S
        try:
            while (self.running or self.grading) and time.monotonic() < deadline:
                ready, _ = ray.wait(
                    list(self.running) + list(self.grading), num_returns=1, timeout=0.5
                )
                for ref in ready:
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


def _outcome_of(ref, job: _InFlight):
    """The attempt's TrialOutcome; a lost actor or node, or an actor that raised (a bug),
    becomes an infra_error outcome so the sweep goes on."""
    import ray

    from mleray.actors.outcome import lost_outcome

    try:
        return ray.get(ref)
    except ray.exceptions.RayActorError as exc:
        why = f"actor or node lost: {_first_line(exc)}"
    except ray.exceptions.RayError as exc:
        why = f"actor raised: {_first_line(exc)}"
    # it held its share from placement on; never placed, it held nothing (wall 0)
    started = job.placed_at() or datetime.now(UTC)
    return lost_outcome(job.trial.trial_id, job.attempt, started, why)
