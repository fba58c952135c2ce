"""The result store: one Arrow schema, a crash-safe writer, and `load()`.

Layout of a results folder:
  <results>/trials/<trial_id>-<attempt>.parquet     one file per *final* trial attempt
  <results>/snapshots/<trial_id>-<attempt>.parquet  graded anytime snapshots of that attempt
  <results>/attempts/<trial_id>-<attempt>.parquet   attempts that were not final (retried
                                                    infra_error, cancelled): for accounting
  <results>/artifacts/<trial_id>-<attempt>.tar.gz   the agent's logs/ and code/
  <results>/submissions/<trial_id>-<attempt>.csv    the graded submission, so grading can be
                                                    rerun alone (mleray.grading.grade_submission)
  <results>/sweep.yaml                              the spec as run

Files are written to a temporary dot-name in the same folder, fsynced and renamed, so a
crash leaves either the whole file or an ignored dot-file. pandas, polars and DuckDB read
the folders directly (they skip dot-files too).

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
import logging
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import yaml

from mleray import __version__
from mleray.errors import FailureKind, MlerayError, NotFoundError

if TYPE_CHECKING:  # plain data types only; importing them here would not pull in Ray
    from mleray.actors.outcome import TrialOutcome
    from mleray.grading.report import GradeReport
    from mleray.plan import Trial

log = logging.getLogger(__name__)

_TS = pa.timestamp("us", tz="UTC")

IDENTITY = [
    pa.field("trial_id", pa.string(), nullable=False),
    pa.field("sweep", pa.string(), nullable=False),
    pa.field("competition_id", pa.string(), nullable=False),
    pa.field("agent", pa.string(), nullable=False),
    pa.field("model", pa.string()),
    pa.field("seed", pa.int64(), nullable=False),
    pa.field("attempt", pa.int64(), nullable=False),
]

OUTCOME = [
    pa.field("status", pa.string(), nullable=False),  # a FailureKind value
    pa.field("error", pa.string()),  # why the run failed, if it did
    pa.field("exit_code", pa.int64()),
]

PLACEMENT = [
    pa.field("sandbox", pa.string()),
    pa.field("node_id", pa.string()),
    pa.field("node_ip", pa.string()),
    pa.field("gpu_ids", pa.string()),  # comma-separated ids Ray granted, "" for none
    pa.field("gpu_share", pa.float64()),  # num_gpus the actor reserved (fractional)
    pa.field("cpus", pa.float64()),
    pa.field("memory_bytes", pa.int64()),
    pa.field("time_limit", pa.float64()),
    pa.field("started_at", _TS),
    pa.field("finished_at", _TS),
    pa.field("wall_seconds", pa.float64()),
    pa.field("gpu_seconds", pa.float64()),  # gpu_share × wall_seconds
    pa.field("cpu_seconds", pa.float64()),  # container CPU time
    pa.field("peak_memory_bytes", pa.int64()),
]

GRADE = [  # every GradeReport field; its `error` is stored as `grade_error`
    pa.field("score", pa.float64()),
    pa.field("gold_threshold", pa.float64()),
    pa.field("silver_threshold", pa.float64()),
    pa.field("bronze_threshold", pa.float64()),
    pa.field("median_threshold", pa.float64()),
    pa.field("any_medal", pa.bool_()),
    pa.field("gold_medal", pa.bool_()),
    pa.field("silver_medal", pa.bool_()),
    pa.field("bronze_medal", pa.bool_()),
    pa.field("above_median", pa.bool_()),
    pa.field("submission_exists", pa.bool_()),
    pa.field("valid_submission", pa.bool_()),
    pa.field("is_lower_better", pa.bool_()),
    pa.field("grade_error", pa.string()),
    pa.field("graded_at", _TS),
]

VERSIONS = [
    pa.field("mleray_version", pa.string()),
    pa.field("image_id", pa.string()),
    pa.field("kwargs", pa.string()),  # the agent kwargs as JSON
]

TRIAL_SCHEMA = pa.schema(IDENTITY + OUTCOME + PLACEMENT + GRADE + VERSIONS)

SNAPSHOT_SCHEMA = pa.schema(IDENTITY + [pa.field("elapsed_seconds", pa.float64())] + GRADE)


TRIALS, SNAPSHOTS, ATTEMPTS, ARTIFACTS = "trials", "snapshots", "attempts", "artifacts"
SUBMISSIONS = "submissions"
SPEC_FILE = "sweep.yaml"


def grade_columns(report: GradeReport | None) -> dict:
    """The GRADE columns of a row for a report (all null for none)."""
    if report is None:
        return {f.name: None for f in GRADE}
    values = report.to_dict()
    values["grade_error"] = values.pop("error")
    values.pop("competition_id", None)
    return {f.name: values.get(f.name) for f in GRADE}


def _identity(trial: Trial, attempt: int) -> dict:
    return {
        "trial_id": trial.trial_id,
        "sweep": trial.sweep,
        "competition_id": trial.competition_id,
        "agent": trial.agent,
        "model": trial.model,
        "seed": trial.seed,
        "attempt": attempt,
    }


def build_trial_row(trial: Trial, outcome: TrialOutcome, report: GradeReport | None) -> dict:
    """One TRIAL_SCHEMA row: identity, outcome, placement and usage, grade, versions."""
    return {
        **_identity(trial, outcome.attempt),
        "status": outcome.status,
        "error": outcome.error,
        "exit_code": outcome.exit_code,
        "sandbox": outcome.sandbox or trial.sandbox,
        "node_id": outcome.node_id,
        "node_ip": outcome.node_ip,
        "gpu_ids": ",".join(outcome.gpu_ids),
        "gpu_share": trial.gpus,
        "cpus": trial.cpus,
        "memory_bytes": trial.memory_bytes,
        "time_limit": trial.time_limit,
        "started_at": outcome.started_at,
        "finished_at": outcome.finished_at,
        "wall_seconds": outcome.wall_seconds,
        "gpu_seconds": trial.gpus * outcome.wall_seconds,
        "cpu_seconds": outcome.cpu_seconds,
        "peak_memory_bytes": outcome.peak_memory_bytes,
        **grade_columns(report),
        "mleray_version": __version__,
        "image_id": outcome.image_id,
        "kwargs": trial.kwargs_json,
    }


def build_snapshot_row(trial: Trial, attempt: int, elapsed: float, report: GradeReport) -> dict:
    return {**_identity(trial, attempt), "elapsed_seconds": elapsed, **grade_columns(report)}


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


LOCK_FILE = ".lock"


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

    def write_trial(self, row: dict, final: bool = True) -> Path:
        """A final attempt goes to trials/, any other to attempts/ (accounting only). A
        final row retires the trial's earlier infra_error rows from trials/."""
        folder = TRIALS if final else ATTEMPTS
        path = self.root / folder / f"{row['trial_id']}-{row['attempt']}.parquet"
        write_atomic(path, pa.Table.from_pylist([row], schema=TRIAL_SCHEMA))
        if final:  # attempt numbers, not a listing: a folder may hold a million files
            self._retire(
                [
                    self.root / TRIALS / f"{row['trial_id']}-{k}.parquet"
                    for k in range(1, row["attempt"])
                ]
            )
        return path

    def retire_superseded(self) -> int:
        """Move to attempts/ every infra_error row of trials/ that a later attempt of the
        same trial superseded (left there by a crash right after the later row was written)."""
        latest: dict[str, int] = {}
        for tid, attempt in _named_attempts(self.root / TRIALS):
            latest[tid] = max(attempt, latest.get(tid, 0))
        return self._retire(
            [
                self.root / TRIALS / f"{tid}-{attempt}.parquet"
                for tid, attempt in _named_attempts(self.root / TRIALS)
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
            if (
                status == FailureKind.INFRA_ERROR.value
            ):  # anything else is a real duplicate: load() warns
                (self.root / ATTEMPTS).mkdir(exist_ok=True)
                os.replace(
                    path, self.root / ATTEMPTS / path.name
                )  # atomic: never in neither folder
                moved += 1
        return moved

    def write_snapshots(self, rows: list[dict]) -> Path | None:
        if not rows:
            return None
        path = self.root / SNAPSHOTS / f"{rows[0]['trial_id']}-{rows[0]['attempt']}.parquet"
        write_atomic(path, pa.Table.from_pylist(rows, schema=SNAPSHOT_SCHEMA))
        return path

    def write_artifacts(self, trial_id: str, attempt: int, archive: bytes) -> Path:
        path = self.root / ARTIFACTS / f"{trial_id}-{attempt}.tar.gz"
        write_atomic(path, archive)
        return path

    def write_submission(self, trial_id: str, attempt: int, data: bytes) -> Path:
        path = self.root / SUBMISSIONS / f"{trial_id}-{attempt}.csv"
        write_atomic(path, data)
        return path


def _read_folder(folder: Path, schema: pa.Schema, columns: list[str] | None = None) -> pa.Table:
    """All Parquet files under `folder` as one table; unreadable files are skipped, loudly."""
    empty = schema.empty_table()
    if not folder.is_dir():
        return empty.select(columns) if columns else empty
    required = [f.name for f in schema if not f.nullable and (columns is None or f.name in columns)]
    try:
        table = ds.dataset(folder, format="parquet", schema=schema).to_table(columns=columns)
        if not any(table.column(name).null_count for name in required):
            return table
    except (pa.ArrowException, OSError):
        pass  # one bad file: fall back to reading file by file
    tables = []
    for path in sorted(folder.glob("*.parquet")):
        if path.name.startswith((".", "_")):
            continue
        try:
            missing = [name for name in required if name not in pq.read_schema(path).names]
            if missing:  # another program's file: its rows would be null identities
                warnings.warn(
                    f"skipping {path}: not an mleray result file (no column {', '.join(missing)})",
                    stacklevel=3,
                )
                continue
            tables.append(pq.read_table(path, schema=schema, columns=columns))
        except (pa.ArrowException, OSError) as exc:
            warnings.warn(f"skipping unreadable result file {path}: {exc}", stacklevel=3)
    if not tables:
        return empty.select(columns) if columns else empty
    return pa.concat_tables(tables)


def final_trial_ids(results_dir: str | os.PathLike) -> set[str]:
    """Trials with a final row that a rerun must not repeat (anything but infra_error)."""
    table = _read_folder(Path(results_dir) / TRIALS, TRIAL_SCHEMA, ["trial_id", "status"])
    ids, statuses = table.column("trial_id").to_pylist(), table.column("status").to_pylist()
    return {tid for tid, status in zip(ids, statuses) if status != FailureKind.INFRA_ERROR.value}


def attempts_so_far(results_dir: str | os.PathLike) -> dict[str, int]:
    """The highest attempt number that left any file per trial, final or not, read from
    the file names (`<trial_id>-<attempt>.<ext>`). Snapshots and artifacts count too: a
    driver killed after writing them but before the trial row must not reuse the number,
    or a new attempt without snapshots would inherit the dead attempt's."""
    highest: dict[str, int] = {}
    for folder in (TRIALS, ATTEMPTS, SNAPSHOTS, ARTIFACTS, SUBMISSIONS):
        for tid, attempt in _named_attempts(Path(results_dir) / folder):
            highest[tid] = max(attempt, highest.get(tid, 0))
    return highest


def _named_attempts(folder: Path) -> Iterator[tuple[str, int]]:
    """(trial_id, attempt) of every result file in `folder`, from its name."""
    if not folder.is_dir():
        return
    for entry in os.scandir(folder):
        if entry.name.startswith((".", "_")):
            continue
        tid, _, attempt = entry.name.split(".", 1)[0].rpartition("-")
        if tid and attempt.isdigit():
            yield tid, int(attempt)


def _latest_per_trial(df: pd.DataFrame) -> pd.DataFrame:
    if not df["trial_id"].duplicated().any():  # the usual case: no sort of a million ids
        df = df.reset_index(drop=True)
        df.attrs["superseded_rows"] = 0
        return df
    ordered = df.sort_values(["trial_id", "attempt", "finished_at"], kind="stable")
    latest = ordered.drop_duplicates("trial_id", keep="last")
    dropped = ordered.drop(index=latest.index)
    surprising = dropped[dropped["status"] != FailureKind.INFRA_ERROR.value]
    if len(surprising):
        # an infra_error row superseded by a rerun is expected; two final rows are not
        warnings.warn(
            f"{len(surprising)} duplicate final rows (trial ids "
            f"{', '.join(sorted(set(surprising['trial_id']))[:3])}...): kept the latest attempt",
            stacklevel=3,
        )
    latest = latest.reset_index(drop=True)
    latest.attrs["superseded_rows"] = len(dropped)
    return latest


def load(results_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per trial (its latest final attempt), every TRIAL_SCHEMA column."""
    root = existing_results_folder(results_dir)
    df = _read_folder(root / TRIALS, TRIAL_SCHEMA).to_pandas()
    return _latest_per_trial(df) if len(df) else df


def load_attempts(results_dir: str | os.PathLike) -> pd.DataFrame:
    """Every recorded attempt, final or not (for accounting), with a `final` column."""
    root = existing_results_folder(results_dir)
    final = _read_folder(root / TRIALS, TRIAL_SCHEMA).to_pandas().assign(final=True)
    other = _read_folder(root / ATTEMPTS, TRIAL_SCHEMA).to_pandas().assign(final=False)
    frames = [f for f in (final, other) if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else final


def load_snapshots(results_dir: str | os.PathLike) -> pd.DataFrame:
    """Graded snapshots of each trial's final attempt, ordered by trial and elapsed time."""
    root = existing_results_folder(results_dir)
    snaps = _read_folder(root / SNAPSHOTS, SNAPSHOT_SCHEMA).to_pandas()
    if not len(snaps):
        return snaps
    finals = load(root)[["trial_id", "attempt"]]
    snaps = snaps.merge(finals, on=["trial_id", "attempt"], how="inner")
    return snaps.sort_values(["trial_id", "elapsed_seconds"], kind="stable").reset_index(drop=True)


def existing_results_folder(results_dir: str | os.PathLike) -> Path:
    """`results_dir` as a Path; NotFoundError (one line) when it is missing or a file."""
    root = Path(results_dir)
    if root.exists() and not root.is_dir():
        raise NotFoundError(f"{root} is not a results folder (it is a file)")
    if not root.is_dir():
        raise NotFoundError(f"results folder {root} does not exist")
    return root


def trial_ids_in(df: pd.DataFrame, ids: Iterable[str]) -> pd.DataFrame:
    """The rows of `df` for the given trial ids, in that order."""
    order = {tid: i for i, tid in enumerate(ids)}
    picked = df[df["trial_id"].isin(order)]
    return picked.iloc[picked["trial_id"].map(order).argsort()].reset_index(drop=True)


def json_records(df: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts: timestamps in ISO 8601, missing values as None."""
    records = []
    for row in df.to_dict(orient="records"):
        clean = {}
        for key, value in row.items():
            if isinstance(value, pd.Timestamp):
                value = value.isoformat()
            elif (
                value is not None
                and not isinstance(value, (str, bytes, list, dict))
                and pd.isna(value)
            ):
                value = None
            elif hasattr(value, "item"):  # numpy scalar -> Python
                value = value.item()
            clean[key] = value
        records.append(clean)
    return records
