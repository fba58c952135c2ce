"""The `mleray` entry point: user mistakes and broken folders are one line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers.synthetic import write_results


def mleray(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mleray", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def assert_one_error_line(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert all(fragment in done.stderr for fragment in fragments), done.stderr


@pytest.mark.parametrize("option", ["--num-gpus", "--num-cpus"])
def test_negative_declared_resources_are_a_usage_error(tmp_path, option):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\ncompetitions: [breast-cancer-auc]\nagents: [{name: noop}]\n")
    done = mleray("sweep", str(spec), option, "-1")
    assert_one_error_line(done, option, "greater than or equal to 0")


def test_run_negative_num_gpus_is_a_usage_error():
    done = mleray(
        "run", "--competition", "breast-cancer-auc", "--agent", "noop", "--num-gpus", "-1"
    )
    assert_one_error_line(done, "--num-gpus", "greater than or equal to 0")


def test_unreadable_result_file_is_a_one_line_warning(tmp_path):
    results = write_results(tmp_path / "results", [{"competition_id": "c", "seed": 0}])
    (results / "trials" / "crashed-1.parquet").write_bytes(b"PAR1 cut short")
    done = mleray("status", str(results))
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1, done.stderr
    assert warnings[0].startswith("warning: skipping unreadable result file ")
    assert "crashed-1.parquet" in warnings[0]


@pytest.mark.ray
def test_results_path_that_is_a_file_is_one_line(tmp_path, builtin_data):
    in_the_way = tmp_path / "results"
    in_the_way.write_text("not a folder")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: x\ncompetitions: [breast-cancer-auc]\nagents: [{name: noop}]\n"
        "sandbox: local\nresources: {cpus: 0.5, memory: 256m}\n"
    )
    done = mleray("sweep", str(spec), "--results", str(in_the_way), "--num-cpus", "1")
    assert_one_error_line(done, str(in_the_way))
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize(
    "command", [["competitions", "list"], ["competitions", "show", "x"], ["prepare", "x"]]
)
def test_competitions_path_that_is_no_folder_is_named(tmp_path, command):
    absent = tmp_path / "no-such-registry"
    done = mleray(*command, "--competitions-path", str(absent))
    assert_one_error_line(done, f"--competitions-path {absent}: no such folder")
    assert done.stdout == ""


def test_status_heading_stays_one_line_in_a_narrow_terminal(tmp_path):
    results = write_results(
        tmp_path / "results", [{"competition_id": "c", "seed": s} for s in range(3)]
    )
    done = mleray("status", str(results), env={"COLUMNS": "60"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"{results}: 3 trials, 3 attempts"


def test_agents_table_keeps_descriptions_readable_in_80_columns():
    done = mleray("agents", "list", env={"COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    assert max(map(len, done.stdout.splitlines())) <= 80
    assert "A random forest on" in done.stdout  # not a word or two per line
