"""Property-based grading: random submissions derived from a competition's answers (shuffled
rows, dropped, duplicated or unknown ids, perturbed values, NaN, inf, text, wrong types,
extra, missing or renamed columns, BOMs, CRLF, quoting, empty and header-only files) never
raise out of `grade_submission`, and the report is valid exactly when the file meets the
competition's format.

"Meets the format" is decided by `meets_format` below, written from the rules in
docs/competitions.md and design.md with the standard library's csv module, not with the
validator: a UTF-8 CSV (a byte-order mark is harmless; quotes must close), a header with
exactly the answers' columns (any order, none repeated), at least one row, every row as wide
as the header, the answers' ids each exactly once (as text, or as numbers when every id on
both sides is a number: 7.0 for id 7), and in each target column what the metric takes:
finite numbers, probabilities in [0, 1], numbers above -1 for RMSLE, non-blank labels of
the answers' kind (whole numbers where every answer is a number, no number where none is:
scikit-learn refuses mixed label types and continuous classes, and so do MLE-bench's
graders).

Deterministic (derandomized, a bounded number of examples), so CI sees the same cases.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import os
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from mleray.competition import Competition
from mleray.grading import grade_submission
from tests.helpers.competitions import make_competition

ROWS = 12
# per competition; raise it for a deeper search: MLERAY_PROPERTY_EXAMPLES=5000 pytest ...
EXAMPLES = int(os.environ.get("MLERAY_PROPERTY_EXAMPLES", "60"))

# the rule for each target column's cells, per metric
PROBABILITY, NUMBER, ABOVE_MINUS_ONE = "probability", "number", "above -1"
TEXT_LABEL, NUMBER_LABEL = "text label", "number label"  # the answers' labels are all of a kind


@dataclass(frozen=True)
class Kind:
    metric: str
    ids: tuple[str, ...]
    targets: dict  # column -> answer values (as written)
    rule: str


def _kinds() -> dict[str, Kind]:
    text_ids = tuple(f"r{i:03d}" for i in range(ROWS))
    number_ids = tuple(str(i) for i in range(ROWS))
    winner = np.arange(ROWS) % 3
    return {
        "auc": Kind(
            "roc_auc", text_ids, {"target": [str(i % 2) for i in range(ROWS)]}, PROBABILITY
        ),
        "logloss": Kind(
            "log_loss",
            text_ids,
            {c: [str(int(w == k)) for w in winner] for k, c in enumerate(["a", "b", "c"])},
            PROBABILITY,
        ),
        "accuracy": Kind(
            "accuracy", text_ids, {"label": [["cat", "dog", "eel"][w] for w in winner]}, TEXT_LABEL
        ),
        "digits": Kind(
            "accuracy", number_ids, {"digit": [str(i % 10) for i in range(ROWS)]}, NUMBER_LABEL
        ),
        "rmse": Kind(
            "rmse", number_ids, {"y": [f"{0.5 * i + 1:.2f}" for i in range(ROWS)]}, NUMBER
        ),
        "rmsle": Kind(
            "rmsle", number_ids, {"price": [f"{2.0**i:.1f}" for i in range(ROWS)]}, ABOVE_MINUS_ONE
        ),
    }


KINDS = _kinds()


@pytest.fixture(scope="module")
def competitions(tmp_path_factory) -> dict[str, Competition]:
    root = tmp_path_factory.mktemp("property-competitions")
    return {
        name: make_competition(
            root / name, pd.DataFrame({"id": list(kind.ids), **kind.targets}), kind.metric
        )
        for name, kind in KINDS.items()
    }


@pytest.fixture(scope="module")
def submission_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("property-submission") / "submission.csv"


# --------------------------------------------------------------------------- the oracle


def _number(cell: str) -> float | None:
    """The cell as a float if it is written as a plain decimal number (or nan/inf)."""
    try:
        return float(cell)
    except ValueError:
        return None


def _decimal(cell: str) -> Decimal | None:
    try:
        value = Decimal(cell)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _cell_ok(cell: str, rule: str) -> bool:
    value = _number(cell)
    is_number = value is not None and math.isfinite(value)
    if rule == TEXT_LABEL:
        return cell.strip() != "" and not is_number
    if rule == NUMBER_LABEL:  # a class, so whole (scikit-learn calls 0.5 a continuous target)
        return is_number and value.is_integer() and abs(value) < 2**63
    if not is_number:
        return False
    if rule == PROBABILITY:
        return 0 <= value <= 1
    if rule == ABOVE_MINUS_ONE:
        return value > -1
    return True


def _ids_ok(found: list[str], expected: tuple[str, ...]) -> bool:
    keys: list = found
    reference: list = list(expected)
    if not set(found) <= set(expected):  # not all known as text: maybe as numbers
        numbers = [_decimal(v) for v in found]
        reference_numbers = [_decimal(v) for v in expected]
        if None not in numbers and None not in reference_numbers:
            keys, reference = numbers, reference_numbers
    return len(set(keys)) == len(keys) == len(reference) and set(keys) == set(reference)


def meets_format(content: bytes, kind: Kind) -> bool:
    if not content.strip() or b"\x00" in content:
        return False
    try:
        text = content.decode("utf-8-sig")
        rows = [row for row in csv.reader(io.StringIO(text, newline=""), strict=True) if row]
    except (UnicodeDecodeError, csv.Error):
        return False
    if len(rows) < 2:
        return False
    header, body = rows[0], rows[1:]
    expected = ["id", *kind.targets]
    if len(set(header)) != len(header) or set(header) != set(expected):
        return False
    if any(len(row) != len(header) for row in body):
        return False
    column = {name: i for i, name in enumerate(header)}
    if not _ids_ok([row[column["id"]] for row in body], kind.ids):
        return False
    return all(_cell_ok(row[column[c]], kind.rule) for row in body for c in kind.targets)


def test_the_oracle_itself():
    kind = KINDS["auc"]
    good = "id,target\n" + "".join(f"{i},0.5\n" for i in kind.ids)
    assert meets_format(good.encode(), kind)
    assert meets_format(b"\xef\xbb\xbf" + good.replace("\n", "\r\n").encode(), kind)
    assert not meets_format(good.replace("0.5", "1.5", 1).encode(), kind)
    assert not meets_format(good.replace("r003", "r002").encode(), kind)
    assert not meets_format(b"id,target\n", kind)
    assert meets_format(
        ("y,id\n" + "".join(f"1,{i}.0\n" for i in range(ROWS))).encode(), KINDS["rmse"]
    )


# --------------------------------------------------------------------------- generation

VALUE_TOKENS = [
    "0",
    "1",
    "0.5",
    "-0.0",
    ".5",
    "5e-01",
    "1.0000001",
    "-0.01",
    "1.5",
    "2",
    "-3",
    "1e400",
    "-1e400",
    "nan",
    "NaN",
    "NA",
    "null",
    "None",
    "n/a",
    "-nan",
    "",
    " ",
    "inf",
    "-inf",
    "Infinity",
    "-Infinity",
    "INF",
    "abc",
    "high",
    "0.5.1",
    "1,5",
    "True",
    "False",
    "[0.5]",
    "0x10",
    "½",
    'say "hi"',
    "two\nlines",
    "1e-320",
    "1.7976931348623157e+308",
]
ID_TOKENS = ["zz", "", "R000", "r000 ", "r1", "7.0", "07", "+3", "-0", "1e0", "3.5", "NaN", "11.00"]
LABEL_TEXT = st.text(alphabet=st.sampled_from(list("abcXYZ019 ,\"'\n\t;é漢")), max_size=6)


# values on either side of each rule's edges: also tried one by one as explicit examples
BOUNDARY = {
    PROBABILITY: ["1.0000001", "-0.01", "1.5", "-1e-9", "2", "1", "0", "-0.0", "1e-320"],
    NUMBER: ["1e400", "nan", "-inf", "1.7976931348623157e+308", "-0", "1e-320", "abc"],
    ABOVE_MINUS_ONE: ["-1", "-1.0", "-0.999999", "-2", "-1e400", "nan", "0"],
    TEXT_LABEL: ["7", "7.5", "nan", "inf", " ", "", "cat ", "True", "1,5", "two\nlines"],
    NUMBER_LABEL: ["7.0", "7.5", "1e20", "nan", "inf", "seven", " ", "", "-1", "+3"],
}


@functools.cache  # built once per rule: building strategies is most of hypothesis's cost
def cell_values(rule: str) -> st.SearchStrategy[str]:
    edges = st.sampled_from(BOUNDARY[rule])
    floats = st.floats(allow_nan=True, allow_infinity=True).map(repr)
    near = st.floats(-0.5, 1.5).map(lambda x: f"{x:.4g}")
    tokens = st.sampled_from(VALUE_TOKENS)
    if rule in (TEXT_LABEL, NUMBER_LABEL):
        return st.one_of(edges, valid_values(rule), LABEL_TEXT, tokens, near)
    return st.one_of(edges, valid_values(rule), near, floats, tokens)


@functools.cache
def valid_values(rule: str) -> st.SearchStrategy[str]:
    """Cells that meet the column's rule, written in several ways."""
    if rule == PROBABILITY:
        return st.one_of(st.floats(0, 1).map(repr), st.sampled_from(["0", "1", ".5", "5e-01"]))
    if rule == TEXT_LABEL:
        return st.sampled_from(["cat", "dog", "eel", "cow", "Cat"])
    if rule == NUMBER_LABEL:
        return st.integers(-3, 12).map(str)
    low = -0.999 if rule == ABOVE_MINUS_ONE else -1e6
    return st.floats(low, 1e6).map(repr)


def _valid_cells(rule: str, seed: int, n: int) -> list[str]:
    """`n` cells that meet the rule, from one seed (drawing each cell through hypothesis
    would cost most of the test's time), written in several ways."""
    rng = np.random.default_rng(seed)
    if rule == TEXT_LABEL:
        return [str(v) for v in rng.choice(["cat", "dog", "eel", "cow", "Cat"], n)]
    if rule == NUMBER_LABEL:
        return [str(v) for v in rng.integers(-3, 13, n)]
    low = {PROBABILITY: 0.0, ABOVE_MINUS_ONE: -0.999}.get(rule, -1e6)
    high = 1.0 if rule == PROBABILITY else 1e6
    styles = [repr, lambda x: f"{x:.3g}", lambda x: f"{x:.2e}", lambda x: f"{x:.6f}"]
    return [styles[rng.integers(len(styles))](float(x)) for x in rng.uniform(low, high, n)]


DAMAGE = ["drop", "duplicate", "id", "value", "value", "value", "value", "extra", "remove"]
DAMAGE += ["rename", "short", "long"]


@st.composite
def submissions(draw, kind: Kind) -> bytes:
    """A file that meets the format (random valid predictions, rows shuffled, columns
    reordered), then usually one or two edits that may break it."""
    header = ["id", *kind.targets]
    cells = _valid_cells(kind.rule, draw(st.integers(0, 2**32 - 1)), ROWS * len(kind.targets))
    rows = [[i, *cells[k::ROWS]] for k, i in enumerate(kind.ids)]
    for op in ("shuffle", "reorder"):
        if draw(st.booleans()):
            rows, header = _apply(draw, op, rows, header, kind)
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 3]))):
        rows, header = _apply(draw, draw(st.sampled_from(DAMAGE)), rows, header, kind)
    return _encode(draw, header, rows)


def _apply(draw, op: str, rows: list, header: list, kind: Kind) -> tuple[list, list]:
    if not rows:
        return rows, header
    k = draw(st.integers(0, len(rows) - 1))
    width = len(header)
    if op == "shuffle":
        rows = draw(st.permutations(rows))
    elif op == "drop":
        rows = rows[:k] + rows[k + 1 :]
    elif op == "duplicate":
        rows = rows + [list(rows[k])]
    elif op == "id" and rows[k]:
        rows[k][0] = draw(st.one_of(st.sampled_from(ID_TOKENS), st.sampled_from(kind.ids)))
    elif op == "value" and len(rows[k]) > 1:
        rows[k][draw(st.integers(1, len(rows[k]) - 1))] = draw(cell_values(kind.rule))
    elif op == "extra":
        name = draw(st.sampled_from(["extra", "Id", "target2", " id", *header]))
        header = header + [name]
        rows = [row + [draw(cell_values(kind.rule))] for row in rows]
    elif op == "remove" and width > 1:
        c = draw(st.integers(0, width - 1))
        header = header[:c] + header[c + 1 :]
        rows = [row[:c] + row[c + 1 :] for row in rows]
    elif op == "rename":
        header = list(header)
        header[draw(st.integers(0, width - 1))] = draw(st.sampled_from(["ID", "prediction", ""]))
    elif op == "reorder" and all(len(row) == width for row in rows):
        order = draw(st.permutations(range(width)))
        header = [header[c] for c in order]
        rows = [[row[c] for c in order] for row in rows]
    elif op == "short":
        rows[k] = rows[k][:-1]
    elif op == "long":
        rows[k] = rows[k] + ["9"]
    return [list(row) for row in rows], header


def _encode(draw, header: list, rows: list) -> bytes:
    shape = draw(st.sampled_from(["csv"] * 12 + ["empty", "blank", "header-only", "utf-16"]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    buffer = io.StringIO(newline="")
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    writer = csv.writer(buffer, lineterminator=newline, quoting=quoting)
    writer.writerow(header)
    if shape != "header-only":
        writer.writerows(rows)
    text = buffer.getvalue()
    if draw(st.booleans()):
        text = text.rstrip("\r\n")  # no final newline
    if shape == "empty":
        return b""
    if shape == "blank":
        return b" \n\n"
    if shape == "utf-16":
        return text.encode("utf-16")
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + text.encode()


# --------------------------------------------------------------------------- the property

# RMSE of values near 1e308 overflows to inf (a valid, if hopeless, score), and scikit-learn
# casts a 1e20 label to int to find it is no class: numpy's warnings, not the test's concern
pytestmark = [
    pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning"),
]


def check(competition: Competition, kind: Kind, path: Path, content: bytes) -> None:
    path.write_bytes(content)
    report = grade_submission(competition, path)  # must not raise, whatever the file holds
    expected = meets_format(content, kind)
    event("meets the format" if expected else "does not")  # --hypothesis-show-statistics
    assert report.submission_exists
    assert report.valid_submission is expected, (report.error, content[:300])
    if expected:
        assert report.score is not None and report.error is None
        assert not math.isnan(report.score)
    else:
        assert report.score is None and report.error
        assert "\n" not in report.error and not (report.any_medal or report.above_median)


SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _property(name: str):
    kind = KINDS[name]

    @SETTINGS
    @given(content=submissions(kind))
    def prop(competitions, submission_path, content):
        check(competitions[name], kind, submission_path, content)

    for cell in BOUNDARY[kind.rule]:  # the answers, one cell changed to each edge value
        rows = [
            [i, *(values[k] for values in kind.targets.values())] for k, i in enumerate(kind.ids)
        ]
        rows[3][1] = cell
        buffer = io.StringIO(newline="")
        csv.writer(buffer).writerows([["id", *kind.targets], *rows])
        prop = example(content=buffer.getvalue().encode())(prop)

    prop.__name__ = f"test_grading_matches_the_format_rules_{name}"
    return prop


test_grading_matches_the_format_rules_auc = _property("auc")
test_grading_matches_the_format_rules_logloss = _property("logloss")
test_grading_matches_the_format_rules_accuracy = _property("accuracy")
test_grading_matches_the_format_rules_digits = _property("digits")
test_grading_matches_the_format_rules_rmse = _property("rmse")
test_grading_matches_the_format_rules_rmsle = _property("rmsle")
