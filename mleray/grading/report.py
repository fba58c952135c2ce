"""The records grading produces: `MedalThresholds`, `GradeReport` and `AttemptGrades`.

All are small frozen dataclasses so they cross Ray boundaries and land in Arrow rows
unchanged (`GradeReport.to_dict()` gives exactly the result-table columns).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class MedalThresholds:
    gold: float
    silver: float
    bronze: float
    median: float
    lower_is_better: bool


@dataclass(frozen=True)
class GradeReport:
    competition_id: str
    score: float | None
    gold_threshold: float | None
    silver_threshold: float | None
    bronze_threshold: float | None
    median_threshold: float | None
    any_medal: bool
    gold_medal: bool
    silver_medal: bool
    bronze_medal: bool
    above_median: bool
    submission_exists: bool
    valid_submission: bool
    is_lower_better: bool | None
    error: str | None
    graded_at: datetime  # UTC, timezone-aware

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]


@dataclass(frozen=True)
class AttemptGrades:
    """Everything grading says about one attempt: the final submission's report, one
    (elapsed seconds, report) per anytime snapshot, and why grading failed when it did
    (then `final` is None). The result store builds the attempt's rows from this alone."""

    final: GradeReport | None
    snapshots: tuple[tuple[float, GradeReport], ...] = ()
    error: str | None = None
