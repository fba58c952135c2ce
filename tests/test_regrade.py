"""`mleray regrade`: grades are redone from stored submissions, without rerunning agents."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from mleray.actors.outcome import TrialOutcome
from mleray.plan import plan_trials
from mleray.registry import get_competition
from mleray.regrade import regrade
from mleray.results import ResultWriter, build_trial_row, load
from mleray.spec import spec_from_dict

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def trials(n):
    spec = spec_from_dict(
        {
            "name": "rg",
            "competitions": ["breast-cancer-auc"],
            "agents": ["noop"],
            "seeds": n,
            "sandbox": "local",
        },
        check=False,
    )
    return plan_trials(spec)


def write_ungraded(root, trial, status="completed", submission=None):
    """A final row whose grading failed (as when the answers were missing on the grading node)."""
    outcome = TrialOutcome(
        trial_id=trial.trial_id,
        attempt=1,
        status=status,
        error=None,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=5),
        wall_seconds=5.0,
        submission=submission,
        sandbox="local",
    )
    row = build_trial_row(trial, outcome, None)
    row.update(grade_error="answers missing on this node", submission_exists=True)
    writer = ResultWriter(root)
    writer.write_trial(row, final=True)
    if submission is not None:
        writer.write_submission(trial.trial_id, 1, submission)


def test_regrade_fills_failed_grades_from_stored_submissions(tmp_path, builtin_data):
    comp = get_competition("breast-cancer-auc")
    gold, sample = comp.answers_path.read_bytes(), comp.sample_submission_path.read_bytes()
    t_gold, t_sample, t_unstored, t_crashed = trials(4)
    write_ungraded(tmp_path, t_gold, submission=gold)
    write_ungraded(tmp_path, t_sample, submission=sample)
    write_ungraded(tmp_path, t_unstored)  # written before submissions were kept
    write_ungraded(tmp_path, t_crashed, status="infra_error")

    summary = regrade(tmp_path, only_failed=True)
    assert summary.regraded == 2 and sorted(summary.changed) == sorted(
        [t_gold.trial_id, t_sample.trial_id]
    )
    assert summary.no_stored_submission == [t_unstored.trial_id] and summary.skipped == 1
    df = load(tmp_path).set_index("trial_id")
    assert df.loc[t_gold.trial_id, "gold_medal"] and df.loc[t_gold.trial_id, "score"] == 1.0
    assert (
        df.loc[t_sample.trial_id, "valid_submission"] and not df.loc[t_sample.trial_id, "any_medal"]
    )
    assert df.loc[t_unstored.trial_id, "grade_error"] == "answers missing on this node"  # untouched
    assert len(df) == 4

    again = regrade(tmp_path)  # grading is pure: a second pass changes nothing
    assert again.regraded == 2 and again.changed == []


def test_regrade_cli(tmp_path, builtin_data):
    import mleray.cli as cli

    cli._register_commands()
    comp = get_competition("breast-cancer-auc")
    [trial] = trials(1)
    write_ungraded(tmp_path, trial, submission=comp.answers_path.read_bytes())
    result = CliRunner().invoke(cli.app, ["regrade", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["changed"] == [trial.trial_id]
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "mleray", "regrade", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"error: results folder {tmp_path / 'nope'} does not exist"
    ], proc.stderr


def test_regrade_refuses_a_folder_in_use(tmp_path, builtin_data):
    from mleray.errors import MlerayError
    from mleray.results import exclusive

    [trial] = trials(1)
    write_ungraded(tmp_path, trial)
    with exclusive(tmp_path), pytest.raises(MlerayError, match="in use"):
        regrade(tmp_path)
