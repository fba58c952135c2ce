"""Scores as MLE-bench reports them: `round(score, 5)` with the grader's own value, so a
numpy scalar rounds half to even (numpy scales and rints) and a Python float to its exact
decimal value. MLE-bench's multi-modal-gesture-recognition gives 1/320 as 0.00312; a
float() before rounding would make it 0.00313."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pandas as pd
import pytest

from mleray import data, registry
from mleray.grading import grade_submission
from mleray.grading import metrics as metrics_module
from mleray.grading.medals import round_score
from tests.helpers.mlebench_layout import write_competition, write_prepared

N = 320

# A grader as MLE-bench's are written: the fraction of rows right, either as numpy computes
# it (np.float64) or in plain Python (float); "value" graders return a row's number as is.
GRADE = """\
import numpy as np
import pandas as pd


def grade(submission, answers):
    merged = submission.merge(answers, on="id", suffixes=("", "_true"))
    if "value" in submission.columns:
        value = merged["value"].iloc[0]  # np.float64, as pandas reads it
        return value if merged["kind"].iloc[0] == "numpy" else float(value)
    right = merged["label"].to_numpy() == merged["label_true"].to_numpy()
    if merged["kind"].iloc[0] == "numpy":
        return np.mean(right)
    return sum(bool(r) for r in right) / len(right)
"""


@pytest.fixture
def mle(tmp_path, monkeypatch):
    """An MLE-bench competition (its data as `mlebench prepare` leaves it) on the real
    multi-modal-gesture-recognition leaderboard: gold 0.13304, silver 0.1769, lower better."""
    reg, data_dir = tmp_path / "registry", tmp_path / "mle-data"
    write_competition(reg, "ties", grade=GRADE, leaderboard="multi-modal-gesture-recognition")
    ids = "".join(f"{i}\n" for i in range(N))
    write_prepared(
        data_dir,
        "ties",
        public={"sample_submission.csv": "id,label\n" + "".join(f"{i},0\n" for i in range(N))},
        private={"test.csv": "id,label\n" + ids.replace("\n", ",1\n")},
    )
    monkeypatch.setenv("MLERAY_MLEBENCH_DATA_DIR", str(data_dir))
    return data.ensure_prepared(registry.get_competition("ties", extra_paths=[reg]))


def _labels(path, right: int, kind: str):
    path.write_text("id,label,kind\n" + "".join(f"{i},{int(i < right)},{kind}\n" for i in range(N)))
    return path


@pytest.mark.parametrize(
    "right, kind, expected",
    [
        (1, "numpy", 0.00312),  # 312.5 -> 312, to even
        (3, "numpy", 0.00938),  # 937.5 -> 938, to even
        (1, "python", 0.00313),  # 0.003125 is stored a hair above: rounds up
        (3, "python", 0.00937),  # 0.009375 is stored a hair below: rounds down
        (N, "numpy", 1.0),
    ],
)
def test_a_graders_own_value_is_rounded_with_its_own_round(mle, tmp_path, right, kind, expected):
    report = grade_submission(mle, _labels(tmp_path / "s.csv", right, kind))
    assert report.valid_submission, report.error
    assert report.score == expected and type(report.score) is float


@pytest.mark.parametrize(
    "kind, score, medal", [("numpy", 0.1769, "silver"), ("python", 0.17691, "bronze")]
)
def test_the_rounding_decides_a_medal_on_a_real_leaderboard(mle, tmp_path, kind, score, medal):
    """0.176905 rounds to the silver threshold 0.1769 as numpy rounds it, past it as Python
    does: MLE-bench gives silver to the numpy-valued grader only."""
    path = tmp_path / "s.csv"
    path.write_text("id,label,value,kind\n" + "".join(f"{i},1,0.176905,{kind}\n" for i in range(N)))
    report = grade_submission(mle, path)
    assert report.silver_threshold == 0.1769 and report.is_lower_better
    assert report.score == score
    assert (report.silver_medal, report.bronze_medal) == (medal == "silver", medal == "bronze")


def test_round_score_keeps_the_values_type():
    assert round_score(np.float64(1 / 320)) == 0.00312
    assert round_score(1 / 320) == 0.00313
    assert round_score(np.float64(3 / 320)) == 0.00938 and round_score(3 / 320) == 0.00937
    assert round_score(7) == 7.0 and type(round_score(np.int64(7))) is float
    for value in (0.00312, 0.00313, 0.1769, 0.17691, 1 / 3):  # a rounded score stays put
        assert round_score(round_score(value)) == round_score(value)


@pytest.mark.parametrize("result", ["None", "'0.5'", "[0.5]", "{'score': 0.5}"])
def test_a_grader_result_that_is_not_a_number_is_invalid(mle, tmp_path, result):
    (mle.root / "grade.py").write_text(f"def grade(submission, answers):\n    return {result}\n")
    from mleray.grading.custom import load_grader

    load_grader.cache_clear()
    report = grade_submission(mle, _labels(tmp_path / "s.csv", 1, "numpy"))
    assert not report.valid_submission and "not a number" in report.error


@pytest.mark.parametrize("returns, expected", [(float, 0.00313), (np.float64, 0.00312)])
def test_builtin_metrics_round_the_value_their_function_returns(
    tmp_path, monkeypatch, returns, expected
):
    """scikit-learn's metrics return Python floats today (older releases returned
    np.float64): whatever the metric's function returns is rounded with its own round, as
    the same value returned by an MLE-bench grader would be."""
    accuracy = metrics_module.REGISTRY["accuracy"]
    assert type(accuracy.score(np.array([1, 0]), np.array([1, 1]))) is float
    constant = dataclasses.replace(accuracy, compute=lambda y_true, y_pred: returns(1 / 320))
    monkeypatch.setitem(metrics_module.REGISTRY, "accuracy", constant)
    monkeypatch.setenv("MLERAY_DATA_DIR", str(tmp_path))
    competition = registry.get_competition("digits-accuracy", extra_paths=[])
    data.prepare_competition(competition)
    report = grade_submission(competition, competition.answers_path)
    assert report.valid_submission, report.error
    assert report.score == expected


# ---- text where a label or a number belongs: invalid, as MLE-bench's graders make it ----

# every metric, on a built-in competition whose answers suit it (f1_macro and r2 borrow one)
BY_METRIC = {
    "roc_auc": ("breast-cancer-auc", None),
    "accuracy": ("digits-accuracy", None),
    "f1_macro": ("digits-accuracy", "f1_macro"),
    "log_loss": ("tabular-multiclass-logloss", None),
    "rmse": ("diabetes-rmse", None),
    "mae": ("heavy-tail-regression-mae", None),
    "rmsle": ("friedman-price-rmsle", None),
    "r2": ("breast-cancer-auc", "r2"),
}


def test_every_metric_is_covered():
    assert sorted(BY_METRIC) == sorted(metrics_module.METRICS)


def _with_cell(competition, tmp_path, row: int, value: str, shuffle: bool = False):
    """The answers as a submission (a perfect one), one target cell replaced."""
    frame = pd.read_csv(competition.answers_path, dtype=str, keep_default_na=False)
    if shuffle:
        frame = frame.sample(frac=1, random_state=0).reset_index(drop=True)
    column = competition.target_columns[-1]
    frame.loc[row, column] = value
    path = tmp_path / "submission.csv"
    frame.to_csv(path, index=False)
    return path, column, frame.loc[row, competition.id_column]


@pytest.mark.parametrize("metric", sorted(BY_METRIC))
@pytest.mark.parametrize("shuffle", [False, True])
def test_one_banana_makes_the_submission_invalid_naming_row_and_column(
    builtin_data, tmp_path, metric, shuffle
):
    competition_id, override = BY_METRIC[metric]
    competition = registry.get_competition(competition_id, extra_paths=[])
    if override:
        competition = dataclasses.replace(competition, metric=override)
    assert grade_submission(competition, competition.answers_path).valid_submission
    path, column, row_id = _with_cell(competition, tmp_path, 6, "banana", shuffle)
    report = grade_submission(competition, path)
    assert not report.valid_submission and report.score is None
    kind = "label" if metric in ("accuracy", "f1_macro") else "non-numeric value"
    assert f"{kind} 'banana' in column '{column}' (row 7, id '{row_id}')" in report.error


def test_text_labels_refuse_a_number_and_accept_any_text(tmp_path, monkeypatch):
    """Answers whose labels are all text: a number cannot be one of them (invalid); an
    unknown word is only a wrong guess, as MLE-bench's accuracy graders count it."""
    root = tmp_path / "words"
    shutil.copytree(registry.builtin_competitions_dir() / "digits-accuracy", root)
    prepare = (root / "prepare.py").read_text()
    (root / "prepare.py").write_text(
        prepare.replace(
            'frame["label"] = data.target', 'frame["label"] = [f"d{t}" for t in data.target]'
        ).replace("sample_value=0", 'sample_value="d0"')
    )
    monkeypatch.setenv("MLERAY_DATA_DIR", str(tmp_path / "data"))
    competition = registry.get_competition("digits-accuracy", extra_paths=[root])
    data.prepare_competition(competition)
    assert grade_submission(competition, competition.answers_path).score == 1.0
    path, column, row_id = _with_cell(competition, tmp_path, 0, "dragon")
    report = grade_submission(competition, path)
    assert report.valid_submission and report.score < 1.0
    path, column, row_id = _with_cell(competition, tmp_path, 2, "7")
    report = grade_submission(competition, path)
    assert not report.valid_submission
    assert f"label '7' in column 'label' (row 3, id '{row_id}') is a number" in report.error
