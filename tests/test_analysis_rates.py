"""Medal rates (MLE-bench aggregation, by hand), not-run handling, bootstrap, paired diffs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mleray.analysis import bootstrap, rates
from mleray.analysis.frame import final_trials, one_run_per_cell, runs_frame
from tests.helpers.synthetic import trial_table

KEYS = ["agent", "model"]


def medal(competition_id, seed, won, **extra):
    return {
        "competition_id": competition_id,
        "seed": seed,
        "agent": "x",
        "any_medal": won,
        "bronze_medal": won,
        **extra,
    }


def sweep_rows():
    """Two competitions, four seeds. Per-seed any-medal %: 50, 100, 50, and seed 3 lacks B.

    seed 2's A timed out holding a medal-winning file: as in MLE-bench, it keeps the medal;
    seed 2's B crashed without a valid submission: a failure.
    """
    return [
        medal("A", 0, True),
        medal("B", 0, False),
        medal("A", 1, True),
        medal("B", 1, True),
        medal("A", 2, True, status="timeout"),
        medal("B", 2, False, status="agent_error"),
        medal("A", 3, True),
        medal("B", 3, False, status="infra_error"),
    ]


def frames(rows):
    trials = final_trials(trial_table(rows).to_pandas())
    runs, _ = one_run_per_cell(runs_frame(trials), KEYS)
    seeds = pd.MultiIndex.from_frame(trials[[*KEYS, "seed"]].drop_duplicates())
    return trials, runs, seeds


def test_runs_drop_not_run_and_judge_the_rest_by_their_grade():
    trials, runs, _ = frames(sweep_rows())
    assert len(trials) == 8 and len(runs) == 7  # infra_error is not a run
    timed_out = runs.loc[runs["status"] == "timeout"].iloc[0]
    assert timed_out["any_medal"] and timed_out["valid_submission"]
    crashed = runs.loc[runs["status"] == "agent_error"].iloc[0]
    assert not crashed["any_medal"]


def test_mean_and_sem_by_hand():
    _, runs, seeds = frames(sweep_rows())
    table = rates.seed_table(runs, KEYS, seeds, ["A", "B"])
    per_seed = table.set_index("seed")
    assert per_seed["any_medal_pct"].tolist() == [50.0, 100.0, 50.0, 50.0]
    assert per_seed["complete"].tolist() == [True, True, True, False]
    rate = rates.medal_rates(table, KEYS).set_index("metric").loc["any_medal"]
    # complete seeds 50, 100, 50: mean 200/3; deviations -50/3, 100/3, -50/3 give a sample
    # sd of sqrt((2500 + 10000 + 2500) / 9 / 2) = 50/sqrt(3), so SEM = 50/3
    assert rate["mean_pct"] == pytest.approx(200 / 3)
    assert rate["sem_pct"] == pytest.approx(50 / 3)
    assert rate["ci95_low_pct"] == pytest.approx(200 / 3 - 1.96 * 50 / 3)
    assert (rate["seeds"], rate["seeds_incomplete"], rate["seeds_total"]) == (3, 1, 4)
    # padded (MLE-bench --pad-missing): 50, 100, 50, 50 → mean 62.5; deviations -12.5, 37.5,
    # -12.5, -12.5 give a sample sd of sqrt(1875 / 3) = 25, so SEM = 25/√4 = 12.5
    assert rate["padded_mean_pct"] == pytest.approx(62.5)
    assert rate["padded_sem_pct"] == pytest.approx(12.5)


def test_gold_and_valid_rates_by_hand():
    rows = [
        {
            "competition_id": c,
            "seed": s,
            "agent": "x",
            "gold_medal": g,
            "any_medal": g,
            "valid_submission": v,
        }
        for c, s, g, v in [
            ("A", 0, True, True),
            ("B", 0, False, False),
            ("A", 1, False, True),
            ("B", 1, False, True),
        ]
    ]
    _, runs, seeds = frames(rows)
    table = rates.medal_rates(rates.seed_table(runs, KEYS, seeds, ["A", "B"]), KEYS)
    by_metric = table.set_index("metric")
    assert by_metric.loc["gold_medal", "mean_pct"] == pytest.approx(25.0)
    assert by_metric.loc["gold_medal", "sem_pct"] == pytest.approx(25.0)  # sd 35.36/√2
    assert by_metric.loc["valid_submission", "mean_pct"] == pytest.approx(75.0)


def test_one_seed_has_no_sem():
    _, runs, seeds = frames([medal("A", 0, True), medal("B", 0, False)])
    rate = rates.medal_rates(rates.seed_table(runs, KEYS, seeds, ["A", "B"]), KEYS)
    assert rate.set_index("metric").loc["any_medal", "mean_pct"] == 50.0
    assert pd.isna(rate.set_index("metric").loc["any_medal", "sem_pct"])


def test_incomplete_seeds_name_what_is_missing():
    rows = sweep_rows() + [medal("C", 0, False)]  # C expected; only seed 0 ran it
    _, runs, seeds = frames(rows)
    table = rates.seed_table(runs, KEYS, seeds, ["A", "B", "C"])
    missing = rates.incomplete_seeds(runs, KEYS, table, ["A", "B", "C"]).set_index("seed")
    assert missing.loc[1, "missing"] == ["C"]
    assert missing.loc[3, "missing"] == ["B", "C"]
    assert 0 not in missing.index


def test_seed_with_only_not_run_trials_is_reported():
    rows = [medal("A", 0, True), medal("A", 1, False, status="cancelled")]
    _, runs, seeds = frames(rows)
    table = rates.seed_table(runs, KEYS, seeds, ["A"])
    assert table.set_index("seed").loc[1, "competitions_run"] == 0
    assert rates.incomplete_seeds(runs, KEYS, table, ["A"])["seed"].tolist() == [1]


def test_retried_trial_counts_once_with_its_last_attempt():
    first = medal("A", 0, False, status="infra_error", attempt=1, trial_id="t")
    second = medal("A", 0, True, attempt=2, trial_id="t")
    trials = final_trials(trial_table([first, second]).to_pandas())
    assert trials["attempt"].tolist() == [2]
    assert runs_frame(trials)["any_medal"].tolist() == [True]


def test_bootstrap_is_deterministic_and_brackets_the_rate():
    values = np.random.default_rng(3).random(20)
    first = bootstrap.bootstrap_ci(values, n_boot=3000, seed=7)
    assert first == bootstrap.bootstrap_ci(values, n_boot=3000, seed=7)
    assert first != bootstrap.bootstrap_ci(values, n_boot=3000, seed=8)
    low, high = first
    assert 0.0 <= low < values.mean() < high <= 1.0


def test_bootstrap_of_two_clusters_spans_both():
    # means of two draws from {0, 1}: 0, .5, 1 with chances 1/4, 1/2, 1/4
    assert bootstrap.bootstrap_ci(np.array([0.0, 1.0]), n_boot=4000, seed=0) == (0.0, 1.0)


def test_bootstrap_table_resamples_competitions_not_runs():
    rows = [medal(c, s, c == "A") for c in "ABCD" for s in range(3)]
    _, runs, _ = frames(rows)
    table = bootstrap.bootstrap_table(runs, KEYS, ["any_medal"], n_boot=500, seed=0)
    row = table.iloc[0]
    assert row["rate_pct"] == pytest.approx(25.0)
    assert row["competitions"] == 4
    # With 4 clusters one of which is all-medal, the interval must include 0% and reach ≥ 50%.
    assert row["ci_low_pct"] == 0.0 and row["ci_high_pct"] >= 50.0


def test_paired_difference_on_shared_competitions():
    rows = []
    for comp, (x_won, y_won) in {
        "A": (True, False),
        "B": (True, True),
        "C": (False, False),
    }.items():
        for seed in range(2):
            rows.append({**medal(comp, seed, x_won), "agent": "x"})
            rows.append({**medal(comp, seed, y_won), "agent": "y"})
    rows.append({**medal("D", 0, True), "agent": "x"})  # only x ran D: not compared
    _, runs, _ = frames(rows)
    table = bootstrap.paired_table(runs, KEYS, "any_medal", n_boot=500, seed=0)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["a"], row["b"]) == ("x / -", "y / -")
    assert row["difference_pct"] == pytest.approx(100 / 3)
    assert row["competitions"] == 3
    assert (row["a_better"], row["b_better"], row["ties"]) == (1, 0, 2)
    # differences 1, 0, 0: resampled means lie in {0, 1/3, 2/3, 1}
    assert row["ci_low_pct"] == 0.0 and 100 / 3 < row["ci_high_pct"] <= 100.0


def test_bootstrap_of_several_metrics_matches_one_at_a_time():
    values = np.random.default_rng(2).random((15, 3))
    low, high = bootstrap.bootstrap_ci(values, n_boot=800, seed=4)
    for m in range(3):
        assert (low[m], high[m]) == pytest.approx(bootstrap.bootstrap_ci(values[:, m], 800, 4))
