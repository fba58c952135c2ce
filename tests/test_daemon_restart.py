"""The Docker daemon restarting mid-run ends the attempt as infra_error, the sweep retries
it and goes on, nothing is lost or counted twice, and the container is gone once the
daemon is back. It runs against an engine of its own (tests/helpers/private_dockerd), so
restarting it cannot break tests that use the shared engine at the same time; it needs
root (to start dockerd) and is slow (the base image is loaded into that engine once)."""

from __future__ import annotations

import os
import shutil
import threading

import pytest

from mleray.errors import FailureKind, InfraError
from tests.helpers.hardening import wait_for
from tests.helpers.private_dockerd import PrivateDockerd
from tests.helpers.sandbox import probe_request

pytestmark = [
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or not (shutil.which("dockerd") and shutil.which("ip")),
        reason="starting an engine of the test's own needs root, dockerd and ip",
    ),
]


@pytest.fixture(scope="module")
def dockerd(probe_image):
    from mleray.sandbox.images import base_image_tag

    engine = PrivateDockerd()
    engine.start()
    try:
        engine.load_image(base_image_tag())
        yield engine
    finally:
        engine.stop()
        engine.remove_bridge()


@pytest.fixture
def on_private_engine(dockerd, monkeypatch):
    """Everything that reads DOCKER_HOST (the sandbox, Ray's workers, the watchdogs) uses
    the private engine."""
    monkeypatch.setenv("DOCKER_HOST", dockerd.host)
    if not dockerd.answers():
        dockerd.start()
    return dockerd


def _restart_when_running(engine: PrivateDockerd, label: str) -> threading.Thread:
    def restart():
        client = engine.client()
        assert wait_for(lambda: client.containers.list(filters={"label": label}), 180)
        engine.stop()
        engine.start()

    thread = threading.Thread(target=restart)
    thread.start()
    return thread


def test_a_restart_mid_run_is_an_infra_error_and_leaves_no_container(tmp_path, on_private_engine):
    from mleray.sandbox.docker import DockerSandbox

    request = probe_request(tmp_path, "honour", time_limit=300.0)
    label = f"mleray.trial_id={request.trial_id}"
    restarter = _restart_when_running(on_private_engine, label)
    outcome = {}
    try:
        outcome["result"] = DockerSandbox().run(request)
    except InfraError as exc:
        outcome["error"] = exc
    restarter.join(300)
    result = outcome.get("result")
    assert result is None or result.status == FailureKind.INFRA_ERROR, (result.status, result.error)
    client = on_private_engine.client()
    assert wait_for(lambda: not client.containers.list(all=True, filters={"label": label}), 90)


@pytest.mark.ray
def test_a_sweep_goes_on_through_a_daemon_restart(tmp_path, builtin_data, on_private_engine):
    from mleray.driver import run_sweep
    from mleray.plan import results_key
    from mleray.results import load, load_attempts
    from mleray.spec import spec_from_dict

    spec = spec_from_dict(
        {
            "name": "dockerd-restart",
            "competitions": ["breast-cancer-auc"],
            "agents": [{"name": "sleep", "kwargs": {"seconds": 20}}],
            "seeds": 2,
            "resources": {"cpus": 0.5, "memory": "256m"},
            "time_limit": 300,
            "sandbox": "docker",
            "results": str(tmp_path / "results"),
            "max_attempts": 3,
        },
        source="test",
    )
    key = results_key(spec.name, tmp_path / "results")
    restarter = _restart_when_running(on_private_engine, f"mleray.sweep={key}")
    summary = run_sweep(spec, num_cpus=2, progress=False)
    restarter.join(300)
    assert dict(summary.counts) == {FailureKind.COMPLETED: 2}, summary
    assert summary.retries >= 1
    rows = load(tmp_path / "results")
    assert sorted(rows["status"]) == ["completed", "completed"]
    attempts = load_attempts(tmp_path / "results")
    assert len(attempts[attempts["final"]]) == 2  # one final row per trial
    assert set(attempts[~attempts["final"]]["status"]) == {"infra_error"}
    client = on_private_engine.client()
    assert not client.containers.list(all=True, filters={"label": f"mleray.sweep={key}"})
