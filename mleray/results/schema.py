"""The result tables' Arrow schemas, defined once, by column group.

A trial row is IDENTITY + OUTCOME + PLACEMENT + GRADE + VERSIONS + MODELS (the model
gateway's usage, `mleray.results.model_columns`); a snapshot row is
IDENTITY + elapsed_seconds + GRADE. Parquet stores statuses as FailureKind values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from mleray.results.model_columns import MODELS

if TYPE_CHECKING:  # a plain data type; importing it here would not pull in Ray
    from mleray.grading.report import GradeReport

_TS = pa.timestamp("us", tz="UTC")

IDENTITY = [
    pa.field("trial_id", pa.string(), nullable=False),
    pa.field("sweep", pa.string(), nullable=False),
    pa.field("competition_id", pa.string(), nullable=False),
    pa.field("agent", pa.string(), nullable=False),
    pa.field("model", pa.string()),
    pa.field("seed", pa.int64(), nullable=False),
    pa.field("attempt", pa.int64(), nullable=False),
]

OUTCOME = [
    pa.field("status", pa.string(), nullable=False),  # a FailureKind value
    pa.field("error", pa.string()),  # why the run failed, if it did
    pa.field("exit_code", pa.int64()),
]

PLACEMENT = [
    pa.field("sandbox", pa.string()),
    pa.field("node_id", pa.string()),
    pa.field("node_ip", pa.string()),
    pa.field("gpu_ids", pa.string()),  # comma-separated ids Ray granted, "" for none
    pa.field("gpu_share", pa.float64()),  # num_gpus the actor reserved (fractional)
    pa.field("cpus", pa.float64()),
    pa.field("memory_bytes", pa.int64()),
    pa.field("time_limit", pa.float64()),
    pa.field("started_at", _TS),
    pa.field("finished_at", _TS),
    pa.field("wall_seconds", pa.float64()),
    pa.field("gpu_seconds", pa.float64()),  # gpu_share × wall_seconds
    pa.field("cpu_seconds", pa.float64()),  # container CPU time
    pa.field("peak_memory_bytes", pa.int64()),
]

GRADE = [  # every GradeReport field; its `error` is stored as `grade_error`
    pa.field("score", pa.float64()),
    pa.field("gold_threshold", pa.float64()),
    pa.field("silver_threshold", pa.float64()),
    pa.field("bronze_threshold", pa.float64()),
    pa.field("median_threshold", pa.float64()),
    pa.field("any_medal", pa.bool_()),
    pa.field("gold_medal", pa.bool_()),
    pa.field("silver_medal", pa.bool_()),
    pa.field("bronze_medal", pa.bool_()),
    pa.field("above_median", pa.bool_()),
    pa.field("submission_exists", pa.bool_()),
    pa.field("valid_submission", pa.bool_()),
    pa.field("is_lower_better", pa.bool_()),
    pa.field("grade_error", pa.string()),
    pa.field("graded_at", _TS),
]

VERSIONS = [
    pa.field("mleray_version", pa.string()),
    pa.field("image_id", pa.string()),
    pa.field("kwargs", pa.string()),  # the agent kwargs as JSON
]

TRIAL_SCHEMA = pa.schema(IDENTITY + OUTCOME + PLACEMENT + GRADE + VERSIONS + MODELS)

SNAPSHOT_SCHEMA = pa.schema(IDENTITY + [pa.field("elapsed_seconds", pa.float64())] + GRADE)


def grade_columns(report: GradeReport | None) -> dict:
    """The GRADE columns of a row for a report (all null for none)."""
    if report is None:
        return {f.name: None for f in GRADE}
    values = report.to_dict()
    values["grade_error"] = values.pop("error")
    values.pop("competition_id", None)
    return {f.name: values.get(f.name) for f in GRADE}
