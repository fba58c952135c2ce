"""grade_submission end to end on tiny competitions built in tmp dirs: every metric, id
alignment, custom graders, medals in the report, and configuration errors."""

from __future__ import annotations

import math
import time
from datetime import UTC
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mleray.errors import NotPreparedError, SpecError
from mleray.grading import METRICS, GradeReport, get_metric, grade_submission
from tests.helpers.competitions import make_competition

RNG = np.random.default_rng(0)
N = 40
IDS = [f"r{i:03d}" for i in range(N)]


def write(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def binary_answers() -> pd.DataFrame:
    return pd.DataFrame({"id": IDS, "target": np.tile([0, 1], N // 2)})


def regression_answers() -> pd.DataFrame:
    return pd.DataFrame({"id": IDS, "y": RNG.uniform(0, 10, N).round(4)})


def label_answers() -> pd.DataFrame:
    return pd.DataFrame({"id": IDS, "label": np.resize(["cat", "dog", "eel"], N)})


def onehot_answers(classes=("a", "b", "c")) -> pd.DataFrame:
    winner = np.arange(N) % len(classes)
    frame = pd.DataFrame({"id": IDS})
    for k, name in enumerate(classes):
        frame[name] = (winner == k).astype(int)
    return frame


ANSWERS = {
    "roc_auc": binary_answers,
    "log_loss": onehot_answers,
    "accuracy": label_answers,
    "f1_macro": label_answers,
    "rmse": regression_answers,
    "mae": regression_answers,
    "rmsle": regression_answers,
    "r2": regression_answers,
}
PERFECT = {
    "roc_auc": 1.0,
    "log_loss": 0.0,
    "accuracy": 1.0,
    "f1_macro": 1.0,
    "rmse": 0.0,
    "mae": 0.0,
    "rmsle": 0.0,
    "r2": 1.0,
}


def test_registry_covers_required_metrics():
    assert set(ANSWERS) <= set(METRICS)
    with pytest.raises(SpecError, match="unknown metric 'auc'"):
        get_metric("auc")


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_answers_graded_as_submission_score_perfectly(tmp_path, name):
    answers = ANSWERS[name]()
    competition = make_competition(tmp_path, answers, metric=name)
    report = grade_submission(competition, competition.answers_path)
    assert report.valid_submission and report.error is None, report.error
    assert report.score == PERFECT[name]
    assert report.gold_medal and report.any_medal and report.above_median


def _shuffled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.iloc[RNG.permutation(len(frame))].reset_index(drop=True)


def test_rows_align_by_id_and_match_sklearn(tmp_path):
    answers = regression_answers()
    predictions = answers.assign(y=answers["y"] + RNG.normal(0, 1, N).round(3))
    expected = {
        "rmse": skm.root_mean_squared_error(answers["y"], predictions["y"]),
        "mae": skm.mean_absolute_error(answers["y"], predictions["y"]),
        "r2": skm.r2_score(answers["y"], predictions["y"]),
    }
    path = write(
        tmp_path / "submission.csv", _shuffled(predictions)[["y", "id"]]
    )  # columns reordered too
    for name, value in expected.items():
        competition = make_competition(tmp_path / name, answers, metric=name)
        report = grade_submission(competition, path)
        assert report.score == round(value, 5), name


def test_rmsle_matches_sklearn(tmp_path):
    answers = regression_answers()
    predictions = answers.assign(y=(answers["y"] * 1.3).round(3))
    competition = make_competition(tmp_path, answers, metric="rmsle")
    report = grade_submission(competition, write(tmp_path / "s.csv", predictions))
    assert report.score == round(skm.root_mean_squared_log_error(answers["y"], predictions["y"]), 5)


@pytest.mark.parametrize(
    "name,fn,lower", [("roc_auc", skm.roc_auc_score, False), ("log_loss", skm.log_loss, True)]
)
def test_binary_probability_metrics_match_sklearn(tmp_path, name, fn, lower):
    answers = binary_answers()
    p = RNG.uniform(0.01, 0.99, N).round(4)
    competition = make_competition(tmp_path, answers, metric=name)
    report = grade_submission(
        competition, write(tmp_path / "s.csv", _shuffled(answers.assign(target=p)))
    )
    assert report.score == round(fn(answers["target"], p), 5)
    assert report.is_lower_better is lower


def test_multiclass_log_loss_normalises_rows_like_kaggle(tmp_path):
    answers = onehot_answers()
    raw = RNG.uniform(0.05, 2.0, (N, 3)).round(3)  # rows do not sum to one
    submission = pd.DataFrame(raw, columns=["a", "b", "c"]).clip(upper=1.0)
    submission.insert(0, "id", IDS)
    competition = make_competition(tmp_path, answers, metric="log_loss")
    report = grade_submission(competition, write(tmp_path / "s.csv", _shuffled(submission)))
    probabilities = submission[["a", "b", "c"]].to_numpy()
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    expected = skm.log_loss(answers[["a", "b", "c"]].to_numpy(), probabilities)
    assert report.valid_submission and report.score == round(expected, 5)
    assert report.is_lower_better is True


def test_labels_accuracy_and_f1(tmp_path):
    answers = label_answers()
    guess = answers.assign(label=np.where(np.arange(N) % 4 == 0, "dog", answers["label"]))
    path = write(tmp_path / "s.csv", _shuffled(guess))
    for name, fn in [
        ("accuracy", skm.accuracy_score),
        ("f1_macro", lambda t, p: skm.f1_score(t, p, average="macro")),
    ]:
        report = grade_submission(make_competition(tmp_path / name, answers, metric=name), path)
        assert report.score == round(fn(answers["label"], guess["label"]), 5)


def test_numeric_labels_compare_as_numbers(tmp_path):
    answers = pd.DataFrame({"id": IDS, "label": np.arange(N) % 3})
    competition = make_competition(tmp_path, answers, metric="accuracy")
    floats = answers.assign(label=answers["label"].astype(float))  # written as 0.0, 1.0, ...
    path = write(tmp_path / "s.csv", floats)
    assert "1.0" in path.read_text()
    assert grade_submission(competition, path).score == 1.0
    text = answers.assign(label=np.where(np.arange(N) == 0, "zero", answers["label"].astype(str)))
    report = grade_submission(competition, write(tmp_path / "t.csv", text))
    assert not report.valid_submission  # text among number labels: see test_mlebench_parity
    assert "label 'zero' in column 'label' (row 1, id 'r000') is not a number" in report.error


def test_numeric_ids_match_when_written_as_floats(tmp_path):
    answers = pd.DataFrame({"id": range(1, N + 1), "y": np.arange(N, dtype=float)})
    competition = make_competition(tmp_path, answers, metric="rmse")
    path = tmp_path / "s.csv"
    path.write_text("id,y\n" + "".join(f"{i}.0,{i - 1}\n" for i in range(N, 0, -1)))
    assert grade_submission(competition, path).score == 0.0


def test_twenty_digit_ids_stay_distinct(tmp_path):
    big = [str(10**19 + i) for i in range(N)]  # adjacent values that float64 would merge
    answers = pd.DataFrame({"id": big, "y": np.arange(N, dtype=float)})
    competition = make_competition(tmp_path, answers, metric="mae")
    report = grade_submission(competition, write(tmp_path / "s.csv", _shuffled(answers)))
    assert report.valid_submission and report.score == 0.0


def test_report_fields_and_medals(tmp_path):
    answers = regression_answers()
    # lower is better; 10 teams -> gold pos 1 (0.5), silver pos 2 (1.0), bronze pos 4 (2.0)
    leaderboard = [0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    competition = make_competition(tmp_path, answers, metric="mae", leaderboard=leaderboard)
    cases = {1.0: "silver_medal", 1.75: "bronze_medal", 3.5: None, 0.25: "gold_medal"}
    for offset, medal in cases.items():
        path = write(tmp_path / "s.csv", answers.assign(y=answers["y"] + offset))
        report = grade_submission(competition, path)
        assert isinstance(report, GradeReport)
        assert report.score == offset
        assert (report.gold_threshold, report.silver_threshold, report.bronze_threshold) == (
            0.5,
            1.0,
            2.0,
        )
        assert report.median_threshold == 3.5 and report.is_lower_better is True
        won = [m for m in ("gold_medal", "silver_medal", "bronze_medal") if getattr(report, m)]
        assert won == ([medal] if medal else []) and report.any_medal == bool(medal)
        assert report.above_median is (offset < 3.5)
        assert report.submission_exists and report.valid_submission
        assert report.graded_at.tzinfo == UTC
    assert list(report.to_dict()) == GradeReport.field_names()


def test_rewritten_answers_are_reloaded(tmp_path):
    answers = regression_answers()
    competition = make_competition(tmp_path, answers, metric="mae")
    path = write(tmp_path / "s.csv", answers)
    assert grade_submission(competition, path).score == 0.0
    shifted = answers.assign(y=answers["y"] + 1.0)
    write(competition.answers_path, shifted)  # same path, moments later
    assert grade_submission(competition, path).score == 1.0


def test_missing_submission_still_reports_thresholds(tmp_path):
    competition = make_competition(tmp_path, regression_answers())
    for path in (tmp_path / "absent.csv", None):
        report = grade_submission(competition, path)
        assert not report.submission_exists and not report.valid_submission
        assert report.score is None and not report.any_medal and not report.above_median
        assert report.gold_threshold is not None and "no submission file" in report.error


GRADER = """
import pandas as pd

def grade(submission, answers):
    # MLE-bench's order: (submission, answers); answers keep their own columns
    assert list(answers.columns) == ["id", "y"], "answers came second"
    if "y" not in submission.columns:
        raise ValueError("Submission must have a `y` column")
    merged = answers.merge(submission, on="id", suffixes=("", "_pred"))
    return float((merged["y"] - merged["y_pred"]).abs().max())

def broken(submission, answers):
    return "not a number"
"""


def test_custom_grader_from_file_under_root(tmp_path):
    answers = regression_answers()
    (tmp_path / "grade.py").write_text(GRADER)
    competition = make_competition(tmp_path, answers, metric=None, grader="grade:grade")
    report = grade_submission(
        competition, write(tmp_path / "s.csv", answers.assign(y=answers["y"] + 0.25))
    )
    assert report.valid_submission and report.score == 0.25
    assert report.is_lower_better is True  # inferred: make_competition's leaderboard ascends
    bad = grade_submission(
        competition, write(tmp_path / "b.csv", answers.rename(columns={"y": "z"}))
    )
    assert not bad.valid_submission and bad.score is None
    assert "rejected by grader grade:grade: Submission must have a `y` column" in bad.error
    broken = make_competition(tmp_path, answers, metric=None, grader="grade:broken")
    report = grade_submission(broken, write(tmp_path / "s.csv", answers))
    assert not report.valid_submission and "returned 'not a number', not a number" in report.error


def test_custom_grader_importable_module_and_dotted_file(tmp_path, monkeypatch):
    answers = regression_answers()
    sub = answers.assign(y=answers["y"] + 0.5)
    modules = tmp_path / "site"
    modules.mkdir()
    (modules / "tiny_grader_module.py").write_text(GRADER)
    monkeypatch.syspath_prepend(str(modules))
    competition = make_competition(
        tmp_path / "a", answers, metric=None, grader="tiny_grader_module:grade"
    )
    assert grade_submission(competition, write(tmp_path / "s.csv", sub)).score == 0.5
    root = tmp_path / "b"
    (root / "graders").mkdir(parents=True)
    (root / "graders" / "maxerr.py").write_text(GRADER)  # resolved as <root>/graders/maxerr.py
    competition = make_competition(root, answers, metric=None, grader="graders.maxerr:grade")
    assert grade_submission(competition, write(tmp_path / "s.csv", sub)).score == 0.5


def test_broken_grader_config_is_a_spec_error(tmp_path):
    answers = regression_answers()
    for spec, message in [
        ("nowhere:grade", "no module 'nowhere'"),
        ("grade", "not 'module:function'"),
        ("grade:missing", "has no function 'missing'"),
    ]:
        (tmp_path / "grade.py").write_text(GRADER)
        competition = make_competition(tmp_path, answers, metric=None, grader=spec)
        with pytest.raises(SpecError, match=message):
            grade_submission(competition, competition.answers_path)


def test_configuration_problems_raise(tmp_path):
    answers = regression_answers()
    competition = make_competition(tmp_path, answers, metric="rmse")
    competition.answers_path.unlink()
    with pytest.raises(NotPreparedError, match="answers for competition tiny not found"):
        grade_submission(competition, tmp_path / "whatever.csv")
    competition = make_competition(tmp_path / "b", answers, metric="rmse")
    competition.leaderboard_path.unlink()
    with pytest.raises(SpecError, match="leaderboard .* does not exist"):
        grade_submission(competition, competition.answers_path)


def test_leaderboard_direction_contradicting_metric_is_a_spec_error(tmp_path):
    competition = make_competition(
        tmp_path, regression_answers(), metric="rmse", leaderboard=[0.9, 0.5, 0.1]
    )
    with pytest.raises(
        SpecError, match="lower_is_better=False, but metric rmse has lower_is_better=True"
    ):
        grade_submission(competition, competition.answers_path)
    forced = make_competition(tmp_path, regression_answers(), metric="r2", lower_is_better=True)
    with pytest.raises(SpecError, match="config lower_is_better"):
        grade_submission(forced, forced.answers_path)


def test_bad_answers_are_spec_errors(tmp_path):
    answers = binary_answers().assign(target=np.linspace(0, 1, N))  # not 0/1
    competition = make_competition(tmp_path, answers, metric="roc_auc")
    with pytest.raises(SpecError, match="needs 0/1 targets"):
        grade_submission(competition, competition.answers_path)
    one_class = binary_answers().assign(target=0)
    competition = make_competition(tmp_path, one_class, metric="roc_auc")
    with pytest.raises(SpecError, match="cannot be scored with roc_auc"):
        grade_submission(competition, competition.answers_path)
    two_labels = label_answers().assign(other="x")
    competition = make_competition(tmp_path, two_labels, metric="accuracy")
    with pytest.raises(SpecError, match="exactly one target column"):
        grade_submission(competition, competition.answers_path)


def test_nan_score_is_valid_but_wins_nothing(tmp_path):
    answers = regression_answers()
    (tmp_path / "grade.py").write_text("def grade(s, a):\n    return float('nan')\n")
    competition = make_competition(tmp_path, answers, metric=None, grader="grade:grade")
    report = grade_submission(competition, competition.answers_path)
    assert report.valid_submission and math.isnan(report.score)
    assert not report.any_medal and not report.above_median


HOSTILE_GRADERS = """
import os, time

def sleeps(submission, answers):
    time.sleep(600)

def spins(submission, answers):
    while True:
        pass

def dies(submission, answers):
    os._exit(3)

def fine(submission, answers):
    return 0.125
"""


def test_custom_grader_is_bounded_in_time_and_may_crash(tmp_path, monkeypatch):
    """A submission can make a grader hang or die: the report says so, grading goes on."""
    monkeypatch.setenv("MLERAY_GRADER_TIMEOUT", "1")
    answers = regression_answers()
    (tmp_path / "hostile.py").write_text(HOSTILE_GRADERS)
    for function, message in [
        ("sleeps", "did not finish within 1 s"),
        ("spins", "did not finish within 1 s"),
        ("dies", "crashed (exit code 3)"),
    ]:
        competition = make_competition(tmp_path, answers, metric=None, grader=f"hostile:{function}")
        started = time.monotonic()
        report = grade_submission(competition, competition.answers_path)
        assert time.monotonic() - started < 15
        assert not report.valid_submission and report.score is None
        assert f"grader hostile:{function} {message}" in report.error
    competition = make_competition(tmp_path, answers, metric=None, grader="hostile:fine")
    assert grade_submission(competition, competition.answers_path).score == 0.125


def test_grader_timeout_setting(tmp_path, monkeypatch):
    answers = regression_answers()
    (tmp_path / "grade.py").write_text(GRADER)
    competition = make_competition(tmp_path, answers, metric=None, grader="grade:grade")
    monkeypatch.setenv("MLERAY_GRADER_TIMEOUT", "0")  # unbounded, in this process
    assert (
        grade_submission(
            competition, write(tmp_path / "s.csv", answers.assign(y=answers["y"] + 1))
        ).score
        == 1
    )
    monkeypatch.setenv("MLERAY_GRADER_TIMEOUT", "soon")
    with pytest.raises(
        SpecError, match="MLERAY_GRADER_TIMEOUT must be a number of seconds, got 'soon'"
    ):
        grade_submission(competition, competition.answers_path)


def test_custom_grader_answers_are_read_once_per_content(tmp_path, monkeypatch):
    """A trial's snapshots all grade against the same answers: parse them once, yet see a
    rewrite at once."""
    from mleray.grading import grade as grade_module

    reads = []
    real = grade_module.load_answers
    monkeypatch.setattr(grade_module, "load_answers", lambda path: reads.append(path) or real(path))
    answers = regression_answers()
    (tmp_path / "grade.py").write_text(GRADER)
    competition = make_competition(tmp_path, answers, metric=None, grader="grade:grade")
    submission = write(tmp_path / "s.csv", answers)
    assert [grade_submission(competition, submission).score for _ in range(3)] == [0.0, 0.0, 0.0]
    assert len(reads) == 1
    answers.assign(y=answers["y"] + 2).to_csv(competition.answers_path, index=False)
    assert grade_submission(competition, submission).score == 2.0 and len(reads) == 2


@pytest.mark.parametrize("timeout", ["0", "30"], ids=["in-process", "forked"])
def test_a_grader_editing_its_answers_changes_no_later_grade(tmp_path, monkeypatch, timeout):
    monkeypatch.setenv("MLERAY_GRADER_TIMEOUT", timeout)
    answers = regression_answers()
    (tmp_path / "grade.py").write_text(
        GRADER + "\ndef edits(s, a):\n    a['y'] += 1\n    return grade(s, a)\n"
    )
    competition = make_competition(tmp_path, answers, metric=None, grader="grade:edits")
    submission = write(tmp_path / "s.csv", answers.assign(y=answers["y"] + 1))
    assert [grade_submission(competition, submission).score for _ in range(2)] == [0.0, 0.0]
