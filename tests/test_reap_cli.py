"""`mleray reap RESULTS` removes the containers of the sweep that wrote that results folder
(running or not), and only those; a folder mleray did not write is one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from mleray.plan import results_key

pytestmark = pytest.mark.docker


def _mleray(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mleray", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={**os.environ, "RAY_AUTH_MODE": "disabled"},
    )


@pytest.fixture
def labelled(probe_image):
    """make(key) starts a sleeping container labelled as mleray labels a trial's."""
    import docker

    client, made = docker.from_env(), []

    def make(key: str):
        container = client.containers.run(
            probe_image,
            ["sleep", "600"],
            name=f"mleray-reap-test-{uuid.uuid4().hex[:8]}",
            labels={"mleray.managed": "1", "mleray.sweep": key, "mleray.trial_id": "t"},
            network_mode="none",
            init=True,
            detach=True,
        )
        made.append(container)
        return container

    yield make
    for container in made:
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass


def _alive(container) -> bool:
    import docker

    try:
        container.reload()
        return True
    except docker.errors.NotFound:
        return False


def test_reap_removes_only_that_results_folders_containers(tmp_path, labelled):
    mine, other = tmp_path / "mine", tmp_path / "other"
    for folder in (mine, other):
        folder.mkdir()
        (folder / "sweep.yaml").write_text("name: reaped\nsandbox: docker\n")
    doomed = [labelled(results_key("reaped", mine)) for _ in range(2)]
    doomed[1].stop(timeout=1)  # an exited one goes too
    spared = labelled(results_key("reaped", other))  # same sweep name, another folder
    proc = _mleray("reap", mine, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "removed 2 containers on this node"
    assert not any(_alive(c) for c in doomed) and _alive(spared)


def test_reap_of_a_folder_without_a_sweep_is_one_line(tmp_path):
    (tmp_path / "plain").mkdir()
    proc = _mleray("reap", tmp_path / "plain", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'plain'} has no sweep.yaml: not a results folder mleray wrote"
    ]
