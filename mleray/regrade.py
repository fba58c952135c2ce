"""Regrading a results folder from its stored submissions.

Grading is a pure function of (competition, submission file), and every final attempt's
submission is kept in `<results>/submissions/`, so a grade can be redone without rerunning
any agent: after a leaderboard or grader fix, or when grading failed (answers missing or
corrupt on the grading node, recorded in `grade_error`). Run it where the private answers
are (the head node of a cluster). Each trial file is rewritten atomically, under the
folder's lock, so a running sweep and a regrade never write the same folder at once.
Anytime snapshots are not regraded: their files are not kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mleray.data import ensure_prepared
from mleray.grading import grade_submission
from mleray.registry import get_competition
from mleray.results import (
    GRADE,
    SUBMISSIONS,
    TRIALS,
    ResultWriter,
    exclusive,
    existing_results_folder,
    grade_columns,
    read_trial_file,
)
from mleray.results.layout import attempt_file, is_hidden

NOT_RUN = ("infra_error", "cancelled")  # no submission was produced: nothing to grade
_COMPARED = [f.name for f in GRADE if f.name != "graded_at"]


@dataclass
class RegradeSummary:
    regraded: int = 0  # rows graded again
    changed: list[str] = field(default_factory=list)  # trial ids whose grade changed
    no_stored_submission: list[str] = field(default_factory=list)  # left as they were
    skipped: int = 0  # not run, or (with only_failed) graded fine


def regrade(
    results_dir: str | os.PathLike,
    *,
    only_failed: bool = False,
    extra_paths: list[str] | None = None,
) -> RegradeSummary:
    """Grade every final trial of `results_dir` again from its stored submission.

    `only_failed` limits it to rows whose grading failed (`grade_error` set with no
    score). A row whose submission was not stored (written before submissions were kept)
    is left untouched rather than regraded as "no submission"."""
    root = existing_results_folder(results_dir)
    summary, competitions, writer = RegradeSummary(), {}, ResultWriter(root)
    with exclusive(root):
        for path in sorted((root / TRIALS).glob("*.parquet")):
            if is_hidden(path.name):
                continue
            row = read_trial_file(path)
            if row["status"] in NOT_RUN or (only_failed and not _grading_failed(row)):
                summary.skipped += 1
                continue
            stored = attempt_file(root / SUBMISSIONS, row["trial_id"], row["attempt"], ".csv")
            if row["submission_exists"] is not False and not stored.is_file():
                summary.no_stored_submission.append(row["trial_id"])
                continue
            cid = row["competition_id"]
            if cid not in competitions:
                competitions[cid] = ensure_prepared(get_competition(cid, extra_paths=extra_paths))
            report = grade_submission(competitions[cid], stored if stored.is_file() else None)
            new = {**row, **grade_columns(report)}
            if any(new[name] != row[name] for name in _COMPARED):
                summary.changed.append(row["trial_id"])
            writer.rewrite_trial_file(path, new)
            summary.regraded += 1
    return summary


def _grading_failed(row: dict) -> bool:
    return (
        row["grade_error"] is not None
        and row["score"] is None
        and row["submission_exists"] is not False
    )
