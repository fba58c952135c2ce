"""Every built-in competition, graded for real: the answers win gold, the sample submission
is valid and wins nothing, a simple scikit-learn model beats the sample; files are laid out
as agents expect, without leaking labels; leaderboards are sound."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from mleray import registry
from mleray.data import ensure_prepared
from mleray.grading import grade_submission, validate_submission

BUILTIN = registry.load_split("builtin")
KINDS = {"roc_auc", "accuracy", "log_loss", "rmse"}


@pytest.fixture
def comp(builtin_data, request):
    return ensure_prepared(registry.get_competition(request.param, extra_paths=[]))


def test_the_builtins_cover_the_required_tasks():
    comps = [registry.get_competition(i, extra_paths=[]) for i in BUILTIN]
    metrics = {c.metric for c in comps}
    assert len(comps) >= 6 and KINDS <= metrics and metrics & {"mae", "rmsle", "r2"}
    assert all(c.source == "builtin" for c in comps)
    assert "digits-accuracy" in BUILTIN  # the image-like task (pixel columns)


@pytest.mark.parametrize("comp", BUILTIN, indirect=True)
def test_answers_graded_as_a_submission_win_gold(comp):
    report = grade_submission(comp, comp.answers_path)
    assert report.valid_submission, report.error
    assert report.gold_medal and report.any_medal and report.above_median


@pytest.mark.parametrize("comp", BUILTIN, indirect=True)
def test_sample_submission_is_valid_and_wins_nothing(comp):
    assert validate_submission(comp.sample_submission_path, comp.sample_submission_path).valid
    report = grade_submission(comp, comp.sample_submission_path)
    assert report.valid_submission, report.error
    assert not report.any_medal and not report.above_median


def fit_simple_model(comp) -> pd.DataFrame:
    """A random forest on the public files only, written as a submission."""
    train = pd.read_csv(comp.public_dir / "train.csv")
    test = pd.read_csv(comp.public_dir / "test.csv")
    label = [c for c in train.columns if c not in test.columns][0]
    features = pd.get_dummies(
        pd.concat([train[test.columns], test]).drop(columns=comp.id_column), dtype=float
    )
    x_train, x_test = features.iloc[: len(train)], features.iloc[len(train) :]
    submission = test[[comp.id_column]].copy()
    if comp.metric in ("rmse", "mae", "rmsle", "r2"):
        model = RandomForestRegressor(100, random_state=0).fit(x_train, train[label])
        submission[label] = model.predict(x_test)
    elif comp.metric == "accuracy":
        model = RandomForestClassifier(100, random_state=0).fit(x_train, train[label])
        submission[label] = model.predict(x_test)
    else:
        model = RandomForestClassifier(100, random_state=0).fit(x_train, train[label])
        proba = pd.DataFrame(model.predict_proba(x_test), columns=model.classes_)
        if comp.metric == "roc_auc":
            submission[comp.target_columns[0]] = proba[1].to_numpy()
        else:
            for column in comp.target_columns:
                submission[column] = proba[column].to_numpy()
    return submission


@pytest.mark.parametrize("comp", BUILTIN, indirect=True)
def test_a_simple_model_beats_the_sample(comp, tmp_path):
    path = tmp_path / "submission.csv"
    fit_simple_model(comp).to_csv(path, index=False)
    model = grade_submission(comp, path)
    sample = grade_submission(comp, comp.sample_submission_path)
    assert model.valid_submission, model.error
    better = model.score < sample.score if model.is_lower_better else model.score > sample.score
    assert better, (model.score, sample.score)


@pytest.mark.parametrize("comp", BUILTIN, indirect=True)
def test_public_files_hold_no_labels_and_match_the_answers(comp):
    names = sorted(p.name for p in comp.public_dir.iterdir())
    assert names == ["description.md", "sample_submission.csv", "test.csv", "train.csv"]
    train = pd.read_csv(comp.public_dir / "train.csv")
    test = pd.read_csv(comp.public_dir / "test.csv")
    sample = pd.read_csv(comp.sample_submission_path)
    answers = pd.read_csv(comp.answers_path)
    assert list(answers.columns) == list(sample.columns) == [comp.id_column, *comp.target_columns]
    assert not set(comp.target_columns) & set(test.columns)
    assert set(test[comp.id_column]) == set(answers[comp.id_column]) == set(sample[comp.id_column])
    assert set(train[comp.id_column]).isdisjoint(test[comp.id_column])
    assert 200 <= len(train) + len(test) <= 5000
    assert sample[list(comp.target_columns)].nunique().max() == 1  # a constant prediction


@pytest.mark.parametrize("competition_id", BUILTIN)
def test_leaderboard_is_ranked_big_enough_and_explained(competition_id):
    comp = registry.get_competition(competition_id, extra_paths=[])
    board = pd.read_csv(comp.leaderboard_path)
    assert {"teamName", "score"} <= set(board.columns) and len(board) >= 100
    assert board["teamName"].is_unique and np.isfinite(board["score"]).all()
    scores = board["score"].to_numpy()
    assert (np.diff(scores) >= 0).all() if comp.lower_is_better else (np.diff(scores) <= 0).all()
    assert scores[0] != scores[-1]
    readme = (comp.root / "README.md").read_text()
    assert "scripts/make_leaderboards.py" in readme and competition_id in readme


@pytest.mark.slow
def test_leaderboard_script_reproduces_a_committed_leaderboard():
    """The committed leaderboard is what the committed script makes (about 7 s)."""
    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [
            sys.executable,
            str(repo / "scripts" / "make_leaderboards.py"),
            "diabetes-rmse",
            "--check",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "diabetes-rmse: committed leaderboard and README reproduced exactly" in done.stdout


def test_leaderboard_script_unknown_id_is_one_line_exit_2(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("MLERAY_DATA_DIR", str(tmp_path))  # main() points it at a temp dir
    assert load_leaderboard_script().main(["no-such-competition", "--check"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: unknown competition 'no-such-competition'"
    )


def load_leaderboard_script():
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "scripts" / "make_leaderboards.py"
    spec = importlib.util.spec_from_file_location("make_leaderboards", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("comp", BUILTIN, indirect=True)
def test_a_leaderboard_entry_grades_to_its_leaderboard_score(comp, tmp_path):
    """The script's scores are the grader's: one entry, rebuilt and graded as a submission."""
    script = load_leaderboard_script()
    task = script.load_task(comp)
    name = "logreg-c1" if task.classes is not None else "ridge-10"
    catalogue = script.classifiers if task.classes is not None else script.regressors
    prediction = script.predict(task, catalogue(0)[name], seed=0)
    submission = pd.DataFrame({comp.id_column: task.answers.index})
    values = prediction.reshape(len(submission), -1)
    for i, column in enumerate(comp.target_columns):
        submission[column] = values[:, i]
    submission.to_csv(tmp_path / "entry.csv", index=False)
    report = grade_submission(comp, tmp_path / "entry.csv")
    board = pd.read_csv(comp.leaderboard_path).set_index("teamName")
    assert report.valid_submission, report.error
    assert report.score == pytest.approx(board.loc[f"{name}-s0", "score"], abs=1e-9)
