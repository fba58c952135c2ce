"""`mleray sweep`, `mleray run` and `mleray status` end to end, in subprocesses: exit codes,
one-line errors, JSON output, SIGKILL mid-sweep then rerun, SIGTERM cancels cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mleray.plan import results_key
from mleray.results import load
from tests.helpers.processes import kill_session as kill_leftovers

COMPETITION = "breast-cancer-auc"


def mleray(*args, timeout=180, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    return subprocess.run(
        [sys.executable, "-m", "mleray", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kwargs,
    )


def start(*args, cwd=None) -> subprocess.Popen:
    """The CLI in its own session, so the test can find everything it started, taking
    SIGINT as a terminal's Ctrl-C would reach it even where this test run ignores SIGINT
    (a background job of a non-interactive shell does, and an ignored SIGINT is inherited:
    Python then leaves it ignored instead of raising KeyboardInterrupt)."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # SIG_DFL past exec
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "mleray", *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def wait_group_gone(pgid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.5)
    return not group_alive(pgid)


def write_spec(tmp_path: Path, seeds: int, seconds: float, name: str = "cli") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        name: {name}
        competitions: [{COMPETITION}]
        agents:
          - name: sleep
            kwargs: {{seconds: {seconds}}}
        seeds: {seeds}
        resources: {{cpus: 1, memory: 256m}}
        time_limit: 60
        sandbox: local
        results: {tmp_path / "results"}
        """)
    )
    return path


def wait_for_rows(
    results: Path, count: int, proc: subprocess.Popen, timeout: float = 120.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(list((results / "trials").glob("[!.]*.parquet"))) >= count:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError(f"no {count} results within {timeout}s")


@pytest.mark.parametrize(
    "args, needle",
    [
        (["sweep", "missing.yaml"], "missing.yaml: no such spec file"),
        (
            [
                "run",
                "--competition",
                "no-such-competition",
                "--agent",
                "noop",
                "--sandbox",
                "local",
            ],
            "competitions[0]",
        ),
        (
            ["run", "--competition", COMPETITION, "--agent", "no-such-agent", "--sandbox", "local"],
            "agents[0].name",
        ),
        (
            ["run", "--competition", COMPETITION, "--agent", "noop", "--gpus", "0.3"],
            "resources.gpus",
        ),
        (
            ["run", "--competition", COMPETITION, "--agent", "noop", "--memory", "lots"],
            "resources.memory",
        ),
        (["status", "no/such/results"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, args, needle):
    proc = mleray(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "results").exists()


def test_unprepared_competition_exits_2(tmp_path):
    env_dir = tmp_path / "empty"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mleray",
            "run",
            "--competition",
            COMPETITION,
            "--agent",
            "noop",
            "--sandbox",
            "local",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={**os.environ, "MLERAY_DATA_DIR": str(env_dir)},
    )
    assert (
        proc.returncode == 2
        and "not prepared" in proc.stderr
        and len(proc.stderr.strip().splitlines()) == 1
    )


@pytest.mark.ray
def test_num_gpus_with_cluster_address_is_refused(tmp_path, builtin_data):
    proc = mleray(
        "sweep", write_spec(tmp_path, 1, 0), "--address", "auto", "--num-gpus", "2", cwd=tmp_path
    )
    assert proc.returncode == 2 and "--num-gpus" in proc.stderr


@pytest.mark.ray
def test_run_json_has_identity_usage_and_grade(tmp_path, builtin_data):
    proc = mleray(
        "run",
        "--competition",
        COMPETITION,
        "--agent",
        "noop",
        "--sandbox",
        "local",
        "--seeds",
        "2",
        "--cpus",
        "0.5",
        "--memory",
        "256m",
        "--results",
        tmp_path / "r",
        "--json",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == 2 and sorted(r["seed"] for r in rows) == [0, 1]
    from mleray.grading.report import GradeReport

    for row in rows:
        assert (
            row["competition_id"] == COMPETITION
            and row["agent"] == "noop"
            and row["status"] == "completed"
        )
        assert row["wall_seconds"] > 0 and row["peak_memory_bytes"] > 0
        for name in GradeReport.field_names():
            assert (name if name != "error" else "grade_error") in row
        assert row["valid_submission"] is True and row["score"] == pytest.approx(0.5)


@pytest.mark.ray
@pytest.mark.slow
def test_sigkill_mid_sweep_then_rerun_gives_one_row_per_trial(tmp_path, builtin_data):
    spec = write_spec(tmp_path, seeds=6, seconds=1.5)
    results = tmp_path / "results"
    proc = start("sweep", spec, "--num-cpus", "2", cwd=tmp_path)
    try:
        wait_for_rows(results, 1, proc)
        os.kill(proc.pid, signal.SIGKILL)  # the driver only: a crash, no clean-up at all
        proc.wait(timeout=10)
        done_before = len(load(results))
        assert 1 <= done_before < 6
    finally:
        kill_leftovers(proc.pid)
        wait_group_gone(proc.pid, 10)
    rerun = mleray("sweep", spec, "--num-cpus", "2", "--json", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    rows = json.loads(rerun.stdout)
    df = load(results)
    assert len(df) == 6 and df["trial_id"].is_unique and len(rows) == 6
    assert set(df["status"]) == {"completed"}
    files = [p for p in (results / "trials").glob("*.parquet") if not p.name.startswith(".")]
    assert len(files) == 6  # exactly one final file per trial, none written twice


@pytest.mark.ray
@pytest.mark.slow
def test_sigterm_cancels_cleanly_and_keeps_finished_results(tmp_path, builtin_data):
    spec = write_spec(tmp_path, seeds=6, seconds=3, name="term")
    results = tmp_path / "results"
    proc = start("sweep", spec, "--num-cpus", "2", cwd=tmp_path)
    try:
        wait_for_rows(results, 1, proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=90)
        assert proc.returncode == 130, err
        assert wait_group_gone(proc.pid, 30), "processes left running after the sweep was cancelled"
    finally:
        kill_leftovers(proc.pid)
    df = load(results)
    assert 1 <= len(df) < 6 and set(df["status"]) == {"completed"}
    status = mleray("status", results, "--json")
    ledger = json.loads(status.stdout)
    assert ledger["trials"] == len(df) and ledger["attempts"] >= len(df)


def test_no_docker_engine_exits_2_before_anything_runs(tmp_path, builtin_data):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mleray",
            "run",
            "--competition",
            COMPETITION,
            "--agent",
            "noop",
            "--results",
            tmp_path / "r",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"},
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Docker" in lines[0], proc.stderr
    assert not (tmp_path / "r" / "trials").exists()


@pytest.mark.ray
@pytest.mark.docker
def test_run_builds_a_missing_image_once_with_progress(tmp_path, builtin_data):
    import docker

    agent = tmp_path / "unbuilt"
    agent.mkdir()
    name = f"unbuilt-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    (agent / "config.yaml").write_text(
        f'name: {name}\nbuild: Dockerfile\ncommand: ["python3", "{{agent_dir}}/run.py"]\n'
    )
    (agent / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY . /opt/agent\n")
    (agent / "run.py").write_text(
        "import os, shutil\n"
        "shutil.copyfile(os.path.join(os.environ['MLERAY_DATA'], 'sample_submission.csv'),\n"
        "    os.path.join(os.environ['MLERAY_SUBMISSION_DIR'], 'submission.csv'))\n"
    )
    runs = [
        mleray(
            "run", "--competition", COMPETITION, "--agent", agent, "--seed", str(seed),
            "--results", tmp_path / "r", "--json", cwd=tmp_path, timeout=400,
        )
        for seed in (0, 1)
    ]  # fmt: skip
    try:
        for proc in runs:
            assert proc.returncode == 0, proc.stderr
            assert [row["status"] for row in json.loads(proc.stdout)] == ["completed"]
        assert f"mleray: building image mleray-agent-{name}:" in runs[0].stderr
        assert "Step 1/" in runs[0].stderr  # the builder's own output, as it goes
        assert "building image" not in runs[1].stderr  # built once per content hash
    finally:
        client = docker.from_env()
        for image in client.images.list(name=f"mleray-agent-{name}"):
            client.images.remove(image.id, force=True)


@pytest.mark.docker
def test_missing_prebuilt_image_exits_2_with_docker_pull(tmp_path, builtin_data):
    agent = tmp_path / "prebuilt"
    agent.mkdir()
    (agent / "config.yaml").write_text(
        'name: prebuilt\nimage: "mleray-test-no-such-image:1"\ncommand: ["python3", "run.py"]\n'
    )
    proc = mleray(
        "run",
        "--competition",
        COMPETITION,
        "--agent",
        agent,
        "--results",
        tmp_path / "r",
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "docker pull mleray-test-no-such-image:1" in lines[0], proc.stderr
    assert not (tmp_path / "r" / "trials").exists()


@pytest.mark.ray
@pytest.mark.docker
def test_docker_run_baseline_json(tmp_path, builtin_data):
    proc = mleray(
        "run",
        "--competition",
        COMPETITION,
        "--agent",
        "baseline",
        "--sandbox",
        "docker",
        "--seed",
        "3",
        "--cpus",
        "1",
        "--memory",
        "1g",
        "--gpus",
        "0.5",
        "--num-gpus",
        "1",
        "--results",
        tmp_path / "r",
        "--json",
        cwd=tmp_path,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stderr
    [row] = json.loads(proc.stdout)
    assert row["status"] == "completed" and row["sandbox"] == "docker" and row["image_id"], row
    assert row["seed"] == 3 and row["gpu_ids"] == "0" and row["gpu_share"] == 0.5
    assert row["valid_submission"] and row["score"] > 0.5  # beats the constant sample submission
    assert row["cpu_seconds"] > 0 and row["peak_memory_bytes"] > 0


@pytest.mark.ray
@pytest.mark.docker
@pytest.mark.slow
def test_sigint_on_a_docker_sweep_leaves_no_container(tmp_path, builtin_data):
    import docker

    client = docker.from_env()
    name = f"cli-docker-{os.getpid()}"
    spec = write_spec(tmp_path, seeds=2, seconds=60, name=name)
    spec.write_text(spec.read_text().replace("sandbox: local", "sandbox: docker"))
    proc = start("sweep", spec, "--num-cpus", "2", cwd=tmp_path)
    label = {"label": f"mleray.sweep={results_key(name, tmp_path / 'results')}"}
    try:
        deadline = time.monotonic() + 120
        while not client.containers.list(filters=label) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.5)
        assert client.containers.list(filters=label), "no container started"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert not client.containers.list(all=True, filters=label)
        assert wait_group_gone(proc.pid, 30)
    finally:
        kill_leftovers(proc.pid)
        for container in client.containers.list(all=True, filters=label):
            container.remove(force=True)
    assert len(load(tmp_path / "results")) == 0  # nothing finished, nothing recorded as final
