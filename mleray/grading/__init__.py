"""Grading: metrics, submission validation, `grade_submission` and medal thresholds.

A pure function of files: imports neither ray, docker, nor the sandbox or actors.
"""

from mleray.grading.grade import MAX_SUBMISSION_BYTES, grade_submission
from mleray.grading.medals import decide_medals, load_leaderboard, medal_thresholds
from mleray.grading.metrics import METRICS, Metric, get_metric
from mleray.grading.report import GradeReport, MedalThresholds
from mleray.grading.validate import ValidationResult, validate_submission

__all__ = [
    "GradeReport", "MAX_SUBMISSION_BYTES", "METRICS", "MedalThresholds", "Metric", "ValidationResult",
    "decide_medals", "get_metric", "grade_submission", "load_leaderboard", "medal_thresholds",
    "validate_submission",
]
