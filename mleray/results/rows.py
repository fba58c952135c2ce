"""Building result rows from what a trial attempt returned and how it was graded.

The store builds every row itself (through `ResultWriter.record_final` and
`record_unfinished`), so no caller edits a row after it is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mleray import __version__
from mleray.errors import FailureKind
from mleray.results.model_columns import model_usage_columns
from mleray.results.schema import grade_columns

if TYPE_CHECKING:  # plain data types only; importing them here would not pull in Ray
    from mleray.actors.outcome import TrialOutcome
    from mleray.grading.report import GradeReport
    from mleray.plan import Trial


def _identity(trial: Trial, attempt: int) -> dict:
    return {
        "trial_id": trial.trial_id,
        "sweep": trial.sweep,
        "competition_id": trial.competition_id,
        "agent": trial.agent,
        "model": trial.model,
        "seed": trial.seed,
        "attempt": attempt,
    }


def build_trial_row(
    trial: Trial,
    outcome: TrialOutcome,
    report: GradeReport | None,
    grade_error: str | None = None,
) -> dict:
    """One TRIAL_SCHEMA row: identity, outcome, placement and usage, grade, versions, and
    what the model gateway counted.
    `grade_error`, when given, says why there is no report (grading itself failed)."""
    placement = outcome.placement
    grade = grade_columns(report)
    if grade_error is not None:
        grade["grade_error"] = grade_error
    return {
        **_identity(trial, outcome.attempt),
        "status": FailureKind(outcome.status).value,  # a member or its value: stored as str
        "error": outcome.error,
        "exit_code": outcome.exit_code,
        "sandbox": outcome.sandbox or trial.sandbox,
        "node_id": placement.node_id,
        "node_ip": placement.node_ip,
        "gpu_ids": ",".join(placement.gpu_ids),
        "gpu_share": trial.gpus,
        "cpus": trial.cpus,
        "memory_bytes": trial.memory_bytes,
        "time_limit": trial.time_limit,
        "started_at": outcome.started_at,
        "finished_at": outcome.finished_at,
        "wall_seconds": outcome.wall_seconds,
        "gpu_seconds": trial.gpus * outcome.wall_seconds,
        "cpu_seconds": outcome.cpu_seconds,
        "peak_memory_bytes": outcome.peak_memory_bytes,
        **grade,
        "mleray_version": __version__,
        "image_id": outcome.image_id,
        "kwargs": trial.kwargs_json,
        **model_usage_columns(outcome.model_usage),
    }


def build_snapshot_row(trial: Trial, attempt: int, elapsed: float, report: GradeReport) -> dict:
    """One SNAPSHOT_SCHEMA row: the grade of the submission an attempt had at `elapsed`."""
    return {**_identity(trial, attempt), "elapsed_seconds": elapsed, **grade_columns(report)}
