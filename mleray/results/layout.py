"""Where a results folder keeps each kind of file, and how a file names its attempt.

<results>/trials/<trial_id>-<attempt>.parquet     one file per *final* trial attempt
<results>/snapshots/<trial_id>-<attempt>.parquet  graded anytime snapshots of that attempt
<results>/attempts/<trial_id>-<attempt>.parquet   attempts that were not final (retried
                                                  infra_error, cancelled): for accounting
<results>/artifacts/<trial_id>-<attempt>.tar.gz   the agent's logs/ and code/
<results>/submissions/<trial_id>-<attempt>.csv    the graded submission, so grading can be
                                                  rerun alone (mleray.grading.grade_submission)
<results>/sweep.yaml                              the spec as run
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

TRIALS, SNAPSHOTS, ATTEMPTS, ARTIFACTS = "trials", "snapshots", "attempts", "artifacts"
SUBMISSIONS = "submissions"
SPEC_FILE = "sweep.yaml"
LOCK_FILE = ".lock"


def attempt_file(folder: Path, trial_id: str, attempt: int, suffix: str) -> Path:
    """`folder/<trial_id>-<attempt><suffix>`: every per-attempt file is named so."""
    return folder / f"{trial_id}-{attempt}{suffix}"


def is_hidden(name: str) -> bool:
    """Temp files of a write in progress (dot-names) and other tools' side files."""
    return name.startswith((".", "_"))


def named_attempts(folder: Path) -> Iterator[tuple[str, int]]:
    """(trial_id, attempt) of every result file in `folder`, from its name."""
    if not folder.is_dir():
        return
    for entry in os.scandir(folder):
        if is_hidden(entry.name):
            continue
        tid, _, attempt = entry.name.split(".", 1)[0].rpartition("-")
        if tid and attempt.isdigit():
            yield tid, int(attempt)
