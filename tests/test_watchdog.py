"""A container dies with the process that started it (mleray.sandbox.watchdog): SIGKILL of
that process, however it runs, leaves no container behind; a released watchdog touches
nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from tests.helpers.hardening import wait_for

pytestmark = pytest.mark.docker

_HOLDER = textwrap.dedent(
    """
    import sys, time
    from mleray.sandbox.watchdog import Watchdog
    watchdog = Watchdog("docker", sys.argv[1])
    if sys.argv[2] == "release":
        watchdog.release()
        sys.exit(0)
    print("watching", flush=True)
    time.sleep(600)
    """
)


@pytest.fixture
def container(probe_image):
    import docker

    client = docker.from_env()
    name = f"mleray-watchdog-test-{uuid.uuid4().hex[:8]}"
    created = client.containers.run(
        probe_image, ["sleep", "600"], name=name, detach=True, network_mode="none", init=True
    )
    yield created
    try:
        created.remove(force=True)
    except docker.errors.NotFound:
        pass


def _exists(container) -> bool:
    import docker

    try:
        container.reload()
        return True
    except docker.errors.NotFound:
        return False


def test_container_is_removed_when_its_process_is_killed(container):
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, container.name, "hold"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "watching"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert wait_for(lambda: not _exists(container), timeout=20), "container outlived its owner"


def test_a_released_watchdog_leaves_the_container(container):
    subprocess.run([sys.executable, "-c", _HOLDER, container.name, "release"], check=True)
    assert not wait_for(lambda: not _exists(container), timeout=3)


_RUNNER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from mleray.sandbox.docker import DockerSandbox
    from tests.helpers.sandbox import probe_request
    request = probe_request(Path(sys.argv[1]), "ignore", time_limit=600.0)
    print(request.trial_id, flush=True)
    DockerSandbox().run(request)
    """
)


def test_a_killed_sandbox_run_leaves_no_container(tmp_path, probe_image):
    """The container of a run whose process is SIGKILLed mid-run is removed."""
    import docker

    client = docker.from_env()
    runner = subprocess.Popen(
        [sys.executable, "-c", _RUNNER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
    )
    trial_id = runner.stdout.readline().strip()
    label = {"label": f"mleray.trial_id={trial_id}"}
    assert wait_for(lambda: client.containers.list(filters=label), timeout=60), "never started"
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    assert wait_for(lambda: not client.containers.list(all=True, filters=label), timeout=30), (
        "the container outlived the killed run"
    )


_LOCAL_RUNNER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from mleray.sandbox.local import LocalSandbox
    from tests.helpers.hardening import hardening_request
    LocalSandbox().run(hardening_request(Path(sys.argv[1]), "hold", time_limit=600.0))
    """
)


def test_a_killed_local_run_leaves_no_agent_process(tmp_path):
    """The local sandbox's agent group goes too (its watchdog kills the group)."""
    import json

    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the local sandbox's scratch folder
    runner = subprocess.Popen([sys.executable, "-c", _LOCAL_RUNNER, str(tmp_path)], env=env)
    held = wait_for(lambda: next(tmp_path.glob("mleray-local-*/home/logs/hold.json"), None), 60)
    agent = json.loads(held.read_text())["pid"]
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    assert wait_for(lambda: not _alive(agent), timeout=20), "the agent outlived its run"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
