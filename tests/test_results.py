"""The result store: atomic files, one row per trial, every column filled, loaders."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from mleray.cli.tables import json_records
from mleray.errors import FailureKind, NotFoundError
from mleray.results import (
    SNAPSHOT_SCHEMA,
    TRIAL_SCHEMA,
    ResultWriter,
    attempts_so_far,
    build_snapshot_row,
    build_trial_row,
    final_trial_ids,
    load,
    load_attempts,
    load_snapshots,
    scan_final_trials,
)
from mleray.results.model_columns import MODELS
from tests.helpers.results import T0, make_outcome, make_report, make_trials, write_final


def test_row_fills_every_schema_column():
    trial = make_trials()[0]
    row = build_trial_row(trial, make_outcome(trial), make_report(valid=False))
    assert list(row) == TRIAL_SCHEMA.names
    assert (
        row["grade_error"] == "bad column"
        and row["score"] is None
        and row["valid_submission"] is False
    )
    assert (
        row["gpu_seconds"] == pytest.approx(5.0)
        and row["gpu_ids"] == "0"
        and row["gpu_share"] == 0.5
    )
    snap = build_snapshot_row(trial, 1, 3.5, make_report())
    assert list(snap) == SNAPSHOT_SCHEMA.names


def test_write_and_load_one_row_per_trial(tmp_path):
    trials = make_trials(3)
    for trial in trials:
        write_final(tmp_path, trial, make_outcome(trial))
    df = load(tmp_path)
    assert len(df) == 3 and set(df["trial_id"]) == {t.trial_id for t in trials}
    assert list(df.columns) == TRIAL_SCHEMA.names
    assert str(df["started_at"].dt.tz) == "UTC"
    # the model gateway's columns are null for a trial that used no gateway model
    no_gateway = [f.name for f in MODELS]
    filled = df.drop(columns=["model", "error", "grade_error", *no_gateway])
    assert not filled.isna().any().any()
    # other readers see the same folder
    assert len(pd.read_parquet(tmp_path / "trials")) == 3
    assert final_trial_ids(tmp_path) == {t.trial_id for t in trials}


def test_leftover_temp_and_unreadable_files_are_ignored(tmp_path):
    trial = make_trials()[0]
    write_final(tmp_path, trial, make_outcome(trial))
    (tmp_path / "trials" / ".x-1.parquet.123.tmp").write_bytes(b"PAR1 half written")
    assert len(load(tmp_path)) == 1
    (tmp_path / "trials" / "garbage-1.parquet").write_bytes(b"not parquet at all")
    with pytest.warns(UserWarning, match="unreadable"):
        df = load(tmp_path)
    assert len(df) == 1


def test_a_foreign_parquet_file_is_skipped_not_read_as_null_rows(tmp_path):
    trial = make_trials()[0]
    write_final(tmp_path, trial, make_outcome(trial))
    pd.DataFrame({"x": [1, 2]}).to_parquet(tmp_path / "trials" / "other-program.parquet")
    with pytest.warns(UserWarning, match="not an mleray result file"):
        df = load(tmp_path)
    assert df["trial_id"].tolist() == [trial.trial_id]
    with pytest.warns(UserWarning, match="not an mleray result file"):
        assert final_trial_ids(tmp_path) == {trial.trial_id}


def test_a_second_scan_reads_only_new_trial_files(tmp_path, monkeypatch):
    from mleray.results import reader

    first, second, third = make_trials(3)
    write_final(tmp_path, first, make_outcome(first))
    write_final(tmp_path, second, make_outcome(second, status="infra_error"))
    scan = scan_final_trials(tmp_path)
    assert scan.ids == {first.trial_id}
    read = []
    real = reader._read_folder
    monkeypatch.setattr(
        reader,
        "_read_folder",
        lambda *a, **k: read.append(a[3] if len(a) > 3 else None) or real(*a, **k),
    )
    assert scan_final_trials(tmp_path, since=scan) == scan and read == [frozenset()]
    write_final(tmp_path, third, make_outcome(third))
    later = scan_final_trials(tmp_path, since=scan)
    assert read[-1] == {f"{third.trial_id}-1.parquet"}
    assert later.ids == {first.trial_id, third.trial_id} and later == scan_final_trials(tmp_path)
    # a rerun completing an infra_error trial retires its file: a file gone, a full read
    write_final(tmp_path, second, make_outcome(second, attempt=2))
    last = scan_final_trials(tmp_path, since=later)
    assert read[-1] is None and last.ids == {first.trial_id, second.trial_id, third.trial_id}


def test_a_file_given_as_results_folder_is_one_line_error(tmp_path):
    (tmp_path / "results.csv").write_text("x\n")
    with pytest.raises(NotFoundError, match="is not a results folder"):
        load(tmp_path / "results.csv")


def test_duplicates_keep_latest_attempt_and_say_so(tmp_path):
    trial = make_trials()[0]
    # written out of order, as a crash between writing attempt 2 and retiring attempt 1 leaves them
    write_final(tmp_path, trial, make_outcome(trial, status="completed", attempt=2))
    write_final(tmp_path, trial, make_outcome(trial, status="infra_error", attempt=1))
    assert final_trial_ids(tmp_path) == {trial.trial_id}
    df = load(tmp_path)  # an infra_error superseded by a rerun: expected, no warning
    assert len(df) == 1 and df.loc[0, "attempt"] == 2 and df.attrs["superseded_rows"] == 1
    write_final(tmp_path, trial, make_outcome(trial, status="agent_error", attempt=3))
    with pytest.warns(UserWarning, match="duplicate final rows"):
        df = load(tmp_path)
    assert len(df) == 1 and df.loc[0, "attempt"] == 3


def test_infra_error_only_trial_is_not_final(tmp_path):
    trial = make_trials()[0]
    write_final(tmp_path, trial, make_outcome(trial, status="infra_error"))
    assert final_trial_ids(tmp_path) == set()
    assert len(load(tmp_path)) == 1


def test_attempts_and_snapshots(tmp_path):
    trial = make_trials()[0]
    writer = ResultWriter(tmp_path)
    writer.write_trial(
        build_trial_row(trial, make_outcome(trial, "infra_error", attempt=1), None), final=False
    )
    writer.write_snapshots([build_snapshot_row(trial, 1, 1.0, make_report(0.5))])  # a lost attempt
    writer.write_snapshots(
        [build_snapshot_row(trial, 2, t, make_report(s)) for t, s in [(9.0, 0.8), (2.0, 0.6)]]
    )
    write_final(tmp_path, trial, make_outcome(trial, attempt=2))
    assert attempts_so_far(tmp_path) == {trial.trial_id: 2}
    attempts = load_attempts(tmp_path)
    assert sorted(attempts["final"].tolist()) == [False, True]
    snaps = load_snapshots(tmp_path)
    assert snaps["elapsed_seconds"].tolist() == [2.0, 9.0] and snaps["score"].tolist() == [0.6, 0.8]
    assert set(snaps["attempt"]) == {2}


def test_missing_folder_is_one_line_error(tmp_path):
    with pytest.raises(NotFoundError, match="does not exist"):
        load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    assert (
        len(load(tmp_path / "empty")) == 0
        and list(load(tmp_path / "empty").columns) == TRIAL_SCHEMA.names
    )


def test_json_records_are_plain(tmp_path):
    import json

    trial = make_trials()[0]
    write_final(tmp_path, trial, make_outcome(trial))
    record = json_records(load(tmp_path))[0]
    text = json.dumps(record)
    assert record["model"] is None and record["score"] == 0.9 and isinstance(record["seed"], int)
    assert record["started_at"].startswith("2026-01-01T12:00:00") and "NaN" not in text


def test_crash_mid_write_leaves_no_visible_file(tmp_path):
    """A writer killed inside the write leaves only a dot-named temp file, which load()
    ignores: the trial simply has no row."""
    trial = make_trials()[0]
    script = textwrap.dedent(f"""
        import os, pyarrow.parquet as pq
        import mleray.results as results
        def dying_write(table, handle, **kw):
            handle.write(b"PAR1 partial")
            handle.flush()
            os._exit(9)
        pq.write_table = dying_write
        from tests.helpers.results import make_trials, make_outcome, write_final
        t = make_trials()[0]
        write_final({str(tmp_path)!r}, t, make_outcome(t))
    """)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parent.parent), os.environ.get("PYTHONPATH", "")]
        ),
    }
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    leftovers = list((tmp_path / "trials").iterdir())
    assert leftovers and all(p.name.startswith(".") for p in leftovers)
    assert len(load(tmp_path)) == 0 and final_trial_ids(tmp_path) == set()
    write_final(tmp_path, trial, make_outcome(trial))
    assert len(load(tmp_path)) == 1
    assert pq.read_table(next((tmp_path / "trials").glob("[!.]*.parquet"))).num_rows == 1


def test_attempt_numbers_left_by_a_killed_driver_are_not_reused(tmp_path):
    # killed after writing an attempt's snapshots/artifacts but before its trial row: the
    # rerun's attempt must get a new number, or it would inherit the dead attempt's files
    first, second = make_trials()
    writer = ResultWriter(tmp_path)
    writer.write_snapshots([build_snapshot_row(first, 1, 1.0, make_report(0.5))])
    writer.write_artifacts(second.trial_id, 3, b"archive")
    writer.write_submission(second.trial_id, 4, b"id,p\n")
    (tmp_path / "trials").mkdir()
    (tmp_path / "trials" / f".{first.trial_id}-7.parquet.123.tmp").write_bytes(b"torn")
    assert attempts_so_far(tmp_path) == {first.trial_id: 1, second.trial_id: 4}


def test_a_rerun_final_row_retires_the_infra_error_row(tmp_path):
    # readers of trials/ (DuckDB, `mleray status`) must see one row per trial
    from mleray.ledger import ledger_for

    first, second = make_trials()
    write_final(tmp_path, first, make_outcome(first, status="infra_error", attempt=2))
    write_final(tmp_path, first, make_outcome(first, status="completed", attempt=3))
    assert [p.name for p in (tmp_path / "trials").iterdir()] == [f"{first.trial_id}-3.parquet"]
    assert ledger_for(tmp_path).trials == 1
    assert sorted(load_attempts(tmp_path)["status"]) == ["completed", "infra_error"]
    # a crash right after the new row: both stay until the next run retires the old one
    write_final(tmp_path, second, make_outcome(second, status="agent_error", attempt=2))
    write_final(tmp_path, second, make_outcome(second, status="infra_error", attempt=1))
    assert ResultWriter(tmp_path).retire_superseded() == 1
    assert len(list((tmp_path / "trials").iterdir())) == 2 and len(load(tmp_path)) == 2
    assert ledger_for(tmp_path).by_status["infra_error"] == 0


def test_record_final_stores_every_file_then_the_row(tmp_path):
    from mleray.grading.report import AttemptGrades

    trial = make_trials()[0]
    outcome = replace(make_outcome(trial, attempt=2), artifacts=b"archive")
    grades = AttemptGrades(make_report(0.7), ((5.0, make_report(0.6)), (1.0, make_report(0.4))))
    ResultWriter(tmp_path).record_final(trial, outcome, grades)
    assert (tmp_path / "submissions" / f"{trial.trial_id}-2.csv").read_bytes() == b"id,p\n1,0.5\n"
    assert (tmp_path / "artifacts" / f"{trial.trial_id}-2.tar.gz").read_bytes() == b"archive"
    assert load_snapshots(tmp_path)["score"].tolist() == [0.4, 0.6]
    row = load(tmp_path).iloc[0]
    assert row["score"] == 0.7 and row["status"] == "completed" and row["node_ip"] == "10.0.0.1"
    assert pd.isna(row["grade_error"]) and row["attempt"] == 2


def test_record_final_keeps_why_grading_failed(tmp_path):
    from mleray.grading.report import AttemptGrades

    trial = make_trials()[0]
    outcome = make_outcome(trial, status=FailureKind.AGENT_ERROR)  # a member, not its value
    ResultWriter(tmp_path).record_final(
        trial, outcome, AttemptGrades(final=None, error="grading failed: node lost")
    )
    row = load(tmp_path).iloc[0]
    assert row["status"] == "agent_error" and row["grade_error"] == "grading failed: node lost"
    assert pd.isna(row["score"]) and final_trial_ids(tmp_path) == {trial.trial_id}
    assert not (tmp_path / "snapshots").exists()


def test_record_unfinished_is_accounting_only(tmp_path):
    trial = make_trials()[0]
    writer = ResultWriter(tmp_path)
    writer.record_unfinished(trial, make_outcome(trial, status="infra_error", start=T0))
    writer.record_unfinished(trial, make_outcome(trial, status="cancelled", attempt=2))
    assert len(load(tmp_path)) == 0 and final_trial_ids(tmp_path) == set()
    attempts = load_attempts(tmp_path)
    assert sorted(attempts["status"]) == ["cancelled", "infra_error"]
    assert not attempts["final"].any() and attempts["score"].isna().all()
    assert not (tmp_path / "submissions").exists()  # nothing was graded: nothing kept
