"""pass@k: the estimator against exact fractions, its edge cases, and the per-group table."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np
import pandas as pd
import pytest

from mleray.analysis.passk import pass_at_k, pass_at_k_table


def exact(n: int, c: int, k: int) -> Fraction:
    return 1 - Fraction(comb(n - c, k), comb(n, k))


@pytest.mark.parametrize(
    "n, c, k, expected",
    [
        (5, 2, 2, 0.7),  # 1 − C(3,2)/C(5,2) = 1 − 3/10
        (4, 1, 1, 0.25),
        (3, 1, 2, 2 / 3),  # 1 − C(2,2)/C(3,2)
        (10, 3, 4, 1 - 35 / 210),  # C(7,4)=35, C(10,4)=210
    ],
)
def test_hand_computed_values(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, rel=1e-14)


def test_edge_cases():
    assert pass_at_k(7, 0, 3) == 0.0
    assert pass_at_k(7, 7, 3) == 1.0
    assert pass_at_k(7, 1, 7) == 1.0  # k = n: any success means pass
    assert pass_at_k(7, 0, 7) == 0.0
    assert pass_at_k(5, 4, 2) == 1.0  # n − c < k: every draw holds a success
    assert np.signbit(pass_at_k(3, 0, 1)) == False  # noqa: E712  no negative zero


@pytest.mark.parametrize("n, c, k", [(3, 1, 4), (3, 1, 0), (3, 4, 1), (3, -1, 1)])
def test_invalid_arguments_raise(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_non_integers_raise():
    with pytest.raises(ValueError):
        pass_at_k(5.5, 1, 1)
    with pytest.raises(ValueError):
        pass_at_k(5, "1", 1)


@pytest.mark.parametrize(
    "c, k",
    [
        (1, 1),
        (1, 2),
        (3, 7),
        (17, 100),
        (100, 50),
        (2500, 3),
        (5000, 5000),
        (9000, 900),
        (1, 9999),
        (9990, 5),
    ],
)
def test_large_n_matches_exact_fractions(c, k):
    n = 10_000
    want = float(exact(n, c, k))
    got = pass_at_k(n, c, k)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-300)


def test_vectorised_over_arrays_matches_scalars():
    rng = np.random.default_rng(1)
    n = rng.integers(1, 60, size=500)
    c = (rng.random(500) * (n + 1)).astype(int)
    k = 1 + (rng.random(500) * n).astype(int)
    values = pass_at_k(n, c, k)
    assert values.shape == (500,)
    for i in range(0, 500, 37):
        assert values[i] == pytest.approx(float(exact(int(n[i]), int(c[i]), int(k[i]))), rel=1e-12)


def test_broadcasting_keeps_shape():
    grid = pass_at_k(np.array([[4], [4]]), np.array([[0], [2]]), np.array([1, 2, 3]))
    assert grid.shape == (2, 3)
    assert grid[0].tolist() == [0.0, 0.0, 0.0]
    assert grid[1] == pytest.approx([0.5, 1 - 1 / 6, 1.0])


def test_table_averages_competitions_with_enough_runs():
    # comp A: 4 runs, 3 medals; comp B: 3 runs, 1 medal.
    runs = pd.DataFrame(
        {
            "agent": ["x"] * 7,
            "model": ["m"] * 7,
            "competition_id": ["A"] * 4 + ["B"] * 3,
            "any_medal": [True, True, False, True, False, True, False],
        }
    )
    table = pass_at_k_table(runs, ["agent", "model"], ["any_medal"], [1, 2, 4])
    by_k = table.set_index("k")
    assert by_k.loc[1, "pass_at_k"] == pytest.approx((3 / 4 + 1 / 3) / 2)
    assert by_k.loc[2, "pass_at_k"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert by_k.loc[4, "pass_at_k"] == pytest.approx(1.0)  # only A has 4 runs
    assert by_k["competitions"].tolist() == [2, 2, 1]
    assert by_k["competitions_run"].tolist() == [2, 2, 2]


def test_table_separates_groups_and_metrics():
    runs = pd.DataFrame(
        {
            "agent": ["x", "x", "y", "y"],
            "model": ["m"] * 4,
            "competition_id": ["A"] * 4,
            "any_medal": [True, False, False, False],
            "gold_medal": [False, False, False, False],
        }
    )
    table = pass_at_k_table(runs, ["agent", "model"], ["any_medal", "gold_medal"], [1, 2])
    value = table.set_index(["agent", "metric", "k"])["pass_at_k"]
    assert value[("x", "any_medal", 1)] == pytest.approx(0.5)
    assert value[("x", "any_medal", 2)] == pytest.approx(1.0)
    assert value[("y", "any_medal", 2)] == 0.0
    assert value[("x", "gold_medal", 2)] == 0.0
    assert len(table) == 2 * 2 * 2


def test_table_matches_exact_values_on_random_runs():
    rng = np.random.default_rng(5)
    rows = []
    for comp in range(12):
        n = int(rng.integers(1, 9))  # competitions with different run counts
        for agent in ("x", "y"):
            rows += [
                {
                    "agent": agent,
                    "model": "m",
                    "competition_id": f"c{comp}",
                    "any_medal": bool(rng.random() < 0.4),
                }
                for _ in range(n)
            ]
    runs = pd.DataFrame(rows)
    ks = [1, 2, 3, 5, 8]
    table = pass_at_k_table(runs, ["agent", "model"], ["any_medal"], ks)
    for (agent, k), row in table.set_index(["agent", "k"]).iterrows():
        per_comp = (
            runs.loc[runs["agent"] == agent]
            .groupby("competition_id")["any_medal"]
            .agg(["size", "sum"])
        )
        usable = per_comp.loc[per_comp["size"] >= k]
        want = [float(exact(int(n), int(c), k)) for n, c in zip(usable["size"], usable["sum"])]
        assert row["competitions"] == len(want)
        if want:
            assert row["pass_at_k"] == pytest.approx(sum(want) / len(want), rel=1e-12)
        else:
            assert np.isnan(row["pass_at_k"])
