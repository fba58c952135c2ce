"""Check a submission CSV's format against sample_submission.csv, without any labels.

Agents run this inside their container as `validate-submission` (the sandbox mounts this
exact file), and `mleray.grading.grade` reuses its readers and checks against the private
answers. So it imports only the standard library, numpy and pandas, and must work with
Debian bookworm's pandas 1.5.3 / numpy 1.24 as well as pandas 3:

    python3 validate.py SUBMISSION SAMPLE [--id-column C] [--probabilities]

prints one line and exits 0 (valid, maybe with a warning) or 1 (invalid).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import stat
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd

# A submission larger than this (or than SIZE_FACTOR x the reference file) is refused
# unread: it cannot be an honest answer and would only cost the grader memory.
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
SIZE_FACTOR = 10
MAX_COLUMNS = 10_000  # or twice the reference's columns, if more
_SHOWN = 5  # how many offending ids/values an error message lists
_QUOTED_CHARS = 60  # how much of one id/value an error message shows
NO_ID = "no column of the sample submission has one distinct value per row (and is in test*.csv)"


@dataclass(frozen=True)
class ValidationResult:
    valid: bool
    error: str | None
    warning: str | None = None  # valid, but something could not be checked


class SubmissionError(Exception):
    """One line saying what is wrong with a submission file; never escapes the graders."""


def size_limit(reference_path) -> int:
    """The byte cap for a submission compared with `reference_path` (sample or answers)."""
    reference_size = os.stat(reference_path).st_size if os.path.isfile(reference_path) else 0
    return max(DEFAULT_MAX_BYTES, SIZE_FACTOR * reference_size)


def read_text(path, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The file's text, refusing anything that is not a small, regular, UTF-8 text file.

    Symlinks are refused: submissions are copied out of containers, and following a link
    would let an agent point the grader at any file on the host."""
    path = os.fspath(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise SubmissionError(f"{path}: no such file") from None
    except OSError as exc:
        raise SubmissionError(f"{path}: cannot stat ({exc.strerror})") from None
    if stat.S_ISLNK(info.st_mode):
        raise SubmissionError(
            f"{path}: is a symlink (to {os.readlink(path)}); submit a regular file"
        )
    if stat.S_ISDIR(info.st_mode):
        raise SubmissionError(f"{path}: is a directory, not a CSV file")
    if not stat.S_ISREG(info.st_mode):
        raise SubmissionError(f"{path}: is not a regular file")
    data = _read_capped(path, max_bytes)
    if not data or data.isspace():  # (not `strip()`, which copies the file)
        raise SubmissionError(f"{path}: empty file")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise SubmissionError(f"{path}: is UTF-16 text; save it as UTF-8")
    if b"\x00" in data:
        raise SubmissionError(f"{path}: contains NUL bytes: binary data, not a CSV file")
    try:
        return data.decode("utf-8-sig")  # a UTF-8 byte-order mark is harmless
    except UnicodeDecodeError as exc:
        raise SubmissionError(
            f"{path}: not UTF-8 text (invalid byte at offset {exc.start})"
        ) from None


def _read_capped(path: str, max_bytes: int) -> bytes:
    # O_NOFOLLOW and fstat close the gap between the lstat above and the read.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise SubmissionError(f"{path}: cannot open ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SubmissionError(f"{path}: is not a regular file")
        if info.st_size > max_bytes:
            raise SubmissionError(
                f"{path}: too large ({info.st_size} bytes; the limit is {max_bytes})"
            )
        chunks, total = [], 0
        while total <= max_bytes:  # in chunks: the file may grow after fstat
            chunk = handle.read(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    if total > max_bytes:
        raise SubmissionError(f"{path}: too large (over {max_bytes} bytes)")
    return b"".join(chunks)


def column_cap(reference_columns: int) -> int:
    """The most columns read from a submission compared with a reference of that width."""
    return max(MAX_COLUMNS, 2 * reference_columns)


def header_fields(text: str, name: str, max_columns: int | None = MAX_COLUMNS) -> list:
    """The header's fields, refusing a header that cannot be read or is too wide: pandas
    spends about 0.1 ms a column, so a 100 MB header would take it half an hour."""
    try:
        header = next(csv.reader(io.StringIO(text)), [])
    except csv.Error as exc:  # e.g. a field over the csv module's 128 KiB limit
        raise SubmissionError(f"{name}: not a valid CSV header ({_one_line(exc)})") from None
    if max_columns is not None and len(header) > max_columns:
        raise SubmissionError(f"{name}: has {len(header)} columns; at most {max_columns} are read")
    return header


def parse_csv(text: str, name: str, max_columns: int | None = MAX_COLUMNS) -> pd.DataFrame:
    """Every cell as a string, exactly as written (no NaN guessing), so the checks below can
    say precisely what is wrong with a value."""
    header = header_fields(text, name, max_columns)
    repeated = sorted(c for c, n in Counter(header).items() if n > 1)  # linear: headers can be huge
    if repeated:
        raise SubmissionError(f"{name}: repeated column name(s) {_listing(repeated)}")
    try:
        # object, not pandas 3's arrow strings, which are slow to iterate and hash one by one
        frame = pd.read_csv(io.StringIO(text), dtype=object, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError:
        raise SubmissionError(f"{name}: empty file (no header)") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise SubmissionError(f"{name}: not a valid CSV ({_one_line(exc)})") from None
    if len(frame) == 0:
        raise SubmissionError(f"{name}: has a header but no rows")
    if not isinstance(frame.index, pd.RangeIndex):  # pandas moved an extra field to the index
        raise SubmissionError(f"{name}: rows have more fields than the header has columns")
    return frame


def read_csv_strict(
    path, max_bytes: int = DEFAULT_MAX_BYTES, max_columns: int | None = MAX_COLUMNS
) -> pd.DataFrame:
    """A submission (or, with the caps lifted, a reference file) parsed by `parse_csv`."""
    return parse_csv(read_text(path, max_bytes), os.fspath(path), max_columns)


def check_columns(frame: pd.DataFrame, expected: Sequence[str], name: str) -> None:
    found = [str(c) for c in frame.columns]
    missing = [c for c in expected if c not in found]
    extra = [c for c in found if c not in expected]
    if missing and len(found) == 1:
        for sep in (";", "\t", "|"):
            if sep in found[0]:
                raise SubmissionError(f"{name}: columns are separated by {sep!r}; use commas")
    if missing:
        raise SubmissionError(
            f"{name}: missing column(s) {_listing(missing)} (found {_listing(found)})"
        )
    if extra:
        raise SubmissionError(f"{name}: unexpected column(s) {_listing(extra)}")


def _text_keys(values) -> pd.Index:
    return pd.Index([str(v).strip() for v in values], dtype=object)


def _numeric_keys(keys: pd.Index) -> pd.Index | None:
    """Exact decimal ids (equal Decimals hash alike, so an agent writing 7.0 for id 7 still
    matches; floats would merge 20-digit ids), or None when some id is not a number."""
    try:
        numbers = [Decimal(v) for v in keys]
    except InvalidOperation:
        return None
    return pd.Index(numbers, dtype=object) if all(n.is_finite() for n in numbers) else None


def check_ids(frame: pd.DataFrame, id_column: str, reference_ids, name: str) -> np.ndarray:
    """Duplicate, unknown or missing ids and the row count. Returns the row order that
    aligns `frame` with `reference_ids` (`frame.iloc[order]`)."""
    keys, reference = _text_keys(frame[id_column]), _text_keys(reference_ids)
    known = keys.isin(reference)
    if not known.all():  # ids compared as text first, as numbers if need be
        numeric, numeric_reference = _numeric_keys(keys), _numeric_keys(reference)
        if numeric is not None and numeric_reference is not None:
            keys, reference = numeric, numeric_reference
            known = keys.isin(reference)
    if keys.has_duplicates:
        duplicated = keys[keys.duplicated()].unique()
        raise SubmissionError(
            f"{name}: duplicate id(s) in column {id_column!r}: {_listing(duplicated)}"
        )
    if len(keys) != len(reference):
        raise SubmissionError(f"{name}: has {len(keys)} rows, expected {len(reference)}")
    unknown = keys[~known]
    if len(unknown):
        raise SubmissionError(f"{name}: unknown id(s) in column {id_column!r}: {_listing(unknown)}")
    return keys.get_indexer(reference)


def numeric_values(
    column: pd.Series, name: str, ids: Sequence, probability: bool = False
) -> np.ndarray:
    """The column as finite floats; a specific error for empty, NaN, text, inf or, with
    `probability`, anything outside [0, 1]."""
    text = column.astype(str).str.strip()
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    label = f"column {quoted(column.name)}"
    for row in np.flatnonzero(np.isnan(values))[:1]:
        cell = text.iloc[row]
        if cell == "" or cell.lower() in ("nan", "na", "n/a", "null", "none", "-nan"):
            raise SubmissionError(f"{name}: missing value (NaN) in {label}{at_row(row, ids)}")
        raise SubmissionError(
            f"{name}: non-numeric value {quoted(cell)} in {label}{at_row(row, ids)}"
        )
    checks = [("infinite value {!r}", np.isinf(values))]
    if probability:
        checks.append(("probability {} outside [0, 1]", (values < 0) | (values > 1)))
    for message, mask in checks:
        for row in np.flatnonzero(mask)[:1]:
            cell = message.format(_cut(text.iloc[row]))
            raise SubmissionError(f"{name}: {cell} in {label}{at_row(row, ids)}")
    return values


def label_values(column: pd.Series, name: str, ids: Sequence) -> np.ndarray:
    text = column.astype(str).str.strip()
    empty = np.flatnonzero((text == "").to_numpy())
    if len(empty):
        raise SubmissionError(
            f"{name}: missing value in column {quoted(column.name)}{at_row(empty[0], ids)}"
        )
    return text.to_numpy(dtype=object)


@dataclass(frozen=True)
class SampleLayout:
    """A sample's id column (or None) and its predictions: the columns not in test*.csv."""

    id_column: str | None
    predictions: tuple[str, ...]


def public_test_columns(folder) -> set[str] | None:
    """The header fields of the public test table(s) in `folder` (test*.csv), None if none."""
    names = sorted(os.listdir(folder))
    tables = [n for n in names if n.lower().startswith("test") and n.lower().endswith(".csv")]
    columns: set[str] = set()
    for table in tables:
        with open(os.path.join(folder, table), encoding="utf-8-sig", newline="") as handle:
            columns.update(next(csv.reader(handle), []))
    return columns if tables else None


def sample_layout(sample: pd.DataFrame, sample_path, id_column: str | None = None) -> SampleLayout:
    """The id: the given one, else a column with one distinct value per row that the public
    test table beside the sample also has (an id-like name first); with no test table, the
    only such column, or the only id-like one. Never position alone: an MLE-bench sample may
    begin with its target (Insult,Date,Comment). Answers are never read."""
    columns = [str(c) for c in sample.columns]
    shared = public_test_columns(os.path.dirname(os.path.abspath(sample_path)))
    if id_column is None:
        keys = [c for c in columns if c in (columns if shared is None else shared)]
        keys = [c for c in keys if _distinct(sample[c])]
        id_like = [c for c in keys if _id_like(c)]
        if len(keys) == 1 or (keys and shared is not None):
            id_column = (id_like or keys)[0]
        elif len(id_like) == 1:
            id_column = id_like[0]
    features = shared or set()  # copied from the test table, not predicted
    return SampleLayout(id_column, tuple(c for c in columns if c not in {id_column, *features}))


def _id_like(name: str) -> bool:  # id, ID, image_id, PassengerId, ImageID
    return name == "id" or name.lower().endswith(("_id", " id")) or name[-2:] in ("Id", "ID")


def _distinct(column: pd.Series) -> bool:  # one non-empty value per row
    return not (keys := _text_keys(column)).has_duplicates and bool((keys != "").all())


def check_values(
    frame: pd.DataFrame, sample: pd.DataFrame, layout: SampleLayout, name: str, probabilities=()
) -> None:
    """Each prediction column holds what the sample's holds: numbers where it has numbers
    (in [0, 1] for `probabilities`), labels where it has labels (non-empty unless it has)."""
    ids = list(frame[layout.id_column]) if layout.id_column else None
    for column in layout.predictions:
        cells = sample[column].astype(str).str.strip()
        numeric = np.isfinite(pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float)).all()
        if column in probabilities or numeric:
            numeric_values(frame[column], name, ids, probability=column in probabilities)
        elif (cells != "").all():
            label_values(frame[column], name, ids)


def validate_submission(
    submission_path,
    sample_submission_path,
    id_column: str | None = None,
    probability_columns: Sequence[str] = (),
    probabilities: bool = False,
) -> ValidationResult:
    """Compare a submission's format with the sample submission (no labels involved). The
    id column is `sample_layout`'s; without one, ids go unchecked (valid, with a warning).
    `probability_columns` (every prediction column with `probabilities`) must be in [0, 1].
    A broken *sample* raises SubmissionError: that is not the agent's fault."""
    sample = read_csv_strict(sample_submission_path, max_bytes=2**62, max_columns=None)
    if id_column is not None and id_column not in sample.columns:
        raise SubmissionError(f"{sample_submission_path}: has no id column {id_column!r}")
    layout = sample_layout(sample, sample_submission_path, id_column)
    name = os.fspath(submission_path)
    try:
        frame = read_csv_strict(
            submission_path, size_limit(sample_submission_path), column_cap(len(sample.columns))
        )
        check_columns(frame, [str(c) for c in sample.columns], name)
        if layout.id_column:
            check_ids(frame, layout.id_column, sample[layout.id_column], name)
        elif len(frame) != len(sample):
            raise SubmissionError(f"{name}: has {len(frame)} rows, expected {len(sample)}")
        probability_columns = layout.predictions if probabilities else probability_columns
        check_values(frame, sample, layout, name, probability_columns)
    except SubmissionError as exc:
        return ValidationResult(False, str(exc))
    if layout.id_column is None:
        return ValidationResult(True, None, f"cannot check ids: {NO_ID}")
    return ValidationResult(True, None)


def quoted(value) -> str:
    """A value from the submission as an error message shows it: quoted, and cut short
    (a cell can be megabytes long, and errors land in every results row)."""
    return repr(_cut(str(value)))


def _cut(text: str) -> str:
    cut = len(text) > _QUOTED_CHARS
    return f"{text[:_QUOTED_CHARS]}... ({len(text)} characters)" if cut else text


def at_row(row: int, ids: Sequence | None) -> str:
    return f" (row {row + 1}, id {quoted(ids[row])})" if ids is not None else f" (row {row + 1})"


def _listing(items: Sequence) -> str:
    shown = ", ".join(quoted(i) for i in list(items)[:_SHOWN])
    more = len(items) - _SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="validate-submission",
        description="Check a submission CSV's format against the sample submission (no labels).",
    )
    parser.add_argument("submission", help="your submission.csv")
    parser.add_argument("sample", help="the competition's sample_submission.csv")
    parser.add_argument("--id-column", help="id column (default: inferred from sample and test)")
    parser.add_argument(
        "--probabilities", action="store_true", help="predictions must be probabilities in [0, 1]"
    )
    args = parser.parse_args(argv)
    try:
        result = validate_submission(
            args.submission, args.sample, args.id_column, probabilities=args.probabilities
        )
    except SubmissionError as exc:
        print(f"cannot validate: sample submission is unusable: {exc}")
        return 2
    warning = f" Warning: {result.warning}." if result.warning else ""
    print(
        f"Submission is valid.{warning}"
        if result.valid
        else f"Submission is invalid: {result.error}"
    )
    return 0 if result.valid else 1


if __name__ == "__main__":
    sys.exit(main())
