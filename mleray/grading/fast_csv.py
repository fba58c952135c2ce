"""A fast path for scoring a well-formed numeric submission: pyarrow parses, numpy checks.

The strict path (`validate.parse_csv` and the checks of `grade.score_frame`) reads every
cell as a Python string so that an error can name its row and value; on a million rows
that costs seconds, many times the metric itself. Most submissions are well formed, so this
path runs first and answers only when it can vouch that the strict path would accept the
file and hand the metric the very same numbers:

- the header is exactly the answers' id and target columns (any order, none repeated);
- every id equals an answer id as text (as the strict path compares them, stripped), each
  once, so the alignment is the same permutation;
- every prediction parses as a finite float64 (pyarrow and pandas round decimal text the
  same way, except after a leading '+', so a file with a '+' that is not an exponent's is
  left to the strict path), within the metric's range (probabilities in [0, 1], above
  `metric.minimum`).

Anything else (a stray space, an empty cell, an unknown or repeated id, quoted newlines, a
ragged row, a label metric) returns None, and the strict path runs: to accept the file all
the same (ids written as 7.0 for 7, say) or to say precisely what is wrong with it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from mleray.grading.metrics import Metric, ValueKind

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class AnswerIds:
    """The answers' ids as the strict path compares them (stripped text), for pyarrow."""

    text: object  # pyarrow StringArray
    count: int


def answer_ids(keys) -> AnswerIds:
    """From the answers' ids already as the strict path keys them (stripped text)."""
    import pyarrow as pa

    text = pa.array(keys, type=pa.string())
    return AnswerIds(text=text, count=len(text))


def fast_predictions(
    data: bytes, metric: Metric, id_column: str, targets: tuple[str, ...], ids: AnswerIds | None
) -> np.ndarray | None:
    """The predictions aligned with the answers (1-D for one target, else 2-D), or None
    when only the strict path can decide (always for a label metric, whose answers carry
    no `ids` for this path)."""
    if ids is None or metric.accepts is ValueKind.LABEL or id_column in targets:
        return None
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    plus = data.count(b"+") if b"+" in data else 0  # (`in` finds none without counting)
    if plus and plus != data.count(b"e+") + data.count(b"E+"):
        return None  # a '+' leading a number: pandas rounds those differently
    table = _parse(data, id_column, targets)
    if table is None or table.num_rows != ids.count:
        return None
    order = _alignment(table.column(id_column), ids)
    if order is None:
        return None
    columns = []
    for name in targets:
        values = _checked_values(table.column(name), metric)
        if values is None:
            return None
        columns.append(values[order])
    return columns[0] if len(columns) == 1 else np.column_stack(columns)


def _parse(data: bytes, id_column: str, targets: tuple[str, ...]):
    """The table with ids as text and targets as float64, or None (any parse failure)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    header = data.split(b"\n", 1)[0].rstrip(b"\r")
    if b'"' in header:
        return None  # quoted names: leave the header's subtleties to the strict reader
    names = header.split(b",")
    expected = {id_column.encode(), *(t.encode() for t in targets)}
    if len(names) != len(expected) or set(names) != expected:
        return None
    types = {id_column: pa.string(), **{t: pa.float64() for t in targets}}
    try:
        return pacsv.read_csv(
            io.BytesIO(data),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, ValueError):
        return None


def _alignment(submitted, ids: AnswerIds) -> np.ndarray | slice | None:
    """order[j]: the submission row of answer j, when the ids are the answers' ids (as
    text) each exactly once; else None."""
    import pyarrow.compute as pc

    submitted = submitted.combine_chunks()
    if submitted.null_count:
        return None
    if submitted.equals(ids.text):
        return slice(None)  # the answers' order already: no reordering copy
    positions = pc.index_in(submitted, value_set=ids.text)
    if positions.null_count:
        return None  # an id not among the answers as text (the strict path may still match)
    positions = positions.to_numpy(zero_copy_only=False)
    if np.bincount(positions, minlength=ids.count).max(initial=0) != 1:
        return None  # repeated ids
    order = np.empty(ids.count, dtype=np.int64)
    order[positions] = np.arange(ids.count)
    return order


def _checked_values(column, metric: Metric) -> np.ndarray | None:
    values = column.combine_chunks()
    if values.null_count:
        return None
    array = values.to_numpy(zero_copy_only=False)
    if not np.isfinite(array).all():
        return None
    if metric.accepts is ValueKind.PROBABILITY and ((array < 0) | (array > 1)).any():
        return None
    if metric.minimum is not None and (array <= metric.minimum).any():
        return None
    return array
