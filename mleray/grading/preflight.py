"""Before any agent runs: can this competition be graded where grading will run?

`check_gradable` fails, with one MlerayError line, for every reason grading would fail that
is not the submission's fault: a grader that does not import (a missing package is named
with how to install it: `pip install -e path/to/mle-bench` for `mlebench`), an unknown
metric, a leaderboard that is missing, unreadable or a Git LFS pointer (`git lfs pull`), a
leaderboard whose direction contradicts the metric. It reads neither answers nor
submissions, so it can run on any node that will grade, before the answers are checked.
"""

from __future__ import annotations

from pathlib import Path

from mleray.competition import Competition
from mleray.errors import SpecError
from mleray.grading.custom import load_grader
from mleray.grading.medals import load_leaderboard, medal_thresholds, resolve_lower_is_better
from mleray.grading.metric_names import check_metric_name


def check_gradable(competition: Competition) -> None:
    """Import the competition's grader (or find its metric) and read its leaderboard."""
    leaderboard = load_leaderboard(competition.leaderboard_path)
    if competition.grader:
        load_grader(competition.grader, Path(competition.root))
    elif not competition.metric:
        raise SpecError(f"competition {competition.id}: config needs a metric or a grader")
    else:
        check_metric_name(competition.metric)  # (the registry's loader checks it too)
    medal_thresholds(leaderboard, resolve_lower_is_better(competition, leaderboard))
