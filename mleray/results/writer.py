"""Writing a results folder: crash-safe files, one driver at a time, rows built here.

Files are written to a temporary dot-name in the same folder, fsynced and renamed, so a
crash leaves either the whole file or an ignored dot-file.

A trial is final once it has a row in `trials/` whose status is not `infra_error`: a rerun
skips it. A trial whose attempts all ended in `infra_error` gets a row (so reports can say
it did not run) but runs again on the next rerun; its next final row moves that one to
`attempts/`, so `trials/` keeps one row per trial for whoever reads the folder directly
(a crash between the two leaves both until the next run's `retire_superseded`; `load()`
keeps the latest attempt meanwhile).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from mleray.errors import FailureKind, MlerayError
from mleray.results.layout import (
    ARTIFACTS,
    ATTEMPTS,
    LOCK_FILE,
    SNAPSHOTS,
    SPEC_FILE,
    SUBMISSIONS,
    TRIALS,
    attempt_file,
    named_attempts,
)
from mleray.results.rows import build_snapshot_row, build_trial_row
from mleray.results.schema import SNAPSHOT_SCHEMA, TRIAL_SCHEMA

if TYPE_CHECKING:  # plain data types only; importing them here would not pull in Ray
    from mleray.actors.outcome import TrialOutcome
    from mleray.grading.report import AttemptGrades
    from mleray.plan import Trial


def write_atomic(path: Path, data: bytes | pa.Table) -> None:
    """Write to a dot-named temp file in the same folder, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as handle:
            if isinstance(data, pa.Table):
                pq.write_table(data, handle)
            else:
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def exclusive(results_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold the results folder for one driver at a time: two drivers writing the same
    folder would run the same pending trials twice. The kernel drops the lock when the
    holder dies, even by SIGKILL, so a crash never leaves the folder locked."""
    root = Path(results_dir)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK_FILE, "a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MlerayError(f"results folder {root} is in use by another running sweep") from None
        try:
            yield root
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class ResultWriter:
    """Appends results to a folder, one atomic file per attempt."""

    def __init__(self, results_dir: str | os.PathLike):
        self.root = Path(results_dir)
        self.root.mkdir(parents=True, exist_ok=True)

    def write_spec(self, spec_dict: dict) -> None:
        text = yaml.safe_dump(spec_dict, sort_keys=False)
        write_atomic(self.root / SPEC_FILE, text.encode())

    def record_final(self, trial: Trial, outcome: TrialOutcome, grades: AttemptGrades) -> None:
        """Store a graded final attempt: its submission (so grading can be redone without
        rerunning the agent), artifacts and snapshot rows, then its trial row, last: a
        final row implies the rest is stored."""
        if outcome.submission is not None:
            self.write_submission(trial.trial_id, outcome.attempt, outcome.submission)
        if outcome.artifacts:
            self.write_artifacts(trial.trial_id, outcome.attempt, outcome.artifacts)
        self.write_snapshots(
            [
                build_snapshot_row(trial, outcome.attempt, elapsed, report)
                for elapsed, report in grades.snapshots
            ]
        )
        row = build_trial_row(trial, outcome, grades.final, grade_error=grades.error)
        self.write_trial(row, final=True)

    def record_unfinished(self, trial: Trial, outcome: TrialOutcome) -> None:
        """Store an attempt that is not the trial's last word (a retried infra_error, a
        cancelled run), for accounting only."""
        self.write_trial(build_trial_row(trial, outcome, None), final=False)

    def write_trial(self, row: dict, final: bool = True) -> Path:
        """A final attempt goes to trials/, any other to attempts/ (accounting only). A
        final row retires the trial's earlier infra_error rows from trials/."""
        tid, attempt = row["trial_id"], row["attempt"]
        path = attempt_file(self.root / (TRIALS if final else ATTEMPTS), tid, attempt, ".parquet")
        write_atomic(path, pa.Table.from_pylist([row], schema=TRIAL_SCHEMA))
        if final:  # attempt numbers, not a listing: a folder may hold a million files
            trials = self.root / TRIALS
            self._retire([attempt_file(trials, tid, k, ".parquet") for k in range(1, attempt)])
        return path

    def rewrite_trial_file(self, path: Path, row: dict) -> None:
        """Replace the row of the trial file at `path` in place (a regrade keeps the file
        and every other file of the folder as they are)."""
        write_atomic(path, pa.Table.from_pylist([row], schema=TRIAL_SCHEMA))

    def retire_superseded(self) -> int:
        """Move to attempts/ every infra_error row of trials/ that a later attempt of the
        same trial superseded (left there by a crash right after the later row was written)."""
        trials = self.root / TRIALS
        latest: dict[str, int] = {}
        for tid, attempt in named_attempts(trials):
            latest[tid] = max(attempt, latest.get(tid, 0))
        return self._retire(
            [
                attempt_file(trials, tid, attempt, ".parquet")
                for tid, attempt in named_attempts(trials)
                if attempt < latest[tid]
            ]
        )

    def _retire(self, paths: list[Path]) -> int:
        moved = 0
        for path in paths:
            try:
                status = pq.read_table(path, columns=["status"]).column("status")[0].as_py()
            except (FileNotFoundError, pa.ArrowException, OSError):
                continue
            if status == FailureKind.INFRA_ERROR.value:  # anything else: load() warns
                (self.root / ATTEMPTS).mkdir(exist_ok=True)
                # atomic: the row is never in neither folder
                os.replace(path, self.root / ATTEMPTS / path.name)
                moved += 1
        return moved

    def write_snapshots(self, rows: list[dict]) -> Path | None:
        if not rows:
            return None
        first = rows[0]
        path = attempt_file(self.root / SNAPSHOTS, first["trial_id"], first["attempt"], ".parquet")
        write_atomic(path, pa.Table.from_pylist(rows, schema=SNAPSHOT_SCHEMA))
        return path

    def write_artifacts(self, trial_id: str, attempt: int, archive: bytes) -> Path:
        path = attempt_file(self.root / ARTIFACTS, trial_id, attempt, ".tar.gz")
        write_atomic(path, archive)
        return path

    def write_submission(self, trial_id: str, attempt: int, data: bytes) -> Path:
        path = attempt_file(self.root / SUBMISSIONS, trial_id, attempt, ".csv")
        write_atomic(path, data)
        return path
