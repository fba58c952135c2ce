"""TrialActor: placement facts, outcome as data, cancellation, infra faults (local sandbox;
one Docker trial checks the container is gone after a cancel)."""

from __future__ import annotations

import io
import tarfile
import time

import pytest

from mleray.actors.options import actor_options
from mleray.actors.outcome import TrialOutcome
from mleray.plan import plan_trials
from mleray.spec import spec_from_dict

COMPETITION = "breast-cancer-auc"


@pytest.fixture(scope="module")
def ray_one_gpu(builtin_data):
    import ray

    ray.init(address="local", num_cpus=4, num_gpus=1, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def trial_for(agent, sandbox="local", gpus=1, seconds=None, name="actors"):
    agents = [{"name": agent, **({"kwargs": {"seconds": seconds}} if seconds is not None else {})}]
    spec = spec_from_dict(
        {
            "name": name,
            "competitions": [COMPETITION],
            "agents": agents,
            "sandbox": sandbox,
            "resources": {"gpus": gpus, "cpus": 0.5, "memory": "512m"},
            "time_limit": 120,
        },
        check=False,
    )
    return plan_trials(spec)[0]


def test_actor_options_follow_resources():
    trial = trial_for("noop", gpus=0.25)
    options = actor_options(trial)
    assert (
        options["num_gpus"] == 0.25
        and options["num_cpus"] == 0.5
        and options["memory"] == 512 * 1024**2
    )
    assert options["max_restarts"] == 0 and options["max_task_retries"] == 0
    assert options["max_concurrency"] >= 2  # cancel() must reach a busy actor


def test_infra_error_outcomes_have_one_constructor_and_a_failure_kind():
    from datetime import UTC, datetime, timedelta

    from mleray.actors.outcome import Placement
    from mleray.errors import FailureKind

    started = datetime.now(UTC) - timedelta(seconds=5)
    where = Placement("n1", "10.0.0.1", ("0",))
    lost = TrialOutcome.infra_error("t", 2, started, "OSError: disk full\ntraceback", where)
    assert lost.status is FailureKind.INFRA_ERROR and lost.retryable
    assert lost.error == "OSError: disk full" and lost.placement == where
    assert 4.5 < lost.wall_seconds < 60 and lost.finished_at > started
    never_placed = TrialOutcome.infra_error("t", 1, datetime.now(UTC), "actor or node lost")
    assert never_placed.placement == Placement(None, None, ())
    stopped = lost.with_status(FailureKind.CANCELLED, "sweep cancelled")
    assert stopped.status is FailureKind.CANCELLED and not stopped.retryable
    as_text = TrialOutcome("t", 1, "timeout", None, started, started, 0.0)  # a stored value
    assert as_text.status is FailureKind.TIMEOUT


def start(ray, trial, **extra):
    from mleray.actors.trial_actor import TrialActor

    actor = TrialActor.options(**{**actor_options(trial), **extra}).remote(trial, 1)
    return actor, actor.outcome.remote()


@pytest.mark.ray
def test_run_returns_outcome_as_data_with_placement(ray_one_gpu, builtin_data):
    ray = ray_one_gpu
    trial = trial_for("noop")
    actor, ref = start(ray, trial)
    outcome = ray.get(ref, timeout=120)
    ray.kill(actor)
    assert isinstance(outcome, TrialOutcome)
    assert outcome.status == "completed" and outcome.error is None and outcome.attempt == 1
    placement = outcome.placement
    assert placement.gpu_ids == ("0",)
    assert placement.node_id == ray.get_runtime_context().get_node_id() and placement.node_ip
    sample = (builtin_data / COMPETITION / "public" / "sample_submission.csv").read_bytes()
    assert outcome.submission == sample
    assert outcome.started_at.tzinfo is not None and outcome.finished_at >= outcome.started_at
    assert outcome.sandbox == "local" and outcome.isolated is False
    names = tarfile.open(fileobj=io.BytesIO(outcome.artifacts)).getnames()
    assert any(n.startswith("logs/") for n in names)


def _worker_state(actor) -> dict:
    """What the actor's own worker process has loaded (Ray's `__ray_call__` runs a
    function there)."""
    import sys

    def state(self):
        import ray.util.serialization_addons as addons

        return {
            "skipped": self.serialization_addons_skipped,
            "apply": addons.apply.__name__,
            "loaded": {name for name in ("pyarrow", "numpy", "pandas") if name in sys.modules},
        }

    return actor.__ray_call__.remote(state)


@pytest.mark.ray
def test_trial_actor_worker_skips_rays_serialization_addons(ray_one_gpu):
    # Ray's add-ons import pyarrow and numpy in every worker (~0.15 CPU-s each); a trial
    # actor moves none of their types, and runs a whole attempt without them.
    ray = ray_one_gpu
    actor, ref = start(ray, trial_for("noop"))
    outcome = ray.get(ref, timeout=120)
    state = ray.get(_worker_state(actor), timeout=60)
    ray.kill(actor)
    assert outcome.status == "completed", outcome.error
    assert state == {"skipped": True, "apply": "_no_addons", "loaded": set()}


def test_importing_worker_addons_outside_an_actor_changes_nothing():
    import ray.util.serialization_addons as addons

    from mleray.actors import worker_addons

    assert worker_addons.SKIPPED is False and worker_addons.skip_in_actor_worker() is False
    assert addons.apply.__name__ == "apply"


@pytest.mark.ray
def test_cancel_stops_the_sandbox(ray_one_gpu):
    ray = ray_one_gpu
    actor, ref = start(ray, trial_for("sleep", seconds=60))
    time.sleep(3)
    began = time.monotonic()
    actor.cancel.remote()
    outcome = ray.get(ref, timeout=60)
    ray.kill(actor)
    assert outcome.status == "cancelled"
    assert time.monotonic() - began < 30


@pytest.mark.ray
def test_missing_public_data_on_the_node_is_an_infra_error(ray_one_gpu, tmp_path):
    ray = ray_one_gpu
    actor, ref = start(
        ray, trial_for("noop"), runtime_env={"env_vars": {"MLERAY_DATA_DIR": str(tmp_path)}}
    )
    outcome = ray.get(ref, timeout=120)
    ray.kill(actor)
    assert outcome.status == "infra_error" and "public data" in outcome.error
    assert outcome.retryable and outcome.submission is None


@pytest.mark.ray
@pytest.mark.docker
def test_docker_trial_gets_its_gpu_and_cancel_removes_the_container(ray_one_gpu):
    import docker

    ray = ray_one_gpu
    client = docker.from_env()
    done = ray.get(
        start(ray, trial_for("noop", sandbox="docker", name="actors-docker-ok"))[1], timeout=300
    )
    assert done.status == "completed", done.error
    assert done.placement.gpu_ids == ("0",) and done.submission and done.image_id
    trial = trial_for("sleep", sandbox="docker", seconds=60, name="actors-docker")
    actor, ref = start(ray, trial)
    label = f"mleray.trial_id={trial.trial_id}"
    deadline = time.monotonic() + 120
    while not client.containers.list(filters={"label": label}) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert client.containers.list(filters={"label": label}), "the container never started"
    actor.cancel.remote()
    outcome = ray.get(ref, timeout=120)
    ray.kill(actor)
    assert outcome.status == "cancelled"
    assert not client.containers.list(all=True, filters={"label": label})
