"""Building result-store inputs in tests: trials, outcomes, grade reports, final rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mleray.actors.outcome import Placement, TrialOutcome
from mleray.grading.report import GradeReport
from mleray.plan import plan_trials
from mleray.results import ResultWriter, build_trial_row
from mleray.spec import spec_from_dict

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def make_trials(n_seeds=2):
    spec = spec_from_dict(
        {
            "name": "r",
            "competitions": ["breast-cancer-auc"],
            "agents": ["noop"],
            "seeds": n_seeds,
            "resources": {"gpus": 0.5},
            "sandbox": "local",
        },
        check=False,
    )
    return plan_trials(spec)


def make_outcome(trial, status="completed", attempt=1, wall=10.0, start=T0, gpu_ids=("0",)):
    return TrialOutcome(
        trial_id=trial.trial_id,
        attempt=attempt,
        status=status,
        error=None if status == "completed" else f"{status} happened",
        started_at=start,
        finished_at=start + timedelta(seconds=wall),
        wall_seconds=wall,
        exit_code=0,
        cpu_seconds=wall / 2,
        peak_memory_bytes=1000,
        submission=b"id,p\n1,0.5\n",
        placement=Placement(node_id="n1", node_ip="10.0.0.1", gpu_ids=gpu_ids),
        sandbox="local",
        image_id="img",
    )


def make_report(score=0.9, valid=True):
    return GradeReport(
        competition_id="breast-cancer-auc",
        score=score if valid else None,
        gold_threshold=0.99,
        silver_threshold=0.98,
        bronze_threshold=0.97,
        median_threshold=0.9,
        any_medal=False,
        gold_medal=False,
        silver_medal=False,
        bronze_medal=False,
        above_median=score > 0.9,
        submission_exists=True,
        valid_submission=valid,
        is_lower_better=False,
        error=None if valid else "bad column",
        graded_at=T0 + timedelta(minutes=1),
    )


def write_final(root, trial, outcome, report=None):
    """The trial row of a graded final attempt, and nothing else (no submission file)."""
    ResultWriter(root).write_trial(
        build_trial_row(trial, outcome, report or make_report()), final=True
    )
