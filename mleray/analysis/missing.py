"""What a sweep lacks, said in one line each: trials not run, competitions never run,
incomplete seeds, competitions without a valid submission.

A report states these instead of failing or silently shrinking its denominators.
"""

from __future__ import annotations

import pandas as pd

from mleray.analysis import scores
from mleray.analysis.frame import GROUP_KEYS, NOT_RUN_STATUSES, group_label, row_label

MAX_LISTED = 8  # names listed in one line before "and N more"

NO_TRIALS = "no trials: the results folder has no trial rows (nothing has finished yet?)"


def listed(names: list) -> str:
    shown = ", ".join(map(str, names[:MAX_LISTED]))
    return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def not_run_line(trials: pd.DataFrame) -> list[str]:
    """Trials whose final status means they never ran (cancelled, infra_error)."""
    not_run = trials.loc[trials["status"].isin(NOT_RUN_STATUSES)]
    if not len(not_run):
        return []
    by_status = not_run["status"].value_counts().sort_index()
    kinds = ", ".join(f"{count} {status}" for status, count in by_status.items())
    by_group = not_run.groupby(GROUP_KEYS, observed=True).size()
    groups = ", ".join(f"{group_label(g)}: {n}" for g, n in by_group.items())
    return [
        f"{len(not_run)} trials not run ({kinds}; {groups}); they are left out of every "
        f"denominator: {listed(sorted(not_run['trial_id']))}"
    ]


def never_run_lines(
    runs: pd.DataFrame, expected_by_split: dict[str | None, list[str]]
) -> list[str]:
    """Expected competitions (of each split) without a single run."""
    ran = set(runs["competition_id"].unique())
    lines = []
    for split, expected in expected_by_split.items():
        absent = sorted(set(expected) - ran)
        if absent:
            where = f"split {split}: " if split else ""
            lines.append(f"{where}{len(absent)} competitions have no run at all: {listed(absent)}")
    return lines


def incomplete_lines(incomplete: pd.DataFrame, keys: list[str]) -> list[str]:
    """A line per incomplete seed when there are few, else a line per group."""
    rows = incomplete.to_dict("records")
    if len(rows) <= MAX_LISTED:
        return [
            f"{row_label(row, keys)} seed {row['seed']}: incomplete, "
            f"{len(row['missing'])} of {row['competitions_expected']} competitions "
            f"missing ({listed(row['missing'])})"
            for row in rows
        ]
    lines = []
    for group, block in incomplete.groupby(keys, observed=True, sort=True):
        absent = int(block["missing"].map(len).sum())
        lines.append(
            f"{group_label(group)}: {len(block)} seeds incomplete, {absent} runs "
            f"missing in all (seeds {listed(block['seed'].tolist())}); per seed in "
            f"incomplete_seeds"
        )
    return lines


def no_valid_lines(best: pd.DataFrame, keys: list[str]) -> list[str]:
    """Per group: competitions it ran where no run produced a valid submission."""
    return [
        f"{row_label(row, keys)}: no valid submission in {len(row['competitions'])} "
        f"competitions ({listed(row['competitions'])})"
        for row in scores.competitions_without_valid(best, keys).to_dict("records")
    ]
