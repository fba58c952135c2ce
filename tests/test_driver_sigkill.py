"""Done-when of issue 12: after `kill -9` of a driver mid-sweep, no container of that sweep
is running a minute later (the watchdogs remove them once Ray has killed the actors), and
`mleray reap RESULTS` removes what a results folder has left, and nothing else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mleray.plan import results_key
from tests.helpers.hardening import containers_labelled, wait_for
from tests.helpers.processes import kill_session

pytestmark = [pytest.mark.docker, pytest.mark.ray, pytest.mark.slow]

COMPETITION = "breast-cancer-auc"


def _spec(folder: Path, name: str, seconds: float) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        name: {name}
        competitions: [{COMPETITION}]
        agents:
          - name: sleep
            kwargs: {{seconds: {seconds}}}
        seeds: 2
        resources: {{cpus: 0.5, memory: 256m}}
        time_limit: 900
        sandbox: docker
        results: {folder / "results"}
        """)
    )
    return path


def test_no_container_runs_a_minute_after_the_driver_is_killed(tmp_path, builtin_data):
    name = f"sigkill-{os.getpid()}"
    spec = _spec(tmp_path, name, seconds=600)
    key = results_key(name, tmp_path / "results")
    driver = subprocess.Popen(
        [sys.executable, "-m", "mleray", "sweep", str(spec), "--num-cpus", "2", "--json"],
        cwd=tmp_path,
        env={**os.environ, "RAY_AUTH_MODE": "disabled"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        running = wait_for(lambda: len(containers_labelled(key)) == 2 or driver.poll(), 180)
        assert running and driver.poll() is None, driver.communicate()[1].decode()[-2000:]
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        assert wait_for(lambda: not containers_labelled(key), timeout=60), (
            f"containers of {key} still run a minute after the driver was killed"
        )
    finally:
        kill_session(driver.pid)
        for container in containers_labelled(key, running_only=False):
            container.remove(force=True)
