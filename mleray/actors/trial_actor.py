"""`TrialActor`: one Ray actor per trial attempt, owning one sandbox run.

    actor = TrialActor.options(**actor_options(trial)).remote(trial, attempt)
    outcome = ray.get(actor.outcome.remote())   # a TrialOutcome; then ray.kill(actor)

The actor runs on whatever node Ray placed it (its GPU share, CPUs and memory reserved),
reads the GPU ids Ray granted, runs the agent in the sandbox with the competition's
*public* folder only, and returns a `TrialOutcome` as data: submission and snapshot bytes
travel back to the driver, so the answers never need to be on this node. It raises only
for bugs: agent failures are statuses and daemon faults (`InfraError`) are `infra_error`.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
import threading
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path

import ray

from mleray.actors import worker_addons
from mleray.actors.outcome import Placement, TrialOutcome
from mleray.actors.trial_models import TrialModels
from mleray.errors import FailureKind, InfraError, MlerayError
from mleray.plan import Trial

ARTIFACTS_CAP_BYTES = 64 * 1024**2  # logs + code carried back per attempt, uncompressed


def scratch_root() -> Path:
    """Per-node scratch space for attempt workdirs (env MLERAY_SCRATCH_DIR overrides)."""
    return Path(
        os.environ.get("MLERAY_SCRATCH_DIR") or Path(tempfile.gettempdir()) / "mleray-scratch"
    )


@ray.remote(max_restarts=0)
class TrialActor:
    """`TrialActor.options(...).remote(trial, attempt)` begins the attempt as it is
    constructed; `outcome()` waits for it. Beginning in the constructor saves a round trip
    per attempt: a new actor's first method call reaches it only once Ray has told the
    caller that the actor is alive (about 0.2 s on a busy node, with the resources held)."""

    def __init__(self, trial: Trial, attempt: int) -> None:
        # Naming the module here is what makes the worker import it as it loads this class,
        # before `trial` is deserialized: see `worker_addons`.
        self.serialization_addons_skipped = worker_addons.SKIPPED
        self._cancel = threading.Event()
        self._placed_at = datetime.now(UTC)
        self._outcome: Future[TrialOutcome] = Future()
        thread = threading.Thread(
            target=self._attempt, args=(trial, attempt), name="trial-attempt", daemon=True
        )
        thread.start()

    def placed_at(self) -> datetime:
        """When Ray placed this actor: its resources are held from then on (the driver
        charges a lost attempt's GPU time from here, not from when it was queued)."""
        return self._placed_at

    def cancel(self) -> None:
        """Ask the running sandbox to stop; it cleans up and `outcome()` is `cancelled`."""
        self._cancel.set()

    def outcome(self) -> TrialOutcome:
        """The attempt's outcome, once its sandbox has ended (raises only for bugs)."""
        return self._outcome.result()

    def _attempt(self, trial: Trial, attempt: int) -> None:
        try:
            self._outcome.set_result(run_attempt(trial, attempt, self._cancel))
        except BaseException as exc:  # a bug: `outcome()` raises it to the driver
            self._outcome.set_exception(exc)


def run_attempt(trial: Trial, attempt: int, cancel: threading.Event) -> TrialOutcome:
    """One attempt in this process (a Ray worker that holds its resources): the sandbox run
    as a `TrialOutcome`, daemon and node faults as `infra_error`."""
    ctx = ray.get_runtime_context()
    placement = Placement(
        node_id=ctx.get_node_id(),
        node_ip=ray.util.get_node_ip_address(),
        gpu_ids=tuple(str(g) for g in ctx.get_accelerator_ids().get("GPU", [])),
    )
    workdir = scratch_root() / (trial.results_key or trial.sweep) / f"{trial.trial_id}-{attempt}"
    started = datetime.now(UTC)
    try:
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        return _run_in_sandbox(trial, attempt, workdir, placement, cancel)
    except (InfraError, MlerayError, OSError) as exc:
        # daemon fault, missing image or public data on this node, full disk: the
        # infrastructure failed, not the agent; the driver may retry elsewhere
        return TrialOutcome.infra_error(
            trial.trial_id,
            attempt,
            started,
            f"{type(exc).__name__}: {exc}",
            placement=placement,
            sandbox=trial.sandbox,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run_in_sandbox(
    trial: Trial, attempt: int, workdir: Path, placement: Placement, cancel: threading.Event
) -> TrialOutcome:
    from mleray.agents import get_agent, resolve_secrets
    from mleray.registry import get_competition
    from mleray.sandbox import get_sandbox
    from mleray.sandbox.base import RunRequest

    competition = get_competition(
        trial.competition_id, extra_paths=list(trial.competitions_path) or None
    )
    public_dir = competition.public_dir  # the only competition folder this node touches
    if not public_dir.is_dir():
        raise InfraError(
            f"public data of {trial.competition_id} is missing on this node ({public_dir})"
        )
    agent = get_agent(trial.agent_path or trial.agent)
    sandbox = get_sandbox(trial.sandbox)
    # a gateway model's token: issued on this node now, refused once the sandbox has ended
    with TrialModels(trial, placement.node_id, sandbox.isolated) as models:
        request = RunRequest(
            trial_id=trial.trial_id,
            results_key=trial.results_key or trial.sweep,
            competition_id=trial.competition_id,
            public_dir=public_dir,
            agent=agent,
            workdir=workdir,
            model=trial.model,
            seed=trial.seed,
            time_limit=trial.time_limit,
            cpus=trial.cpus,
            memory_bytes=trial.memory_bytes,
            pids_limit=trial.pids,
            shm_bytes=trial.shm_bytes,
            disk_bytes=trial.disk_bytes,
            gpu_ids=placement.gpu_ids,
            kwargs={**dict(agent.kwargs), **trial.kwargs},
            snapshot_interval=trial.snapshot_interval,
            **models.request_fields(resolve_secrets(agent, os.environ)),
        )
        started = datetime.now(UTC)
        result = sandbox.run(request, cancel=cancel)
    finished = datetime.now(UTC)
    return TrialOutcome(
        trial_id=trial.trial_id,
        attempt=attempt,
        status=FailureKind(result.status),
        error=result.error,
        started_at=started,
        finished_at=finished,
        wall_seconds=result.wall_seconds,
        exit_code=result.exit_code,
        cpu_seconds=result.cpu_seconds,
        peak_memory_bytes=result.peak_memory_bytes,
        submission=_read(result.submission_path),
        snapshots=tuple(
            (s.elapsed_seconds, s.path.read_bytes()) for s in result.snapshots if s.path.is_file()
        ),
        artifacts=_archive({"logs": result.logs_dir, "code": result.code_dir}),
        sandbox=result.sandbox or trial.sandbox,
        image_id=result.image_id,
        isolated=result.isolated,
        placement=placement,
        model_usage=models.usage,
    )


def _read(path: Path | None) -> bytes | None:
    return path.read_bytes() if path is not None and path.is_file() else None


def _archive(folders: dict[str, Path | None]) -> bytes | None:
    """tar.gz of the regular files in the agent's logs/ and code/, up to a size cap
    (symlinks and special files an agent left behind are skipped, never followed)."""
    buffer, budget, added = io.BytesIO(), ARTIFACTS_CAP_BYTES, 0
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, folder in folders.items():
            if folder is None or not folder.is_dir():
                continue
            for path in sorted(folder.rglob("*")):
                if path.is_symlink() or not path.is_file():
                    continue
                size = path.stat().st_size
                if size > budget:
                    continue
                budget -= size
                tar.add(path, arcname=f"{name}/{path.relative_to(folder)}", recursive=False)
                added += 1
    return buffer.getvalue() if added else None
