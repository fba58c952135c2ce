"""Score-versus-time curves from snapshots, GPU cost per medal, normalised best scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mleray.analysis import curves, scores
from mleray.analysis.frame import final_trials, runs_frame
from tests.helpers.synthetic import snapshot_table, trial_table

KEYS = ["agent", "model"]
H = 3600.0


def build(trial_rows, snapshot_rows):
    runs = runs_frame(final_trials(trial_table(trial_rows).to_pandas()))
    return runs, snapshot_table(snapshot_rows).to_pandas()


def snap(trial_id, hours, won, attempt=1):
    return {
        "trial_id": trial_id,
        "competition_id": "A",
        "elapsed_seconds": hours * H,
        "any_medal": won,
        "attempt": attempt,
    }


def three_runs():
    """t1 reaches a medal at 1.5 h and keeps it; t2 has one at 2.5 h and times out holding
    it (it keeps it, as in MLE-bench); t3 never takes a snapshot and ends without a medal."""
    trials = [
        {
            "trial_id": "t1",
            "competition_id": "A",
            "seed": 0,
            "any_medal": True,
            "wall_seconds": 3 * H,
        },
        {
            "trial_id": "t2",
            "competition_id": "A",
            "seed": 1,
            "status": "timeout",
            "any_medal": True,
            "wall_seconds": 3 * H,
            "attempt": 2,
        },
        {"trial_id": "t3", "competition_id": "A", "seed": 2, "wall_seconds": 3 * H},
    ]
    snapshots = [
        snap("t1", 0.5, False),
        snap("t1", 1.5, True),
        snap("t2", 2.5, True, attempt=2),
        snap("t2", 0.2, True, attempt=1),
    ]  # an earlier, superseded attempt: ignored
    return build(trials, snapshots)


def curve(table, metric="any_medal"):
    rows = table.loc[table["metric"] == metric]
    return dict(zip(rows["elapsed_hours"].round(4), rows["rate_pct"]))


def test_latest_snapshot_at_or_before_each_time():
    runs, snapshots = three_runs()
    grid = np.array([0, 1, 2, 2.75, 3]) * H
    table = curves.time_curves(runs, snapshots, KEYS, grid_seconds=grid)
    assert curve(table) == pytest.approx(
        {0.0: 0.0, 1.0: 0.0, 2.0: 100 / 3, 2.75: 200 / 3, 3.0: 200 / 3}
    )
    assert set(table["runs"]) == {3}


def test_best_snapshot_so_far_keeps_a_medal():
    runs, snapshots = three_runs()
    grid = np.array([0, 1, 2, 2.75, 3]) * H
    table = curves.time_curves(runs, snapshots, KEYS, grid_seconds=grid, mode="best")
    assert curve(table)[3.0] == pytest.approx(200 / 3)


def test_curve_meets_final_rate_with_default_hourly_grid():
    runs, snapshots = three_runs()
    table = curves.time_curves(runs, snapshots, KEYS)
    points = curve(table)
    assert sorted(points) == [0.0, 1.0, 2.0, 3.0]
    assert points[3.0] == pytest.approx(runs["any_medal"].mean() * 100)


def test_short_runs_get_a_fine_grid():
    grid = curves.time_grid(90.0)
    assert len(grid) == curves.FINE_GRID_POINTS + 1 and grid[-1] == 90.0
    assert curves.time_grid(5 * H).tolist() == [h * H for h in range(6)]


def test_bad_mode_raises():
    runs, snapshots = three_runs()
    with pytest.raises(ValueError):
        curves.time_curves(runs, snapshots, KEYS, mode="mean")


def test_gpu_hours_per_medal():
    trials = final_trials(
        trial_table(
            [
                {
                    "competition_id": "A",
                    "seed": 0,
                    "agent": "x",
                    "gpu_seconds": 2 * H,
                    "any_medal": True,
                },
                {"competition_id": "B", "seed": 0, "agent": "x", "gpu_seconds": 4 * H},
                {
                    "competition_id": "C",
                    "seed": 0,
                    "agent": "x",
                    "gpu_seconds": 1 * H,
                    "status": "infra_error",
                },
                {"competition_id": "A", "seed": 0, "agent": "y", "gpu_seconds": 3 * H},
            ]
        ).to_pandas()
    )
    attempts = trials.assign(final=True)
    table = curves.gpu_cost(attempts, runs_frame(trials), KEYS).set_index("agent")
    assert table.loc["x", "gpu_hours"] == pytest.approx(7.0)  # not-run attempts cost too
    assert table.loc["x", "medals"] == 1
    assert table.loc["x", "gpu_hours_per_medal"] == pytest.approx(7.0)
    assert pd.isna(table.loc["y", "gpu_hours_per_medal"])


def test_hardware_table_splits_by_gpu_share():
    runs = runs_frame(
        final_trials(
            trial_table(
                [
                    {
                        "competition_id": "A",
                        "seed": s,
                        "gpu_share": share,
                        "gpu_seconds": share * H,
                        "any_medal": won,
                    }
                    for s, (share, won) in enumerate([(0.5, True), (0.5, False), (1.0, True)])
                ]
            ).to_pandas()
        )
    )
    table = curves.hardware_table(runs, KEYS).set_index("gpu_share")
    assert table.loc[0.5, "any_medal_pct"] == 50.0
    assert table.loc[1.0, "gpu_hours_per_medal"] == pytest.approx(1.0)


def test_normalised_scores_are_direction_aware():
    rows = [
        # higher is better: median 0.6, gold 0.9
        {"competition_id": "up", "seed": 0, "score": 0.75},
        {"competition_id": "up", "seed": 1, "score": 0.9},
        # lower is better: median 10, gold 5 → 7.5 is halfway, 12 is below median
        {
            "competition_id": "down",
            "seed": 0,
            "score": 7.5,
            "is_lower_better": True,
            "gold_threshold": 5.0,
            "silver_threshold": 6.0,
            "bronze_threshold": 7.0,
            "median_threshold": 10.0,
        },
        {
            "competition_id": "down",
            "seed": 1,
            "score": 12.0,
            "is_lower_better": True,
            "gold_threshold": 5.0,
            "silver_threshold": 6.0,
            "bronze_threshold": 7.0,
            "median_threshold": 10.0,
        },
        # no valid submission at all
        {"competition_id": "none", "seed": 0, "score": None, "valid_submission": False},
    ]
    runs = runs_frame(final_trials(trial_table(rows).to_pandas()))
    best = scores.normalised_best_scores(runs, KEYS).set_index("competition_id")
    assert best.loc["up", "normalised"] == pytest.approx(1.0)
    assert best.loc["up", "best_score"] == pytest.approx(0.9)
    assert best.loc["down", "normalised"] == pytest.approx(0.5)
    assert best.loc["down", "best_score"] == pytest.approx(7.5)
    assert pd.isna(best.loc["none", "normalised"])
    lacking = scores.competitions_without_valid(best.reset_index(), KEYS)
    assert lacking["competitions"].tolist() == [["none"]]
