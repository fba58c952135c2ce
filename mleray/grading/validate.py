"""Check a submission CSV's format against sample_submission.csv, without any labels.

Agents run this inside their container as `validate-submission` (the sandbox mounts this
exact file), and `mleray.grading.grade` reuses its readers and checks against the private
answers. So it imports only the standard library, numpy and pandas, and must work with
Debian bookworm's pandas 1.5.3 / numpy 1.24 as well as pandas 3:

    python3 validate.py SUBMISSION SAMPLE [--id-column C] [--probabilities]

prints one line and exits 0 (valid) or 1 (invalid).
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


@dataclass(frozen=True)
class ValidationResult:
    valid: bool
    error: str | None


class SubmissionError(Exception):
    """One line saying what is wrong with a submission file; never escapes the graders."""


def size_limit(reference_path) -> int:
    """The byte cap for a submission compared with `reference_path` (sample or answers)."""
    try:
        reference_size = os.stat(reference_path).st_size
    except OSError:
        reference_size = 0
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
    if not data.strip():
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


def duplicate_ids(values) -> list:
    keys = _text_keys(values)
    return list(keys[keys.duplicated()].unique())


def _text_keys(values) -> pd.Index:
    return pd.Index([str(v).strip() for v in values], dtype=object)


def _numeric_keys(keys: pd.Index) -> pd.Index | None:
    """Exact decimal ids (equal Decimals hash alike, so an agent writing 7.0 for id 7 still
    matches; floats would merge 20-digit ids), or None when some id is not a number."""
    try:
        numbers = [Decimal(v) for v in keys]
    except InvalidOperation:
        return None
    if not all(n.is_finite() for n in numbers):
        return None
    return pd.Index(numbers, dtype=object)


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
    infinite = np.flatnonzero(np.isinf(values))
    if len(infinite):
        row = infinite[0]
        raise SubmissionError(
            f"{name}: infinite value {quoted(text.iloc[row])} in {label}{at_row(row, ids)}"
        )
    if probability:
        outside = np.flatnonzero((values < 0) | (values > 1))
        if len(outside):
            row = outside[0]
            raise SubmissionError(
                f"{name}: probability {_cut(text.iloc[row])} outside [0, 1] "
                f"in {label}{at_row(row, ids)}"
            )
    return values


def label_values(column: pd.Series, name: str, ids: Sequence) -> np.ndarray:
    text = column.astype(str).str.strip()
    empty = np.flatnonzero((text == "").to_numpy())
    if len(empty):
        raise SubmissionError(
            f"{name}: missing value in column {quoted(column.name)}{at_row(empty[0], ids)}"
        )
    return text.to_numpy(dtype=object)


def is_numeric_column(column: pd.Series) -> bool:
    values = pd.to_numeric(column.astype(str).str.strip(), errors="coerce")
    return bool(np.isfinite(values.to_numpy(dtype=float)).all())


def check_values(
    frame: pd.DataFrame,
    reference: pd.DataFrame,
    id_column: str,
    name: str,
    probability_columns: Sequence[str] = (),
) -> None:
    """Each target column holds what the reference's holds: numbers where it has numbers."""
    ids = list(frame[id_column])
    for column in reference.columns:
        if column == id_column:
            continue
        if column in probability_columns or is_numeric_column(reference[column]):
            numeric_values(frame[column], name, ids, probability=column in probability_columns)
        else:
            label_values(frame[column], name, ids)


def validate_frames(
    frame: pd.DataFrame,
    reference: pd.DataFrame,
    id_column: str,
    name: str,
    probability_columns: Sequence[str] = (),
) -> None:
    check_columns(frame, [str(c) for c in reference.columns], name)
    check_ids(frame, id_column, reference[id_column], name)
    check_values(frame, reference, id_column, name, probability_columns)


def validate_submission(
    submission_path,
    sample_submission_path,
    id_column: str | None = None,
    probability_columns: Sequence[str] = (),
) -> ValidationResult:
    """Compare a submission's format with the sample submission (no labels involved).

    `id_column` defaults to the sample's first column; `probability_columns` must hold
    values in [0, 1]. A broken *sample* raises SubmissionError: that is not the agent's fault."""
    sample = read_csv_strict(sample_submission_path, max_bytes=2**62, max_columns=None)
    id_column = id_column or str(sample.columns[0])
    if id_column not in sample.columns:
        raise SubmissionError(f"{sample_submission_path}: has no id column {id_column!r}")
    name = os.fspath(submission_path)
    try:
        frame = read_csv_strict(
            submission_path, size_limit(sample_submission_path), column_cap(len(sample.columns))
        )
        validate_frames(frame, sample, id_column, name, probability_columns)
    except SubmissionError as exc:
        return ValidationResult(False, str(exc))
    return ValidationResult(True, None)


def quoted(value) -> str:
    """A value from the submission as an error message shows it: quoted, and cut short
    (a cell can be megabytes long, and errors land in every results row)."""
    return repr(_cut(str(value)))


def _cut(text: str) -> str:
    return (
        text
        if len(text) <= _QUOTED_CHARS
        else f"{text[:_QUOTED_CHARS]}... ({len(text)} characters)"
    )


def at_row(row: int, ids: Sequence) -> str:
    return f" (row {row + 1}, id {quoted(ids[row])})"


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
    parser.add_argument("--id-column", default=None, help="id column (default: the sample's first)")
    parser.add_argument(
        "--probabilities",
        action="store_true",
        help="every non-id column must hold probabilities in [0, 1]",
    )
    args = parser.parse_args(argv)
    try:
        probability_columns: Sequence[str] = ()
        if args.probabilities:
            sample_columns = [
                str(c) for c in read_csv_strict(args.sample, 2**62, max_columns=None).columns
            ]
            id_column = args.id_column or sample_columns[0]
            probability_columns = [c for c in sample_columns if c != id_column]
        result = validate_submission(
            args.submission, args.sample, args.id_column, probability_columns
        )
    except SubmissionError as exc:
        print(f"cannot validate: sample submission is unusable: {exc}")
        return 2
    print("Submission is valid." if result.valid else f"Submission is invalid: {result.error}")
    return 0 if result.valid else 1


if __name__ == "__main__":
    sys.exit(main())
