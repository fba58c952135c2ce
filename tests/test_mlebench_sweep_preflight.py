"""A sweep whose competitions cannot be graded fails before any agent runs: every grader is
imported where grading will run (this node with the embedded Ray; the answers node, through
a Ray task, on a cluster), and a missing package or a Git LFS pointer leaderboard is one
line saying how to fix it (`mleray sweep` exits 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from mleray.driver import run_sweep
from mleray.errors import SpecError
from mleray.grading import MissingPackageError
from mleray.grading.custom import load_grader
from mleray.plan import plan_trials
from mleray.spec import spec_from_dict
from tests.helpers.mlebench_layout import write_competition, write_prepared

ABSENT = "mleray_test_absent_package"  # imported by the grader, installed nowhere
POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 1894\n"
)
GOOD_GRADE = "def grade(submission, answers):\n    return 1.0\n"


@pytest.fixture
def sweep(tmp_path, monkeypatch):
    """A results folder, an agent that leaves a mark when it runs, and `make(grade)`: a
    spec of one MLE-bench-layout competition (data prepared) whose grader is `grade`."""
    data_dir = tmp_path / "mle-data"
    monkeypatch.setenv("MLERAY_MLEBENCH_DATA_DIR", str(data_dir))
    load_grader.cache_clear()
    agent = tmp_path / "marker-agent"
    agent.mkdir()
    (agent / "config.yaml").write_text(
        "name: marker\nimage: unused\ncommand: [python3, '{agent_dir}/run.py']\n"
    )
    (agent / "run.py").write_text(
        "import os, pathlib\npathlib.Path(os.environ['MLERAY_AGENT_DIR'], 'ran').touch()\n"
    )
    registry = tmp_path / "registry"

    def make(grade: str, leaderboard: str | None = None):
        folder = write_competition(registry, "toy-mle", grade=grade)
        if leaderboard is not None:
            (folder / "leaderboard.csv").write_text(leaderboard)
        table = pd.DataFrame({"id": [1, 2, 3], "y": [0, 1, 0]})
        write_prepared(
            data_dir,
            "toy-mle",
            {"sample_submission.csv": table.assign(y=0).to_csv(index=False)},
            {"test.csv": table.to_csv(index=False)},
        )
        raw = {
            "name": "preflight",
            "competitions": ["toy-mle"],
            "competitions_path": [str(registry)],
            "agents": [str(agent)],
            "seeds": 1,
            "sandbox": "local",
            "time_limit": 60,
            "results": str(tmp_path / "results"),
        }
        spec_file = tmp_path / "sweep.yaml"
        spec_file.write_text(json.dumps(raw))  # JSON is YAML
        return spec_from_dict(raw, source=str(spec_file)), spec_file

    make.agent_ran = lambda: (agent / "ran").exists()
    make.results = tmp_path / "results"
    yield make
    load_grader.cache_clear()


def test_a_missing_package_fails_the_sweep_before_ray_or_any_agent(sweep):
    import ray

    spec, _ = sweep(f"import {ABSENT}\n\n{GOOD_GRADE}")
    with pytest.raises(MissingPackageError) as caught:
        run_sweep(spec, results_dir=sweep.results, progress=False)
    message = str(caught.value)
    assert "\n" not in message and "grade.py" in message
    assert f"needs the package {ABSENT!r}, which is not installed here: pip install {ABSENT}" in (
        message
    )
    assert not ray.is_initialized() and not sweep.agent_ran()
    assert not (sweep.results / "trials").exists()


def _cli(*args, cwd):
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    return subprocess.run(
        [sys.executable, "-m", "mleray", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=180,
    )


def test_the_cli_says_it_in_one_line_and_exits_2(sweep, tmp_path):
    _, spec_file = sweep("from mlebench.grade_helpers import InvalidSubmissionError\n" + GOOD_GRADE)
    env_has_mlebench = subprocess.run([sys.executable, "-c", "import mlebench"]).returncode == 0
    if env_has_mlebench:
        pytest.skip("mlebench is installed here: its grader would import")
    proc = _cli("sweep", spec_file, cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "needs the package 'mlebench'" in lines[0] and "pip install -e" in lines[0]
    assert not sweep.agent_ran() and not (sweep.results / "trials").exists()


def test_a_git_lfs_pointer_leaderboard_names_git_lfs_pull(sweep, tmp_path):
    _, spec_file = sweep(GOOD_GRADE, leaderboard=POINTER)
    proc = _cli("sweep", spec_file, cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "is a Git LFS pointer" in lines[0] and "git lfs pull" in lines[0]
    assert not sweep.agent_ran()


@pytest.fixture
def answers_node():
    """Ray in this process, its one node holding the answers resource (as a cluster's
    answers node does): the driver then checks graders through a Ray task."""
    import ray

    from mleray.actors.options import ANSWERS_RESOURCE

    ray.init(
        address="local",
        num_cpus=2,
        resources={ANSWERS_RESOURCE: 1.0},
        include_dashboard=False,
        runtime_env={
            "env_vars": {"MLERAY_MLEBENCH_DATA_DIR": os.environ["MLERAY_MLEBENCH_DATA_DIR"]}
        },
    )
    yield
    ray.shutdown()


@pytest.mark.ray
def test_on_a_cluster_graders_are_checked_on_the_answers_node(sweep, answers_node):
    from mleray.driver.preflight import check_graders_on_answers_node

    spec, _ = sweep(GOOD_GRADE)
    check_graders_on_answers_node(spec, plan_trials(spec))  # imports there: no error
    spec, _ = sweep(f"import {ABSENT}\n\n{GOOD_GRADE}")
    with pytest.raises(MissingPackageError, match=f"pip install {ABSENT}"):
        check_graders_on_answers_node(spec, plan_trials(spec))
    # through run_sweep: a cluster address skips the driver's own data checks, the task
    # still stops the sweep before any trial starts
    with pytest.raises(MissingPackageError, match=ABSENT):
        run_sweep(spec, address="auto", results_dir=sweep.results, progress=False)
    assert not sweep.agent_ran() and not (sweep.results / "trials").exists()
    spec, _ = sweep(GOOD_GRADE, leaderboard=POINTER)
    with pytest.raises(SpecError, match="git lfs pull"):
        check_graders_on_answers_node(spec, plan_trials(spec))


def test_the_grader_file_is_named(sweep):
    spec, _ = sweep(f"import os\nfrom {ABSENT}.metrics import score\n\n{GOOD_GRADE}")
    with pytest.raises(MissingPackageError, match=r"toy-mle/grade\.py"):
        run_sweep(spec, results_dir=sweep.results, progress=False)
