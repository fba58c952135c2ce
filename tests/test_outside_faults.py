"""A container killed or removed from outside mleray (`docker kill`, `docker rm -f`) ends
its attempt as infra_error, not as the agent's failure: in the sandbox, and in a sweep,
where the attempt is retried and every trial ends with exactly one final row. An agent
that exits with 137 itself is still an agent_error (only the engine logs kill events)."""

from __future__ import annotations

import threading
import time

import pytest

from mleray.errors import FailureKind, InfraError
from mleray.sandbox.docker import DockerSandbox
from tests.helpers.hardening import wait_for
from tests.helpers.sandbox import probe_request

pytestmark = pytest.mark.docker


def _run_in_thread(request):
    outcome = {}

    def target():
        try:
            outcome["result"] = DockerSandbox().run(request)
        except InfraError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def _running(client, trial_id):
    return wait_for(
        lambda: client.containers.list(filters={"label": f"mleray.trial_id={trial_id}"}), 60
    )


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_container_killed_from_outside_is_infra_error(tmp_path, probe_image, how):
    import docker

    client = docker.from_env()
    request = probe_request(tmp_path, "honour", time_limit=120.0)
    thread, outcome = _run_in_thread(request)
    [container] = _running(client, request.trial_id)
    container.kill() if how == "kill" else container.stop(timeout=10)  # honour: exit 0
    thread.join(60)
    result = outcome["result"]
    assert result.status == FailureKind.INFRA_ERROR, (result.status, result.error)
    assert "killed from outside mleray" in result.error
    assert result.logs_dir is not None  # what the agent logged is kept


def test_agent_exiting_137_itself_is_agent_error(tmp_path, probe_image):
    result = DockerSandbox().run(probe_request(tmp_path, "exit", kwargs={"code": 137}))
    assert result.status == FailureKind.AGENT_ERROR and result.exit_code == 137, result.error


def test_container_removed_from_outside_is_infra_error(tmp_path, probe_image):
    import docker

    client = docker.from_env()
    request = probe_request(tmp_path, "ignore", time_limit=120.0)
    thread, outcome = _run_in_thread(request)
    [container] = _running(client, request.trial_id)
    started = time.monotonic()
    container.remove(force=True)
    thread.join(60)
    assert "removed from outside mleray" in str(outcome["error"])
    assert time.monotonic() - started < 30


def _sleep_sweep(tmp_path, name: str, seconds: float, seeds: int = 2):
    from mleray.spec import spec_from_dict

    raw = {
        "name": name,
        "competitions": ["breast-cancer-auc"],
        "agents": [{"name": "sleep", "kwargs": {"seconds": seconds}}],
        "seeds": seeds,
        "resources": {"cpus": 0.5, "memory": "256m"},
        "time_limit": 300,
        "sandbox": "docker",
        "results": str(tmp_path / "results"),
        "max_attempts": 3,
    }
    return spec_from_dict(raw, source="test")


def _check_one_retry(summary, results, killed_trial: str) -> None:
    """Every trial completed once; the killed attempt is one non-final infra_error row."""
    from mleray.results import load, load_attempts

    assert dict(summary.counts) == {FailureKind.COMPLETED: 2}, summary
    assert (summary.attempts, summary.retries) == (3, 1), summary
    rows = load(results)
    assert sorted(rows["status"]) == ["completed", "completed"]
    attempts = load_attempts(results)
    killed = attempts[attempts["trial_id"] == killed_trial].sort_values("attempt")
    assert list(zip(killed["attempt"], killed["status"], killed["final"], strict=True)) == [
        (1, "infra_error", False),
        (2, "completed", True),
    ]
    assert len(attempts[attempts["final"]]) == 2  # nothing counted twice


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.parametrize("how", ["kill", "rm"])
def test_a_sweep_retries_an_attempt_killed_from_outside(tmp_path, builtin_data, probe_image, how):
    import docker

    from mleray.driver import run_sweep
    from mleray.plan import results_key

    client = docker.from_env()
    spec = _sleep_sweep(tmp_path, f"outside-{how}", seconds=10)
    label = {"label": f"mleray.sweep={results_key(spec.name, tmp_path / 'results')}"}
    killed = {}

    def kill_first():
        [container, *_] = wait_for(lambda: client.containers.list(filters=label), 120)
        killed["trial"] = container.labels["mleray.trial_id"]
        container.kill() if how == "kill" else container.remove(force=True)

    killer = threading.Thread(target=kill_first)
    killer.start()
    summary = run_sweep(spec, num_cpus=2, progress=False)
    killer.join(10)
    _check_one_retry(summary, tmp_path / "results", killed["trial"])
