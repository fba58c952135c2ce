"""Medal thresholds and decisions, exactly as MLE-bench applies Kaggle's progression rules
(openai/mle-bench, mlebench/grade_helpers.py: `Grader.rank_score`, `is_lower_better`).

Thresholds are leaderboard scores taken by position (rows ranked best first, as the file
lists them), never re-sorted. Only the submission's score is rounded to 5 decimals, as
MLE-bench rounds a grader's result (`round(score, 5)` on the value as the grader returned
it); thresholds and the median are used as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mleray.competition import Competition
from mleray.errors import SpecError
from mleray.grading.metric_names import LOWER_IS_BETTER
from mleray.grading.report import MedalThresholds

SCORE_DECIMALS = 5


@dataclass(frozen=True)
class MedalDecision:
    gold_medal: bool
    silver_medal: bool
    bronze_medal: bool
    above_median: bool

    @property
    def any_medal(self) -> bool:
        return self.gold_medal or self.silver_medal or self.bronze_medal


def load_leaderboard(path: Path) -> pd.DataFrame:
    """A leaderboard CSV with a numeric `score` column, best first; SpecError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"leaderboard {path} does not exist")
    if is_lfs_pointer(path):
        raise SpecError(
            f"leaderboard {path} is a Git LFS pointer, not the leaderboard: run `git lfs pull` "
            "in the repository that holds it (MLE-bench keeps its leaderboards in Git LFS)"
        )
    try:
        leaderboard = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SpecError(
            f"leaderboard {path} is not a readable CSV ({' '.join(str(exc).split())})"
        ) from None
    if "score" not in leaderboard.columns:
        raise SpecError(f"leaderboard {path} has no 'score' column")
    if len(leaderboard) == 0:
        raise SpecError(f"leaderboard {path} has no rows")
    if not pd.api.types.is_numeric_dtype(leaderboard["score"]):
        raise SpecError(f"leaderboard {path}: column 'score' is not numeric")
    return leaderboard


def is_lfs_pointer(path: Path) -> bool:
    """Whether `path` is a Git LFS pointer file (a clone without `git lfs pull`)."""
    with open(path, "rb") as handle:
        head = handle.read(64)
    return head.startswith((b"version https://git-lfs.github.com/spec/", b"version https://hawser"))


def infer_lower_is_better(leaderboard: pd.DataFrame) -> bool:
    """MLE-bench's rule: lower is better when the first (best) score is below the last."""
    scores = leaderboard["score"]
    return bool(scores.iloc[0] < scores.iloc[-1])


def resolve_lower_is_better(competition: Competition, leaderboard: pd.DataFrame) -> bool:
    """The config's direction, else the leaderboard's (MLE-bench's rule); a registry metric
    that disagrees with either means a mis-sorted leaderboard or a wrong config. (The
    metric's direction comes from its name: checking this needs no scikit-learn.)"""
    scores = leaderboard["score"]
    inferred = infer_lower_is_better(leaderboard) if scores.iloc[0] != scores.iloc[-1] else None
    chosen = competition.lower_is_better if competition.lower_is_better is not None else inferred
    metric_lower = LOWER_IS_BETTER.get(competition.metric)  # None: a custom grader's
    if metric_lower is not None and chosen is not None and chosen != metric_lower:
        source = (
            "config lower_is_better"
            if competition.lower_is_better is not None
            else (f"leaderboard {competition.leaderboard_path} (best first)")
        )
        raise SpecError(
            f"competition {competition.id}: {source} says lower_is_better={chosen}, "
            f"but metric {competition.metric} has lower_is_better={metric_lower}"
        )
    if chosen is None:
        return metric_lower if metric_lower is not None else infer_lower_is_better(leaderboard)
    return chosen


def medal_positions(num_teams: int) -> tuple[int, int, int]:
    """1-indexed leaderboard positions of the gold, silver and bronze thresholds."""

    def top(share: float) -> int:
        return max(1, int(num_teams * share))

    if num_teams < 1:
        raise ValueError(f"a leaderboard needs at least one team, got {num_teams}")
    if num_teams < 100:
        return top(0.1), top(0.2), top(0.4)
    if num_teams < 250:
        return 10, top(0.2), top(0.4)
    gold = 10 + int(num_teams * 0.002)
    if num_teams < 1000:
        return gold, 50, 100
    return gold, top(0.05), top(0.1)


def medal_thresholds(
    leaderboard: pd.DataFrame, lower_is_better: bool | None = None
) -> MedalThresholds:
    """Gold, silver, bronze and median thresholds of a leaderboard ranked best first."""
    if "score" not in leaderboard.columns or len(leaderboard) == 0:
        raise SpecError("a leaderboard needs a 'score' column and at least one row")
    scores = leaderboard["score"].astype(float)
    if lower_is_better is None:
        lower_is_better = infer_lower_is_better(leaderboard)
    gold, silver, bronze = (float(scores.iloc[k - 1]) for k in medal_positions(len(scores)))
    return MedalThresholds(
        gold=gold,
        silver=silver,
        bronze=bronze,
        median=float(scores.median()),
        lower_is_better=bool(lower_is_better),
    )


def round_score(score) -> float:
    """`round(score, 5)` with the score's own `round`, as MLE-bench's `Grader.__call__` does,
    then a Python float: a numpy scalar rounds half to even (numpy scales by 10**5 and rints:
    1/320 -> 0.00312), a Python float to the nearest of its exact decimal value (0.00313).
    Converting to float first would change numpy's ties. A rounded float rounds to itself."""
    return float(round(score, SCORE_DECIMALS))


def decide_medals(score: float | None, thresholds: MedalThresholds) -> MedalDecision:
    """Medals for a score: inclusive ties win, medals are exclusive, above-median is strict.
    No score (invalid submission) and NaN win nothing (every comparison with NaN is false)."""
    if score is None:
        return MedalDecision(False, False, False, False)
    score = round_score(score)
    if thresholds.lower_is_better:

        def reaches(threshold: float) -> bool:
            return score <= threshold

        above_median = score < thresholds.median
    else:

        def reaches(threshold: float) -> bool:
            return score >= threshold

        above_median = score > thresholds.median
    gold = reaches(thresholds.gold)
    silver = not gold and reaches(thresholds.silver)
    bronze = not gold and not silver and reaches(thresholds.bronze)
    return MedalDecision(gold, silver, bronze, bool(above_median and not math.isnan(score)))
