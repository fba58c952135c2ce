"""Grading 1,000,000-row submissions through `grade_submission`, against the scikit-learn
metric called directly on the same arrays.

    python benchmarks/grading.py [--rows 1000000] [--rounds 5]

Three synthetic competitions of `rows` rows (an id column and one target): ROC AUC and log
loss on 0/1 answers with probability predictions, RMSE on real answers. Per competition:

  grade      `grade_submission(competition, path)`, the answers already parsed (a sweep's
             grading actor keeps them), so it reads, checks, aligns and scores the file
  grade_cold the first call, which also parses and checks the answers
  metric     the scikit-learn function on the aligned arrays (what the target means)
  csv_metric reading the submission with pandas' C parser, then the metric: a floor that
             includes parsing (the CSV read is part of grading; a grader cannot skip it)
  arrow_metric the same with pyarrow's CSV reader

Ratios of `grade` to each, medians over the rounds (each round times every side once).
Submissions are written in the answers' row order (as agents write the sample's order); a
shuffled one is timed too (`grade_shuffled`), since ids must then be matched.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine, median, note  # noqa: E402

METRICS = {"auc": "roc_auc", "logloss": "log_loss", "rmse": "rmse"}


def raw_metric(kind: str):
    from sklearn import metrics as skm

    return {
        "auc": skm.roc_auc_score,
        "logloss": skm.log_loss,
        "rmse": skm.root_mean_squared_error,
    }[kind]


def make_competition(kind: str, rows: int, root: Path, rng: np.random.Generator):
    """A Competition whose answers, leaderboard and submissions are written under `root`."""
    import pandas as pd

    from mleray.competition import Competition

    folder = root / kind
    (folder / "private").mkdir(parents=True)
    ids = np.arange(100_000, 100_000 + rows)
    if kind == "rmse":
        y = rng.normal(10.0, 3.0, rows)
        pred = y + rng.normal(0.0, 1.0, rows)
    else:
        y = rng.integers(0, 2, rows)
        pred = np.clip(0.3 * y + rng.uniform(0.0, 0.7, rows), 0.001, 0.999)
    pd.DataFrame({"id": ids, "target": y}).to_csv(folder / "private" / "answers.csv", index=False)
    scores = np.linspace(0.95, 0.55, 50) if kind == "auc" else np.linspace(0.1, 2.0, 50)
    pd.DataFrame({"team": [f"t{i}" for i in range(50)], "score": scores}).to_csv(
        folder / "leaderboard.csv", index=False
    )
    submission = folder / "submission.csv"
    pd.DataFrame({"id": ids, "target": pred}).to_csv(submission, index=False, float_format="%.6f")
    shuffled = folder / "shuffled.csv"
    order = rng.permutation(rows)
    pd.DataFrame({"id": ids[order], "target": pred[order]}).to_csv(
        shuffled, index=False, float_format="%.6f"
    )
    competition = Competition(
        id=f"bench-{kind}",
        name=f"bench {kind}",
        root=folder,
        description_path=folder / "description.md",
        data_dir=folder,
        metric=METRICS[kind],
        grader=None,
        lower_is_better=None,
        source="builtin",
        kaggle_slug=None,
        prepare="",
        answers="answers.csv",
        sample_submission="sample_submission.csv",
        id_column="id",
        target_columns=("target",),
        leaderboard_path=folder / "leaderboard.csv",
    )
    # the arrays the metric gets: the answers and the predictions as written (6 decimals)
    written = pd.read_csv(submission)["target"].to_numpy()
    return competition, submission, shuffled, y, written


def time_once(function) -> tuple[float, object]:
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def measure(kind: str, rows: int, rounds: int, root: Path, rng) -> dict:
    import pandas as pd
    import pyarrow.csv as pacsv

    from mleray.grading import grade_submission

    competition, submission, shuffled, y, pred = make_competition(kind, rows, root, rng)
    metric = raw_metric(kind)
    cold, report = time_once(lambda: grade_submission(competition, submission))
    if not report.valid_submission:
        raise RuntimeError(f"{kind}: the benchmark submission is invalid: {report.error}")
    expected = round(float(metric(y, pred)), 5)
    if abs(report.score - expected) > 1e-5:
        raise RuntimeError(f"{kind}: grade {report.score} != metric {expected}")

    def csv_metric():
        frame = pd.read_csv(submission)
        return metric(y, frame["target"].to_numpy())

    def arrow_metric():
        table = pacsv.read_csv(submission)
        return metric(y, table.column("target").to_numpy())

    sides = {
        "grade": lambda: grade_submission(competition, submission),
        "grade_shuffled": lambda: grade_submission(competition, shuffled),
        "metric": lambda: metric(y, pred),
        "csv_metric": csv_metric,
        "arrow_metric": arrow_metric,
    }
    times: dict[str, list[float]] = {side: [] for side in sides}
    for _ in range(rounds):
        for side, function in sides.items():
            times[side].append(time_once(function)[0])
    per_round = [{side: times[side][i] for side in sides} for i in range(rounds)]
    figures = {
        "seconds": {side: median(values) for side, values in times.items()},
        "grade_cold_seconds": round(cold, 4),
        "ratios": {
            "grade_vs_metric": median(r["grade"] / r["metric"] for r in per_round),
            "grade_vs_csv_metric": median(r["grade"] / r["csv_metric"] for r in per_round),
            "grade_vs_arrow_metric": median(r["grade"] / r["arrow_metric"] for r in per_round),
            "grade_shuffled_vs_metric": median(
                r["grade_shuffled"] / r["metric"] for r in per_round
            ),
        },
        "score": report.score,
    }
    note(f"{kind}: {figures['seconds']} ratios {figures['ratios']}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    before = machine()
    rng = np.random.default_rng(0)
    root = Path(tempfile.mkdtemp(prefix="mleray-grading-"))
    try:
        results = {kind: measure(kind, args.rows, args.rounds, root, rng) for kind in METRICS}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    emit(
        {
            "benchmark": "grading",
            "machine": before,
            "rows": args.rows,
            "rounds": args.rounds,
            "competitions": results,
            "targets": {"grade_vs_metric_max": 1.5},
            "targets_met": {
                kind: figures["ratios"]["grade_vs_metric"] <= 1.5
                for kind, figures in results.items()
            },
        }
    )


if __name__ == "__main__":
    main()
