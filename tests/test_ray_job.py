"""A sweep submitted with `ray job submit` to a cluster started with `ray start` (a head with
its job server on 127.0.0.1, holding the answers and no CPUs, plus a worker): it runs,
`ray job logs` follows it, and `ray job stop` cancels it cleanly: no container left, the
finished results kept. The cluster's processes are found by its own temp folder and GCS
address (never `ray stop`, which would stop every Ray on the machine)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from mleray.plan import results_key
from tests.helpers.hardening import containers_labelled, wait_for
from tests.helpers.processes import free_port, kill_matching

pytestmark = [pytest.mark.cluster, pytest.mark.ray, pytest.mark.docker, pytest.mark.slow]

RAY = str(Path(sys.executable).with_name("ray"))


class LocalCluster:
    def __init__(self, env: dict):
        self.temp = tempfile.mkdtemp(prefix="rj", dir="/tmp")  # short: socket paths
        self.port, self.dashboard = free_port(), free_port()
        self.gcs: str | None = None
        self.env = env
        self.address = f"http://127.0.0.1:{self.dashboard}"

    def start(self) -> None:
        self._ray(
            "start", "--head", f"--port={self.port}",
            "--dashboard-host=127.0.0.1", f"--dashboard-port={self.dashboard}",
            "--include-dashboard=true", "--num-cpus=0", "--num-gpus=0",
            '--resources={"mleray_answers": 1}', f"--temp-dir={self.temp}",
            *self._ports(), "--disable-usage-stats",
        )  # fmt: skip
        # the GCS listens on the node's address: the head wrote it into its own temp
        # folder (never /tmp/ray's, where other clusters' `ray.init()` would find it)
        self.gcs = (Path(self.temp) / "ray_current_cluster").read_text().strip()
        self._ray(
            "start", f"--address={self.gcs}", "--num-cpus=2", *self._ports(),
            "--disable-usage-stats",
        )  # fmt: skip

    def _ports(self) -> list[str]:
        names = ("dashboard-agent-listen-port", "dashboard-agent-grpc-port")
        names += ("metrics-export-port", "runtime-env-agent-port")
        return [f"--{name}={free_port()}" for name in names]

    def _ray(self, *args: str, check: bool = True, timeout: float = 180):
        proc = subprocess.run(
            [RAY, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        assert not check or proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def job(self, command: str, *args: str, **kwargs):
        # the address before the arguments: after `submit ... --` it would join the entrypoint
        return self._ray("job", command, "--address", self.address, *args, **kwargs)

    def stop(self) -> None:
        kill_matching(self.temp, self.gcs or self.temp)


@pytest.fixture(scope="module")
def cluster(builtin_data, probe_image):
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)  # the job's driver gets the cluster's own
    local = LocalCluster(env)
    try:
        local.start()
        yield local
    finally:
        local.stop()


def _spec(folder: Path, name: str, long_seconds: float) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        name: {name}
        competitions: [breast-cancer-auc]
        agents:
          - name: sleep
            kwargs: {{seconds: 1}}
          - name: sleep
            kwargs: {{seconds: {long_seconds}}}
        resources: {{cpus: 0.5, memory: 256m}}
        time_limit: 900
        sandbox: docker
        results: {folder / "results"}
        """)
    )
    return path


def _submit(cluster: LocalCluster, folder: Path, spec: Path) -> str:
    entry = f"cd {folder} && {sys.executable} -m mleray sweep {spec} --address auto"
    proc = cluster.job("submit", "--no-wait", "--", "bash", "-c", entry)
    # the id alone: the CLI colours its output (ANSI codes stick to the id) even in a pipe
    found = re.search(r"raysubmit_[A-Za-z0-9]+", proc.stdout + proc.stderr)
    assert found, proc.stdout + proc.stderr
    return found.group(0)


def _status(cluster: LocalCluster, job_id: str) -> str:
    """`ray job status`'s words, lower case: it says "Job 'ID' succeeded" or "was stopped"."""
    proc = cluster.job("status", job_id)
    return (proc.stdout + proc.stderr).lower()


def test_a_sweep_runs_as_a_ray_job_and_its_logs_follow_it(cluster, tmp_path):
    spec = _spec(tmp_path, "job-done", long_seconds=2)
    job_id = _submit(cluster, tmp_path, spec)
    assert wait_for(lambda: "succeeded" in _status(cluster, job_id), 300, every=2), (
        _status(cluster, job_id) + cluster.job("logs", job_id).stdout[-3000:]
    )
    logs = cluster.job("logs", job_id).stdout
    assert "sweep job-done: 2/2 trials have results" in logs, logs[-3000:]
    assert "completed: 2" in logs


def test_ray_job_stop_cancels_cleanly(cluster, tmp_path):
    from mleray.results import load

    name = f"job-stop-{os.getpid()}"
    spec = _spec(tmp_path, name, long_seconds=600)
    key = results_key(name, tmp_path / "results")
    job_id = _submit(cluster, tmp_path, spec)
    trials = tmp_path / "results" / "trials"
    finished = lambda: trials.is_dir() and list(trials.glob("[!.]*.parquet"))  # noqa: E731
    assert wait_for(lambda: finished() and containers_labelled(key), 300, every=1), cluster.job(
        "logs", job_id
    ).stdout[-3000:]
    started = time.monotonic()
    cluster.job("stop", job_id)
    assert wait_for(lambda: "stopped" in _status(cluster, job_id), 120, every=1)
    assert wait_for(lambda: not containers_labelled(key), 60), "a container outlived the job"
    assert time.monotonic() - started < 120
    rows = load(tmp_path / "results")
    assert list(rows["status"]) == ["completed"]  # the finished trial is kept


def test_reap_with_an_address_reaps_on_every_node(cluster, tmp_path, probe_image):
    import docker

    results = tmp_path / "results"
    results.mkdir()
    (results / "sweep.yaml").write_text("name: reaped\nsandbox: docker\n")
    client = docker.from_env()
    container = client.containers.run(
        probe_image,
        ["sleep", "600"],
        labels={"mleray.managed": "1", "mleray.sweep": results_key("reaped", results)},
        network_mode="none",
        detach=True,
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "mleray", "reap", str(results), "--address", cluster.gcs],
            capture_output=True,
            text=True,
            env=cluster.env,
            timeout=180,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "removed 1 container on every node"
        assert not client.containers.list(all=True, filters={"id": container.id})
    finally:
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
