"""The competitions CLI: list/show/prepare/grade output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from tests.helpers.cli import registered_app

app = registered_app()

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_list_json_names_every_builtin(builtin_data):
    result = invoke("competitions", "list", "--json")
    assert result.exit_code == 0, result.output
    records = {r["id"]: r for r in json.loads(result.stdout)}
    assert {"digits-accuracy", "breast-cancer-auc", "spaceship-titanic"} <= set(records)
    assert records["digits-accuracy"]["prepared"] is True
    assert records["spaceship-titanic"]["prepared"] is False


def test_list_table(builtin_data):
    result = invoke("competitions", "list")
    assert result.exit_code == 0 and "diabetes-rmse" in result.stdout and "rmse" in result.stdout


def test_show_json_has_config_fields_and_paths(builtin_data):
    result = invoke("competitions", "show", "breast-cancer-auc", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["metric"] == "roc_auc" and shown["target_columns"] == ["malignant"]
    assert shown["prepared"] is True
    assert shown["answers_path"] == str(builtin_data / "breast-cancer-auc" / "private" / "test.csv")
    assert shown["sample_submission_path"] == str(
        builtin_data / "breast-cancer-auc" / "public" / "sample_submission.csv"
    )
    for key in (
        "public_dir",
        "private_dir",
        "raw_dir",
        "leaderboard_path",
        "description_path",
        "id_column",
    ):
        assert key in shown


def test_unknown_competition_is_exit_2_with_one_line():
    for args in (
        ["competitions", "show", "nope"],
        ["grade", "--competition", "nope", "x.csv"],
        ["prepare", "nope"],
        ["prepare", "--split", "nope"],
    ):
        result = invoke(*args)
        assert result.exit_code == 2, args
        assert result.stderr.count("\n") == 1 and "nope" in result.stderr


def test_prepare_needs_ids_or_a_split():
    for args in (["prepare"], ["prepare", "digits-accuracy", "--split", "builtin"]):
        result = invoke(*args)
        assert result.exit_code == 2 and "--split" in result.stderr


def test_grade_unprepared_is_exit_2_naming_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("MLERAY_DATA_DIR", str(tmp_path))
    result = invoke("grade", "--competition", "digits-accuracy", str(tmp_path / "s.csv"))
    assert result.exit_code == 2
    assert "run `mleray prepare digits-accuracy`" in result.stderr


def test_grade_json_valid_and_invalid_both_exit_0(builtin_data, tmp_path):
    sample = builtin_data / "digits-accuracy" / "public" / "sample_submission.csv"
    result = invoke("grade", "--competition", "digits-accuracy", str(sample), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["valid_submission"] is True and report["any_medal"] is False
    bad = tmp_path / "bad.csv"
    bad.write_text("id,wrong\n1,2\n")
    result = invoke("grade", "--competition", "digits-accuracy", str(bad), "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["valid_submission"] is False and report["score"] is None and report["error"]
    result = invoke("grade", "-c", "digits-accuracy", str(tmp_path / "missing.csv"))
    assert result.exit_code == 0 and "submission_exists" in result.stdout


def test_prepare_ids_reports_each_and_is_idempotent(tmp_path, monkeypatch):
    monkeypatch.setenv("MLERAY_DATA_DIR", str(tmp_path))
    result = invoke("prepare", "diabetes-rmse", "digits-accuracy")
    assert result.exit_code == 0, result.output
    assert (
        "diabetes-rmse: prepared in" in result.stdout
        and "digits-accuracy: prepared in" in result.stdout
    )
    again = invoke("prepare", "diabetes-rmse")
    assert again.exit_code == 0 and "already prepared" in again.stdout
    forced = invoke("prepare", "diabetes-rmse", "--force")
    assert "diabetes-rmse: prepared in" in forced.stdout


def test_prepare_a_kaggle_competition_without_credentials_fails_cleanly(tmp_path, monkeypatch):
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / ".kaggle"))
    monkeypatch.setenv("MLERAY_DATA_DIR", str(tmp_path / "data"))
    result = invoke("prepare", "spaceship-titanic")
    assert result.exit_code == 2
    assert "Kaggle credentials not found" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.slow
def test_prepare_split_builtin_offline_in_under_a_minute(tmp_path):
    """The real command in a fresh process, no network needed (MLERAY_DATA_DIR is fresh)."""
    env = {
        **os.environ,
        "MLERAY_DATA_DIR": str(tmp_path),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mleray", "prepare", "--split", "builtin"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("prepared in") >= 6
    assert elapsed < 60, elapsed
