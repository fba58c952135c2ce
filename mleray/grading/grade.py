"""`grade_submission`: score a submission file against a competition's private answers and
rank it on the competition's leaderboard, as MLE-bench's `grade_csv` does.

A bad submission never raises: it is a report with `valid_submission=False` and an `error`
naming what is wrong. A competition that cannot be graded at all (answers not prepared,
leaderboard or config broken) raises NotPreparedError / SpecError.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from mleray.competition import Competition
from mleray.errors import NotPreparedError, SpecError
from mleray.grading import validate
from mleray.grading.content_key import content_digest
from mleray.grading.custom import load_answers, load_grader, run_grader
from mleray.grading.fast_csv import AnswerIds, answer_ids, fast_predictions
from mleray.grading.medals import (
    decide_medals,
    load_leaderboard,
    medal_thresholds,
    resolve_lower_is_better,
    round_score,
)
from mleray.grading.metrics import Metric, ValueKind, get_metric
from mleray.grading.report import GradeReport, MedalThresholds
from mleray.grading.validate import SubmissionError

MAX_SUBMISSION_BYTES = validate.DEFAULT_MAX_BYTES  # or SIZE_FACTOR x the answers, if larger


@dataclass(frozen=True)
class Answers:
    """Private answers parsed for a registry metric: every cell as written, plus y_true."""

    path: Path
    frame: pd.DataFrame
    id_column: str
    ids: pd.Series
    target_columns: tuple[str, ...]
    y_true: np.ndarray
    label_kind: str | None = None  # label metrics: "number", "text" or "mixed" answers
    fast_ids: AnswerIds | None = None  # the fast path's view of the ids (None: label metrics)


def grade_submission(competition: Competition, submission_path) -> GradeReport:
    """Grade one submission file (None or a missing path: no submission)."""
    leaderboard = load_leaderboard(competition.leaderboard_path)
    metric = get_metric(competition.metric) if competition.metric else None
    thresholds = medal_thresholds(leaderboard, resolve_lower_is_better(competition, leaderboard))
    score_file = _scorer(competition, metric)
    exists = submission_path is not None and os.path.lexists(submission_path)
    score, error = None, None
    if not exists:
        error = f"no submission file{f' at {submission_path}' if submission_path else ''}"
    else:
        try:
            score = round_score(score_file(Path(submission_path)))
        except SubmissionError as exc:
            error = str(exc)
    return build_report(competition.id, score, error, thresholds, submission_exists=exists)


def build_report(
    competition_id: str,
    score: float | None,
    error: str | None,
    thresholds: MedalThresholds,
    submission_exists: bool,
) -> GradeReport:
    medals = decide_medals(score, thresholds)
    return GradeReport(
        competition_id=competition_id,
        score=score,
        gold_threshold=thresholds.gold,
        silver_threshold=thresholds.silver,
        bronze_threshold=thresholds.bronze,
        median_threshold=thresholds.median,
        any_medal=medals.any_medal,
        gold_medal=medals.gold_medal,
        silver_medal=medals.silver_medal,
        bronze_medal=medals.bronze_medal,
        above_median=medals.above_median,
        submission_exists=submission_exists,
        valid_submission=score is not None,
        is_lower_better=thresholds.lower_is_better,
        error=error,
        graded_at=datetime.now(UTC),
    )


def _scorer(competition: Competition, metric: Metric | None):
    """A function path -> raw score, with the answers loaded once (config errors raise here)."""
    answers_path = competition.answers_path
    if not answers_path.is_file():
        raise NotPreparedError(
            f"answers for competition {competition.id} not found at {answers_path}; "
            "prepare the competition first"
        )
    max_bytes = max(MAX_SUBMISSION_BYTES, validate.SIZE_FACTOR * answers_path.stat().st_size)
    if competition.grader:
        load_grader(competition.grader, Path(competition.root))  # a broken grader is a config error
        answers = _grader_answers(answers_path, content_digest(answers_path))

        def score_with_grader(path: Path) -> float:
            text = validate.read_text(path, max_bytes)
            return run_grader(competition.grader, Path(competition.root), text, str(path), answers)

        return score_with_grader
    if metric is None:
        raise SpecError(f"competition {competition.id}: config needs a metric or a grader")
    parsed = load_metric_answers(competition, metric)

    def score_with_metric(path: Path) -> float:
        text = validate.read_text(path, max_bytes)
        y_pred = fast_predictions(  # a well-formed file, without a Python object per cell
            text.encode(), metric, parsed.id_column, parsed.target_columns, parsed.fast_ids
        )
        if y_pred is not None:
            return _score(metric, parsed.y_true, y_pred, str(path))
        frame = validate.parse_csv(text, str(path), validate.column_cap(len(parsed.frame.columns)))
        return score_frame(metric, parsed, frame, str(path))

    return score_with_metric


@functools.lru_cache(maxsize=4)
def _grader_answers(path: Path, content_digest: str):
    return load_answers(path)  # graders get a copy (or, in a forked child, their own)


def load_metric_answers(competition: Competition, metric: Metric) -> Answers:
    return _parse_metric_answers(competition, metric, content_digest(competition.answers_path))


@functools.lru_cache(maxsize=4)
def _parse_metric_answers(competition: Competition, metric: Metric, content_digest: str) -> Answers:
    path = competition.answers_path
    try:
        frame = validate.read_csv_strict(path, max_bytes=2**62, max_columns=None)
    except SubmissionError as exc:
        raise SpecError(f"answers: {exc}") from None
    id_column = competition.id_column
    if id_column not in frame.columns:
        raise SpecError(f"answers {path} have no id column {id_column!r} (competition.id_column)")
    targets = tuple(str(c) for c in frame.columns if c != id_column)
    if competition.target_columns and set(competition.target_columns) != set(targets):
        raise SpecError(
            f"answers {path} have target columns {list(targets)}, "
            f"but the competition declares {list(competition.target_columns)}"
        )
    if metric.single_column and len(targets) != 1:
        raise SpecError(
            f"metric {metric.name} needs exactly one target column; "
            f"answers {path} have {len(targets)}"
        )
    ids = list(frame[id_column])
    keys = pd.Series([str(v).strip() for v in ids])
    if keys.duplicated().any():
        raise SpecError(
            f"answers {path}: duplicate ids {list(keys[keys.duplicated()].unique()[:5])} "
            f"in column {id_column!r}"
        )
    try:
        y_true = _predictions(metric, frame, targets, str(path), ids)
    except SubmissionError as exc:
        raise SpecError(f"answers: {exc}") from None
    _check_scoreable(metric, y_true, path)
    labels = metric.accepts is ValueKind.LABEL
    kind = _label_kind(y_true) if labels else None
    fast_ids = None if labels else answer_ids(keys)  # the fast path takes no label metric
    return Answers(path, frame, id_column, frame[id_column], targets, y_true, kind, fast_ids)


def _label_kind(y_true: np.ndarray) -> str:
    """Whether the answers' labels are all numbers, none a number, or some of each."""
    if y_true.dtype.kind == "f":
        return "number"
    numeric = pd.to_numeric(pd.Series(y_true), errors="coerce").notna()
    return "mixed" if numeric.any() else "text"


def _check_scoreable(metric: Metric, y_true: np.ndarray, path: Path) -> None:
    """The answers, graded as a submission, must get a finite (perfect) score."""
    if metric.binary_answers and not np.isin(y_true, (0.0, 1.0)).all():
        raise SpecError(
            f"answers {path}: metric {metric.name} needs 0/1 targets (one-hot for several classes)"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            perfect = metric.score(y_true, y_true)
        except ValueError as exc:
            raise SpecError(f"answers {path} cannot be scored with {metric.name}: {exc}") from None
    if not math.isfinite(perfect):
        why = f" ({caught[0].message})" if caught else ""
        raise SpecError(
            f"answers {path} cannot be scored with {metric.name}: "
            f"they score {perfect} against themselves{why}"
        )


def score_frame(metric: Metric, answers: Answers, frame: pd.DataFrame, name: str) -> float:
    """Check a submission (all cells as text) against the answers, align it by id, score it.
    Values are checked in the submission's own row order, so an error names its row."""
    validate.check_columns(frame, [answers.id_column, *answers.target_columns], name)
    order = validate.check_ids(frame, answers.id_column, answers.ids, name)
    ids = list(frame[answers.id_column])
    y_pred = _predictions(metric, frame, answers.target_columns, name, ids)[order]
    y_true = answers.y_true
    if answers.label_kind is not None:
        column = answers.target_columns[0]
        _check_label_kind(frame[column], answers.label_kind, name, ids)
        if y_pred.dtype != y_true.dtype:  # mixed answers: compare labels as written
            y_true = answers.frame[column].astype(str).str.strip().to_numpy(dtype=object)
            y_pred = frame[column].iloc[order].astype(str).str.strip().to_numpy(dtype=object)
    return _score(metric, y_true, y_pred, name)


def _score(metric: Metric, y_true: np.ndarray, y_pred: np.ndarray, name: str):
    try:
        return metric.score(y_true, y_pred)
    except ValueError as exc:
        raise SubmissionError(
            f"{name}: cannot be scored with {metric.name}: {' '.join(str(exc).split())}"
        ) from None


def _check_label_kind(column: pd.Series, kind: str, name: str, ids: list) -> None:
    """A label of another kind than every answer's cannot be right: text among number labels
    (or a number among text labels) is an invalid submission, as MLE-bench's graders refuse
    mixed label types (scikit-learn: "Mix of label input types"), not a wrong guess."""
    if kind == "mixed":
        return
    text = column.astype(str).str.strip()
    numeric = np.isfinite(pd.to_numeric(text, errors="coerce").to_numpy(dtype=float))
    wrong = np.flatnonzero(~numeric if kind == "number" else numeric)
    if len(wrong):
        row = int(wrong[0])
        what = "is not a number" if kind == "number" else "is a number"
        raise SubmissionError(
            f"{name}: label {validate.quoted(text.iloc[row])} in column "
            f"{validate.quoted(column.name)}{validate.at_row(row, ids)} {what}, "
            f"but the answers' labels are all {'numbers' if kind == 'number' else 'text'}"
        )


def _predictions(
    metric: Metric, frame: pd.DataFrame, targets: tuple[str, ...], name: str, ids: list
) -> np.ndarray:
    """The target columns as the metric takes them: 1-D for one column, else 2-D."""
    if metric.accepts is ValueKind.LABEL:
        labels = validate.label_values(frame[targets[0]], name, ids)
        numbers = pd.to_numeric(pd.Series(labels), errors="coerce").to_numpy(dtype=float)
        return numbers if np.isfinite(numbers).all() else labels
    columns = []
    for column in targets:
        values = validate.numeric_values(
            frame[column], name, ids, probability=metric.accepts is ValueKind.PROBABILITY
        )
        if metric.minimum is not None and (values <= metric.minimum).any():
            row = int(np.flatnonzero(values <= metric.minimum)[0])
            raise SubmissionError(
                f"{name}: value {values[row]:g} in column {column!r} (row {row + 1}, "
                f"id {validate.quoted(ids[row])}) is not above {metric.minimum:g}, "
                f"as {metric.name} needs"
            )
        columns.append(values)
    return columns[0] if len(columns) == 1 else np.column_stack(columns)
