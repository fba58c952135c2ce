#!/usr/bin/env python3
"""Build the built-in competitions' leaderboards from a spread of reference models.

For each built-in competition: prepare it (into a temporary data dir), fit a spread of
scikit-learn models (dummy, linear, naive Bayes, nearest neighbours, trees and forests of
several depths, boosting, SVMs, MLPs, and noisy variants of good models), each with
several seeds (the seed picks an 85% subsample of the training rows and the model's own
random_state), on the public train split; score each on the private answers with the
competition's metric (mleray.grading.metrics); write `leaderboard.csv` (best first) and a
README.md saying how it was made and where the thresholds fall.

Deterministic: the same package versions give the same files. `--check` regenerates and
compares with the committed files instead of writing (exit 1 on a difference).

    python scripts/make_leaderboards.py                     # all built-ins
    python scripts/make_leaderboards.py digits-accuracy --check
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn import dummy, ensemble, linear_model, naive_bayes, neighbors, neural_network, svm, tree
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SEEDS = (0, 1, 2, 3)
NOISY = (
    "forest",
    "hist-gbm",
    "logreg-c1",
    "ridge-10",
    "knn-15",
    "knn-20",
)  # models given noisy copies
NOISE_LEVELS = (0.05, 0.15, 0.3, 0.6)
SUBSAMPLE = 0.85
SUBMISSION_DATE = "2024-06-01 00:00:00"  # fixed: the files must be reproducible


@dataclass(frozen=True)
class Task:
    """A prepared competition as arrays: features, train labels, answers."""

    comp: object
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    answers: pd.DataFrame
    classes: list | None  # classification: the label values, in submission column order


def scaled(model):
    return make_pipeline(StandardScaler(), model)


def classifiers(seed: int) -> dict:
    rs = {"random_state": seed}
    return {
        "dummy-prior": dummy.DummyClassifier(strategy="prior"),
        "dummy-stratified": dummy.DummyClassifier(strategy="stratified", **rs),
        "naive-bayes": naive_bayes.GaussianNB(),
        "logreg-c0.01": scaled(linear_model.LogisticRegression(C=0.01, max_iter=2000)),
        "logreg-c1": scaled(linear_model.LogisticRegression(C=1.0, max_iter=2000)),
        "knn-1": scaled(neighbors.KNeighborsClassifier(1)),
        "knn-15": scaled(neighbors.KNeighborsClassifier(15, weights="distance")),
        "tree-d1": tree.DecisionTreeClassifier(max_depth=1, **rs),
        "tree-d3": tree.DecisionTreeClassifier(max_depth=3, **rs),
        "tree-d8": tree.DecisionTreeClassifier(max_depth=8, min_samples_leaf=3, **rs),
        "forest-d4": ensemble.RandomForestClassifier(50, max_depth=4, **rs),
        "forest": ensemble.RandomForestClassifier(100, **rs),
        "extra-trees": ensemble.ExtraTreesClassifier(150, **rs),
        "hist-gbm": ensemble.HistGradientBoostingClassifier(**rs),
        "hist-gbm-tuned": ensemble.HistGradientBoostingClassifier(
            learning_rate=0.05, max_iter=400, l2_regularization=1.0, **rs
        ),
        "svm-rbf": scaled(svm.SVC(C=3.0, probability=True, **rs)),
        "mlp": scaled(
            neural_network.MLPClassifier(
                hidden_layer_sizes=(64, 32), alpha=1e-3, max_iter=600, **rs
            )
        ),
    }


def regressors(seed: int) -> dict:
    rs = {"random_state": seed}
    return {
        "dummy-mean": dummy.DummyRegressor(strategy="mean"),
        "dummy-median": dummy.DummyRegressor(strategy="median"),
        "linear": scaled(linear_model.LinearRegression()),
        "ridge-10": scaled(linear_model.Ridge(alpha=10.0)),
        "lasso-1": scaled(linear_model.Lasso(alpha=1.0, max_iter=5000)),
        "huber": scaled(linear_model.HuberRegressor(max_iter=1000)),
        "knn-5": scaled(neighbors.KNeighborsRegressor(5)),
        "knn-20": scaled(neighbors.KNeighborsRegressor(20, weights="distance")),
        "tree-d2": tree.DecisionTreeRegressor(max_depth=2, **rs),
        "tree-d4": tree.DecisionTreeRegressor(max_depth=4, **rs),
        "tree-d10": tree.DecisionTreeRegressor(max_depth=10, min_samples_leaf=3, **rs),
        "forest-d4": ensemble.RandomForestRegressor(50, max_depth=4, **rs),
        "forest": ensemble.RandomForestRegressor(100, **rs),
        "extra-trees": ensemble.ExtraTreesRegressor(150, **rs),
        "hist-gbm": ensemble.HistGradientBoostingRegressor(**rs),
        "hist-gbm-abs": ensemble.HistGradientBoostingRegressor(loss="absolute_error", **rs),
        "hist-gbm-tuned": ensemble.HistGradientBoostingRegressor(
            learning_rate=0.05, max_iter=500, l2_regularization=1.0, **rs
        ),
        "svr-rbf": scaled(svm.SVR(C=30.0)),
        "mlp": scaled(
            neural_network.MLPRegressor(
                hidden_layer_sizes=(64, 32), alpha=1e-2, max_iter=2000, **rs
            )
        ),
    }


# --------------------------------------------------------------------------- data


def load_task(comp) -> Task:
    public = comp.public_dir
    train = pd.read_csv(public / "train.csv")
    test = pd.read_csv(public / "test.csv")
    answers = pd.read_csv(comp.answers_path).set_index(comp.id_column).loc[test[comp.id_column]]
    label_columns = [c for c in train.columns if c not in test.columns]
    features = pd.get_dummies(
        pd.concat([train[test.columns], test]).drop(columns=comp.id_column), dtype=float
    )
    x_train, x_test = features.iloc[: len(train)].to_numpy(), features.iloc[len(train) :].to_numpy()
    y_train = train[label_columns[0]].to_numpy()
    classes = None
    if comp.metric == "log_loss":
        classes = list(comp.target_columns)
    elif comp.metric in ("accuracy", "roc_auc", "f1_macro"):
        classes = sorted(np.unique(y_train).tolist())
    return Task(comp, x_train, y_train, x_test, answers, classes)


# --------------------------------------------------------------------------- predicting


def predict(task: Task, model, seed: int) -> np.ndarray:
    """Fit on a seeded subsample of train; predictions shaped like the submission."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(task.x_train), int(SUBSAMPLE * len(task.x_train)), replace=False))
    x, y = task.x_train[rows], task.y_train[rows]
    metric = task.comp.metric
    if metric == "rmsle":
        y = np.log1p(y)  # fit in log space: what RMSLE rewards
    model.fit(x, y)
    if task.classes is None:
        out = model.predict(task.x_test)
        return np.clip(np.expm1(out), 0, None) if metric == "rmsle" else out
    if metric in ("accuracy", "f1_macro"):
        return model.predict(task.x_test)
    proba = np.zeros((len(task.x_test), len(task.classes)))
    proba[:, [task.classes.index(c) for c in model.classes_]] = model.predict_proba(task.x_test)
    return proba[:, 1] if metric == "roc_auc" else proba


def add_noise(task: Task, prediction: np.ndarray, level: float, seed: int) -> np.ndarray:
    """A worse copy of a prediction: what a buggy or rushed submission looks like."""
    rng = np.random.default_rng(10_000 + seed)
    metric = task.comp.metric
    if metric in ("accuracy", "f1_macro"):
        flip = rng.random(len(prediction)) < level
        return np.where(flip, rng.choice(task.classes, len(prediction)), prediction)
    if task.classes is not None:  # probabilities: blend with random ones
        noise = rng.dirichlet(np.ones(len(task.classes)), len(prediction))
        noise = noise[:, 1] if prediction.ndim == 1 else noise
        return (1 - level) * prediction + level * noise
    spread = np.std(task.y_train) * level
    noisy = prediction + rng.normal(0, spread, len(prediction))
    return np.clip(noisy, 0, None) if metric == "rmsle" else noisy


def score(task: Task, prediction: np.ndarray) -> float:
    from mleray.grading.metrics import get_metric

    metric = get_metric(task.comp.metric)
    y_true = task.answers[list(task.comp.target_columns)].to_numpy()
    y_true = y_true[:, 0] if y_true.shape[1] == 1 else y_true
    return round(metric.score(y_true, prediction), 5)


def leaderboard_rows(task: Task) -> list[dict]:
    catalogue = classifiers if task.classes is not None else regressors
    rows = []
    for seed in SEEDS:
        for name, model in catalogue(seed).items():
            prediction = predict(task, model, seed)
            rows.append(
                {
                    "teamName": f"{name}-s{seed}",
                    "model": name,
                    "seed": seed,
                    "score": score(task, prediction),
                }
            )
            if name in NOISY:
                for level in NOISE_LEVELS:
                    rows.append(
                        {
                            "teamName": f"{name}-noise{level}-s{seed}",
                            "model": f"{name}+noise{level}",
                            "seed": seed,
                            "score": score(task, add_noise(task, prediction, level, seed)),
                        }
                    )
    return rows


def build_leaderboard(task: Task) -> pd.DataFrame:
    from mleray.grading.metrics import get_metric

    lower = get_metric(task.comp.metric).lower_is_better
    board = pd.DataFrame(leaderboard_rows(task))
    board = board.sort_values("score", ascending=lower, kind="stable").reset_index(drop=True)
    board.insert(0, "teamId", np.arange(1, len(board) + 1))
    board["submissionDate"] = SUBMISSION_DATE
    return board[["teamId", "teamName", "score", "submissionDate", "model", "seed"]]


# --------------------------------------------------------------------------- README


def readme_text(task: Task, board: pd.DataFrame) -> str:
    from mleray.grading import medal_thresholds

    comp = task.comp
    lower = comp.lower_is_better
    t = medal_thresholds(board, lower)
    sample = (
        pd.read_csv(comp.sample_submission_path).set_index(comp.id_column).loc[task.answers.index]
    )
    values = sample[list(comp.target_columns)].to_numpy()
    sample_score = score(task, values[:, 0] if values.shape[1] == 1 else values)

    def rank_of(team: str) -> str:
        position = int(board.index[board["teamName"] == team][0]) + 1
        return f"{team}: {board.loc[position - 1, 'score']} (rank {position} of {len(board)})"

    reference = "forest-s0" if (board["teamName"] == "forest-s0").any() else board["teamName"][0]
    simple = "logreg-c1-s0" if task.classes is not None else "ridge-10-s0"
    return f"""# {comp.id}: leaderboard

`leaderboard.csv` is not a Kaggle leaderboard. `scripts/make_leaderboards.py` made it by
fitting {board["model"].nunique()} reference entries (scikit-learn dummy, linear, naive Bayes /
robust linear, nearest-neighbour, tree, forest, boosting, SVM and MLP models, plus noisy
copies of good ones) with seeds {", ".join(map(str, SEEDS))} (each seed also picks an
{int(SUBSAMPLE * 100)}% subsample of `train.csv`), then scoring them on the private answers with
`{comp.metric}` ({"lower" if lower else "higher"} is better). {len(board)} rows, best first.
Regenerate with `python scripts/make_leaderboards.py {comp.id}`.

Medal thresholds (Kaggle's rules as MLE-bench applies them): gold {t.gold:.5f}, silver
{t.silver:.5f}, bronze {t.bronze:.5f}, median {t.median:.5f}.

- sample submission: {sample_score} (wins nothing)
- {rank_of(reference)}
- {rank_of(simple)}
- best entry: {board["teamName"][0]} at {board["score"][0]}
"""


# --------------------------------------------------------------------------- main


def make_one(competition_id: str, check: bool) -> bool:
    from mleray.data import prepare_competition
    from mleray.registry import get_competition

    comp = get_competition(competition_id)
    prepare_competition(comp)
    task = load_task(comp)
    board = build_leaderboard(task)
    outputs = {
        comp.leaderboard_path: board.to_csv(index=False),
        comp.root / "README.md": readme_text(task, board),
    }
    if check:
        stale = [
            path for path, text in outputs.items() if not path.is_file() or path.read_text() != text
        ]
        for path in stale:
            print(f"{path} differs from what the script makes now", file=sys.stderr)
        if not stale:
            print(f"{competition_id}: committed leaderboard and README reproduced exactly")
        return not stale
    for path, text in outputs.items():
        path.write_text(text)
    print(
        f"{competition_id}: {len(board)} rows, best {board['score'][0]}, "
        f"worst {board['score'].iloc[-1]}"
    )
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", help="competition ids (default: the builtin split)")
    parser.add_argument(
        "--check", action="store_true", help="compare with the committed files, write nothing"
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")  # convergence chatter from the small MLPs and linear models
    from mleray.errors import MlerayError
    from mleray.registry import load_split

    ids = args.ids or load_split("builtin")
    with tempfile.TemporaryDirectory(prefix="mleray-leaderboards-") as data_dir:
        os.environ["MLERAY_DATA_DIR"] = data_dir
        try:
            results = [make_one(competition_id, args.check) for competition_id in ids]
        except MlerayError as exc:  # an unknown id, a competition that cannot be prepared
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
