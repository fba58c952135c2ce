"""Medal thresholds and decisions against MLE-bench's rules and six real leaderboards."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pandas as pd
import pytest

from mleray.errors import SpecError
from mleray.grading import MedalThresholds, decide_medals, load_leaderboard, medal_thresholds
from mleray.grading.medals import infer_lower_is_better, medal_positions

LEADERBOARDS = Path(__file__).parent / "data" / "mlebench" / "leaderboards"

# Hand-computed from the rules: (N, gold, silver, bronze positions, lower_is_better).
REAL = {
    # N=19 (1-99): 10% -> floor(1.9)=1, 20% -> 3, 40% -> 7
    "multi-modal-gesture-recognition": (19, 1, 3, 7, True),
    # N=50: 5, 10, 20
    "detecting-insults-in-social-commentary": (50, 5, 10, 20, False),
    # N=80: 8, 16, 32 (many 0.0 scores at the bottom)
    "herbarium-2021-fgvc8": (80, 8, 16, 32, False),
    # N=81: floor(8.1)=8, floor(16.2)=16, floor(32.4)=32
    "mlsp-2013-birds": (81, 8, 16, 32, False),
    # N=162 (100-249): gold pos(10), silver floor(32.4)=32, bronze floor(64.8)=64
    "denoising-dirty-documents": (162, 10, 32, 64, True),
    # N=462 (250-999): gold 10+floor(0.924)=10, silver pos(50), bronze pos(100)
    "random-acts-of-pizza": (462, 10, 50, 100, False),
}


def _real(name: str) -> pd.DataFrame:
    return load_leaderboard(LEADERBOARDS / name / "leaderboard.csv")


def test_all_six_leaderboards_are_present():
    assert sorted(p.name for p in LEADERBOARDS.iterdir() if p.is_dir()) == sorted(REAL)


def test_gesture_recognition_matches_published_oracle():
    t = medal_thresholds(_real("multi-modal-gesture-recognition"))
    assert (t.gold, t.silver, t.bronze, t.median) == (0.13304, 0.1769, 0.24926, 0.322)
    assert t.lower_is_better is True


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_leaderboard_thresholds(name):
    n, gold, silver, bronze, lower = REAL[name]
    leaderboard = _real(name)
    scores = [float(s) for s in leaderboard["score"]]
    assert len(scores) == n
    t = medal_thresholds(leaderboard)
    assert t.lower_is_better is lower
    assert (t.gold, t.silver, t.bronze) == (
        scores[gold - 1],
        scores[silver - 1],
        scores[bronze - 1],
    )
    assert t.median == pytest.approx(statistics.median(scores), abs=1e-12)
    # best-first order means the medal thresholds are ordered from hardest to easiest
    ordered = [t.gold, t.silver, t.bronze]
    assert ordered == sorted(ordered, reverse=not lower)


def test_real_values_spot_checks():
    pizza = medal_thresholds(_real("random-acts-of-pizza"))
    assert (pizza.gold, pizza.silver, pizza.bronze) == (0.97908, 0.76482, 0.6921)
    assert pizza.median == pytest.approx(0.599595)  # N even: mean of rows 231 and 232
    denoise = medal_thresholds(_real("denoising-dirty-documents"))
    assert (denoise.gold, denoise.silver, denoise.bronze, denoise.median) == (
        0.01794,
        0.02609,
        0.04517,
        0.07325,
    )


def test_real_decisions_gesture():
    t = medal_thresholds(_real("multi-modal-gesture-recognition"))
    assert decide_medals(0.13304, t).gold_medal
    assert decide_medals(0.15, t).silver_medal
    assert decide_medals(0.2, t).bronze_medal
    middle = decide_medals(0.3, t)
    assert middle.above_median and not middle.any_medal
    assert not decide_medals(0.5, t).above_median


def test_pizza_seven_way_tie_at_one_wins_gold():
    t = medal_thresholds(_real("random-acts-of-pizza"))
    assert decide_medals(1.0, t).gold_medal


def _ranked(n: int, lower_is_better: bool) -> pd.DataFrame:
    """Scores equal to positions (lower is better) or to -position (higher is better)."""
    sign = 1 if lower_is_better else -1
    return pd.DataFrame({"score": [sign * float(k) for k in range(1, n + 1)]})


# (N, gold, silver, bronze positions) by hand from the table, every regime and its edges.
REGIMES = [
    (1, 1, 1, 1),
    (2, 1, 1, 1),
    (9, 1, 1, 3),
    (10, 1, 2, 4),
    (99, 9, 19, 39),
    (100, 10, 20, 40),
    (101, 10, 20, 40),
    (249, 10, 49, 99),
    (250, 10, 50, 100),
    (499, 10, 50, 100),
    (500, 11, 50, 100),
    (999, 11, 50, 100),
    (1000, 12, 50, 100),
    (1499, 12, 74, 149),
    (1500, 13, 75, 150),
    (5000, 20, 250, 500),
]


@pytest.mark.parametrize("n,gold,silver,bronze", REGIMES)
@pytest.mark.parametrize("lower", [True, False])
def test_regimes(n, gold, silver, bronze, lower):
    assert medal_positions(n) == (gold, silver, bronze)
    sign = 1 if lower else -1
    t = medal_thresholds(_ranked(n, lower))
    assert (t.gold, t.silver, t.bronze) == (sign * gold, sign * silver, sign * bronze)
    assert t.median == sign * (n + 1) / 2
    assert t.lower_is_better is (lower if n > 1 else False)  # one row: first == last


def test_thousand_team_leaderboard_decisions():
    t = medal_thresholds(
        _ranked(2000, lower_is_better=False)
    )  # gold pos 14, silver 100, bronze 200
    assert (t.gold, t.silver, t.bronze) == (-14.0, -100.0, -200.0)
    assert decide_medals(-14, t).gold_medal
    assert decide_medals(-15, t).silver_medal
    assert decide_medals(-100, t).silver_medal
    assert decide_medals(-101, t).bronze_medal
    assert decide_medals(-200, t).bronze_medal
    none = decide_medals(-201, t)
    assert not none.any_medal and none.above_median


def _thresholds(lower: bool) -> MedalThresholds:
    if lower:
        return MedalThresholds(gold=0.1, silver=0.2, bronze=0.3, median=0.5, lower_is_better=True)
    return MedalThresholds(gold=0.9, silver=0.8, bronze=0.7, median=0.5, lower_is_better=False)


@pytest.mark.parametrize("lower", [True, False])
def test_ties_at_thresholds_win_and_medals_are_exclusive(lower):
    t = _thresholds(lower)
    for threshold, medal in [
        (t.gold, "gold_medal"),
        (t.silver, "silver_medal"),
        (t.bronze, "bronze_medal"),
    ]:
        d = decide_medals(threshold, t)
        won = [m for m in ("gold_medal", "silver_medal", "bronze_medal") if getattr(d, m)]
        assert won == [medal] and d.any_medal and d.above_median


@pytest.mark.parametrize("lower", [True, False])
def test_above_median_is_strict(lower):
    t = _thresholds(lower)
    assert not decide_medals(0.5, t).above_median
    assert decide_medals(0.49 if lower else 0.51, t).above_median
    assert not decide_medals(0.51 if lower else 0.49, t).above_median


def test_score_rounded_to_five_decimals_before_comparing():
    lower = _thresholds(True)
    assert decide_medals(0.1000049, lower).gold_medal  # rounds to 0.10000
    assert not decide_medals(0.1000051, lower).gold_medal  # rounds to 0.10001
    assert decide_medals(0.1000051, lower).silver_medal
    higher = _thresholds(False)
    assert decide_medals(0.8999951, higher).gold_medal  # rounds to 0.90000
    assert not decide_medals(0.8999949, higher).gold_medal


def test_nan_and_missing_scores_win_nothing():
    for lower in (True, False):
        for score in (math.nan, None):
            d = decide_medals(score, _thresholds(lower))
            assert not (
                d.any_medal or d.gold_medal or d.silver_medal or d.bronze_medal or d.above_median
            )


def test_direction_inference_and_override():
    assert infer_lower_is_better(pd.DataFrame({"score": [0.1, 0.5]})) is True
    assert infer_lower_is_better(pd.DataFrame({"score": [0.9, 0.5]})) is False
    assert (
        infer_lower_is_better(pd.DataFrame({"score": [0.5, 0.5]})) is False
    )  # MLE-bench: tie -> higher
    gesture = _real("multi-modal-gesture-recognition")
    forced = medal_thresholds(gesture, lower_is_better=False)
    assert forced.lower_is_better is False and forced.gold == 0.13304  # positions are not re-sorted


def test_bad_leaderboards_are_spec_errors(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        load_leaderboard(tmp_path / "nope.csv")
    (tmp_path / "noscore.csv").write_text("team,points\na,1\n")
    with pytest.raises(SpecError, match="no 'score' column"):
        load_leaderboard(tmp_path / "noscore.csv")
    (tmp_path / "empty.csv").write_text("score\n")
    with pytest.raises(SpecError, match="no rows"):
        load_leaderboard(tmp_path / "empty.csv")
    (tmp_path / "text.csv").write_text("score\nhigh\nlow\n")
    with pytest.raises(SpecError, match="not numeric"):
        load_leaderboard(tmp_path / "text.csv")
    with pytest.raises(SpecError):
        medal_thresholds(pd.DataFrame({"score": []}))
