"""Malformed submissions: each is graded as invalid with a specific error (never an
exception), the harmless variants (BOM, CRLF, quoting, order) stay valid, and the
label-free validator, also run as a standalone script, agrees."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mleray.grading import grade_submission, validate_submission
from mleray.grading import validate as validate_module
from tests.helpers.competitions import make_competition

IDS = [f"a{i}" for i in range(10)]
TARGET = [0, 1] * 5
GOOD_ROWS = [(i, round(0.1 * k + 0.05, 2)) for k, i in enumerate(IDS)]


def csv_text(rows, header="id,target", sep=",", newline="\n") -> str:
    lines = [header] + [sep.join(str(v) for v in row) for row in rows]
    return newline.join(lines) + newline


def with_value(row: int, value) -> str:
    rows = list(GOOD_ROWS)
    rows[row] = (rows[row][0], value)
    return csv_text(rows)


@pytest.fixture
def auc(tmp_path) -> object:
    """A roc_auc competition (probabilities in [0, 1]) with ten rows."""
    return make_competition(
        tmp_path / "auc", pd.DataFrame({"id": IDS, "target": TARGET}), metric="roc_auc"
    )


@pytest.fixture
def regression(tmp_path) -> object:
    answers = pd.DataFrame({"id": IDS, "target": np.linspace(1, 10, 10)})
    return make_competition(tmp_path / "reg", answers, metric="rmsle")


# (case, file content, what the error must say)
MALFORMED = [
    ("empty file", b"", "empty file"),
    ("whitespace only", b"  \n\n", "empty file"),
    ("header only", csv_text([]), "has a header but no rows"),
    (
        "missing column",
        csv_text([(i,) for i in IDS], header="id"),
        "missing column(s) 'target' (found 'id')",
    ),
    (
        "extra column",
        csv_text([(i, 0.5, 1) for i in IDS], header="id,target,extra"),
        "unexpected column(s) 'extra'",
    ),
    (
        "renamed column",
        csv_text(GOOD_ROWS, header="id,prediction"),
        "missing column(s) 'target' (found 'id', 'prediction')",
    ),
    ("renamed id column", csv_text(GOOD_ROWS, header="ID,target"), "missing column(s) 'id'"),
    (
        "repeated column",
        csv_text([(i, 0.5, 0.5) for i in IDS], header="id,target,target"),
        "repeated column name(s) 'target'",
    ),
    ("too few rows", csv_text(GOOD_ROWS[:9]), "has 9 rows, expected 10"),
    ("too many rows", csv_text(GOOD_ROWS + [("a10", 0.5)]), "has 11 rows, expected 10"),
    (
        "duplicate ids",
        csv_text(GOOD_ROWS[:9] + [("a3", 0.5)]),
        "duplicate id(s) in column 'id': 'a3'",
    ),
    ("unknown ids", csv_text(GOOD_ROWS[:9] + [("zz", 0.5)]), "unknown id(s) in column 'id': 'zz'"),
    ("empty value", with_value(3, ""), "missing value (NaN) in column 'target' (row 4, id 'a3')"),
    (
        "literal nan",
        with_value(2, "nan"),
        "missing value (NaN) in column 'target' (row 3, id 'a2')",
    ),
    ("literal NA", with_value(2, "NA"), "missing value (NaN) in column 'target' (row 3"),
    ("inf", with_value(5, "inf"), "infinite value 'inf' in column 'target' (row 6, id 'a5')"),
    ("-Infinity", with_value(5, "-Infinity"), "infinite value '-Infinity'"),
    (
        "string in numeric column",
        with_value(1, "high"),
        "non-numeric value 'high' in column 'target' (row 2",
    ),
    (
        "probability above one",
        with_value(7, 1.5),
        "probability 1.5 outside [0, 1] in column 'target' (row 8",
    ),
    ("negative probability", with_value(0, -0.01), "probability -0.01 outside [0, 1]"),
    (
        "semicolon delimiter",
        csv_text(GOOD_ROWS, header="id;target", sep=";"),
        "separated by ';'; use commas",
    ),
    (
        "tab delimiter",
        csv_text(GOOD_ROWS, header="id\ttarget", sep="\t"),
        "separated by '\\t'; use commas",
    ),
    ("binary garbage", bytes(range(256)) * 4, "binary data, not a CSV file"),
    (
        "not UTF-8",
        csv_text(GOOD_ROWS).replace("a9", "é9").encode("latin-1"),
        "not UTF-8 text (invalid byte at offset",
    ),
    ("UTF-16", csv_text(GOOD_ROWS).encode("utf-16"), "is UTF-16 text; save it as UTF-8"),
    ("gzip", b"\x1f\x8b\x08\x00" + bytes(64), "binary data"),
    (
        "ragged row",
        csv_text(GOOD_ROWS).replace("a4,0.45", "a4,0.45,9"),
        "not a valid CSV (Error tokenizing data",
    ),
    (
        "every row too long",
        csv_text([(i, 0.5, 7) for i in IDS]),
        "rows have more fields than the header",
    ),
    (
        "short row",
        csv_text(GOOD_ROWS).replace("a6,0.65", "a6"),
        "missing value (NaN) in column 'target' (row 7",
    ),
    (
        "json lines",
        b'{"id": "a0", "target": 0.5}\n{"id": "a1", "target": 0.5}\n',
        "missing column(s) 'id', 'target' (found '{\"id\": \"a0\"', ' \"target\": 0.5}')",
    ),
    ("unclosed quote", csv_text(GOOD_ROWS).replace("a9,0.95", 'a9,"0.95'), "not a valid CSV"),
]


@pytest.mark.parametrize("case,content,message", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_submission_is_invalid_with_specific_error(tmp_path, auc, case, content, message):
    path = tmp_path / "submission.csv"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    report = grade_submission(auc, path)
    assert report.submission_exists is True
    assert report.valid_submission is False and report.score is None
    assert not (report.any_medal or report.above_median)
    assert message in report.error, report.error
    assert "\n" not in report.error
    assert str(path) in report.error


def test_enough_malformed_cases():
    assert len(MALFORMED) >= 25


def test_directory_instead_of_file(tmp_path, auc):
    (tmp_path / "submission.csv").mkdir()
    report = grade_submission(auc, tmp_path / "submission.csv")
    assert not report.valid_submission and "is a directory, not a CSV file" in report.error


def test_two_hundred_megabyte_file_is_refused_unread(tmp_path, auc):
    path = tmp_path / "submission.csv"
    with open(path, "wb") as handle:
        handle.truncate(200 * 1024 * 1024)  # sparse: instant, no disk used
    report = grade_submission(auc, path)
    assert not report.valid_submission
    assert (
        f"too large ({200 * 1024 * 1024} bytes; the limit is {100 * 1024 * 1024})" in report.error
    )


def test_size_cap_scales_with_large_answers(tmp_path, monkeypatch, regression):
    monkeypatch.setattr("mleray.grading.grade.MAX_SUBMISSION_BYTES", 100)
    answers_size = regression.answers_path.stat().st_size
    path = tmp_path / "submission.csv"
    path.write_text(csv_text([(i, 1.0) for i in IDS]) + " " * (10 * answers_size))
    report = grade_submission(regression, path)
    assert f"the limit is {10 * answers_size})" in report.error


@pytest.mark.parametrize(
    "header",
    ["x" * 200_000, '"a\n' + "x" * 200_000 + '",target'],
    ids=["long-name", "long-quoted-name"],
)
def test_header_field_over_the_csv_module_limit_is_invalid_not_a_crash(tmp_path, auc, header):
    path = tmp_path / "submission.csv"
    path.write_text(f"{header}\n1\n")
    report = grade_submission(auc, path)
    assert (
        not report.valid_submission
        and "not a valid CSV header (field larger than field limit" in report.error
    )
    assert not validate_submission(path, auc.sample_submission_path).valid


def test_very_wide_header_is_refused_before_parsing(tmp_path, auc):
    """pandas takes ~0.1 ms a column: a 100 MB header would stall grading for half an hour."""
    path = tmp_path / "submission.csv"
    width = 200_000
    path.write_text(",".join(f"c{i}" for i in range(width)) + "\n" + ",".join(["0"] * width) + "\n")
    started = time.monotonic()
    report = grade_submission(auc, path)
    result = validate_submission(path, auc.sample_submission_path)
    assert time.monotonic() - started < 3
    assert (
        not report.valid_submission
        and f"has {width} columns; at most 10000 are read" in report.error
    )
    assert not result.valid and "at most 10000 are read" in result.error
    answers = pd.DataFrame({"id": IDS, "target": TARGET})
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "grade.py").write_text("def grade(s, a):\n    return 1.0\n")
    custom = make_competition(tmp_path / "g", answers, metric=None, grader="grade:grade")
    report = grade_submission(custom, path)
    assert not report.valid_submission and "at most 10000 are read" in report.error


@pytest.mark.parametrize(
    "cell, where",
    [
        ("1" * 100_000, "target"),
        ("2." + "0" * 100_000, "target"),
        ("0." + "0" * 100_000 + "-", "target"),
        ("a" * 100_000, "id"),
    ],
    ids=["overflowing-number", "probability-above-one", "text", "id"],
)
def test_errors_quote_huge_cells_cut_short(tmp_path, auc, cell, where):
    """Errors land in every results row: an agent cannot make them megabytes long."""
    rows = [
        (cell, 0.5) if where == "id" and k == 3 else (i, cell if k == 3 else v)
        for k, (i, v) in enumerate(GOOD_ROWS)
    ]
    path = tmp_path / "submission.csv"
    path.write_text(csv_text(rows))
    report = grade_submission(auc, path)
    assert not report.valid_submission and len(report.error) < 400, report.error[:400]
    assert f"({len(cell)} characters)" in report.error
    checked = validate_submission(path, auc.sample_submission_path)  # no labels: 2.0 may be fine
    assert checked.valid or len(checked.error) < 400


def test_missing_file(tmp_path, auc):
    report = grade_submission(auc, tmp_path / "nothing.csv")
    assert report.submission_exists is False and not report.valid_submission
    assert report.error == f"no submission file at {tmp_path / 'nothing.csv'}"


def test_symlink_is_refused_even_to_a_valid_file(tmp_path, auc):
    real = tmp_path / "real.csv"
    real.write_text(csv_text(GOOD_ROWS))
    assert grade_submission(auc, real).valid_submission
    link = tmp_path / "submission.csv"
    link.symlink_to(auc.answers_path)  # an agent pointing the grader at the answers
    report = grade_submission(auc, link)
    assert report.submission_exists and not report.valid_submission
    assert f"is a symlink (to {auc.answers_path}); submit a regular file" in report.error
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "gone.csv")
    assert "is a symlink" in grade_submission(auc, dangling).error


def test_fifo_is_refused_without_blocking(tmp_path, auc):
    fifo = tmp_path / "submission.csv"
    os.mkfifo(fifo)
    report = grade_submission(auc, fifo)
    assert "is not a regular file" in report.error


def test_rmsle_domain(tmp_path, regression):
    path = tmp_path / "submission.csv"
    path.write_text(csv_text([(i, -1.0 if i == "a2" else 1.0) for i in IDS]))
    report = grade_submission(regression, path)
    assert (
        "value -1 in column 'target' (row 3, id 'a2') is not above -1, as rmsle needs"
        in report.error
    )


def test_empty_label(tmp_path):
    answers = pd.DataFrame({"id": IDS, "label": ["x", "y"] * 5})
    competition = make_competition(tmp_path / "acc", answers, metric="accuracy")
    path = tmp_path / "submission.csv"
    path.write_text(csv_text([(i, "" if i == "a1" else "x") for i in IDS], header="id,label"))
    report = grade_submission(competition, path)
    assert "missing value in column 'label' (row 2, id 'a1')" in report.error


VALID = [
    ("plain", csv_text(GOOD_ROWS).encode()),
    ("BOM", b"\xef\xbb\xbf" + csv_text(GOOD_ROWS).encode()),
    ("CRLF", csv_text(GOOD_ROWS, newline="\r\n").encode()),
    ("BOM and CRLF", b"\xef\xbb\xbf" + csv_text(GOOD_ROWS, newline="\r\n").encode()),
    (
        "quoted fields",
        csv_text([(f'"{i}"', f'"{p}"') for i, p in GOOD_ROWS], header='"id","target"').encode(),
    ),
    ("rows reversed", csv_text(GOOD_ROWS[::-1]).encode()),
    ("columns swapped", csv_text([(p, i) for i, p in GOOD_ROWS], header="target,id").encode()),
    ("spaces around values", csv_text([(f" {i}", f" {p} ") for i, p in GOOD_ROWS]).encode()),
    ("trailing blank lines", (csv_text(GOOD_ROWS) + "\n\n").encode()),
    ("no final newline", csv_text(GOOD_ROWS).rstrip("\n").encode()),
    ("scientific notation", with_value(0, "5e-2").encode()),
]


@pytest.mark.parametrize("case,content", VALID, ids=[c[0] for c in VALID])
def test_harmless_variants_are_valid_and_score_the_same(tmp_path, auc, case, content):
    path = tmp_path / "submission.csv"
    path.write_bytes(content)
    report = grade_submission(auc, path)
    assert report.valid_submission, report.error
    reference = tmp_path / "reference.csv"
    reference.write_text(csv_text(GOOD_ROWS))
    assert report.score == grade_submission(auc, reference).score


# ---- the label-free validator (compares with the sample submission) ----


def test_validate_submission_accepts_good_and_names_faults(tmp_path, auc):
    sample = auc.sample_submission_path
    good = tmp_path / "good.csv"
    good.write_text(csv_text(GOOD_ROWS[::-1]))
    assert validate_submission(good, sample) == validate_module.ValidationResult(True, None)
    for _, content, message in MALFORMED:
        if "probability" in message:
            continue  # the sample alone cannot say a column holds probabilities
        path = tmp_path / "bad.csv"
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        result = validate_submission(path, sample)
        assert not result.valid and message in result.error, (message, result.error)


def test_validate_submission_probability_columns_and_id_column(tmp_path, auc):
    path = tmp_path / "s.csv"
    path.write_text(with_value(7, 1.5))
    assert validate_submission(path, auc.sample_submission_path).valid
    result = validate_submission(path, auc.sample_submission_path, probability_columns=["target"])
    assert "probability 1.5 outside [0, 1]" in result.error
    result = validate_submission(path, auc.sample_submission_path, id_column="target")
    assert not result.valid and "unknown id(s) in column 'target': '0.05'" in result.error


def test_validate_labels_from_a_text_sample(tmp_path):
    sample = tmp_path / "sample.csv"
    sample.write_text("id,label\n1,cat\n2,cat\n")
    path = tmp_path / "s.csv"
    path.write_text("id,label\n2,dog\n1,\n")
    assert (
        "missing value in column 'label' (row 2, id '1')" in validate_submission(path, sample).error
    )
    path.write_text("id,label\n2.0,dog\n1,42\n")  # labels may be anything non-empty; ids 2.0 == 2
    assert validate_submission(path, sample).valid


SCRIPT = Path(validate_module.__file__)


def _run_script(*args: str, python: str = sys.executable) -> subprocess.CompletedProcess:
    # -I: isolated mode, so the script cannot lean on mleray being importable
    return subprocess.run(
        [python, "-I", str(SCRIPT), *args], capture_output=True, text=True, timeout=60
    )


def test_validate_script_standalone(tmp_path, auc):
    sample = str(auc.sample_submission_path)
    good = tmp_path / "good.csv"
    good.write_text(csv_text(GOOD_ROWS))
    ok = _run_script(str(good), sample)
    assert (ok.returncode, ok.stdout.strip()) == (0, "Submission is valid.")
    bad = tmp_path / "bad.csv"
    bad.write_text(csv_text(GOOD_ROWS[:9] + [("a3", 0.5)]))
    failed = _run_script(str(bad), sample)
    assert failed.returncode == 1
    assert (
        failed.stdout.strip()
        == f"Submission is invalid: {bad}: duplicate id(s) in column 'id': 'a3'"
    )
    high = tmp_path / "high.csv"
    high.write_text(with_value(7, 1.5))
    strict = _run_script(str(high), sample, "--probabilities", "--id-column", "id")
    assert strict.returncode == 1 and "probability 1.5 outside [0, 1]" in strict.stdout
    assert len(failed.stdout.strip().splitlines()) == 1 and failed.stderr == ""


@pytest.mark.skipif(
    not os.environ.get("MLERAY_COMPAT_PYTHON"),
    reason="set MLERAY_COMPAT_PYTHON to a python with pandas 1.5.3 / numpy 1.24 "
    "(Debian bookworm's)",
)
def test_validate_script_under_container_pandas(tmp_path, auc):
    python = os.environ["MLERAY_COMPAT_PYTHON"]
    sample = str(auc.sample_submission_path)
    for case, content, message in MALFORMED:
        path = tmp_path / "bad.csv"
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        flags = ["--probabilities"] if "probability" in message else []
        result = _run_script(str(path), sample, *flags, python=python)
        assert result.returncode == 1 and message in result.stdout, (
            case,
            result.stdout,
            result.stderr,
        )
    for case, content in VALID:
        path = tmp_path / "good.csv"
        path.write_bytes(content)
        result = _run_script(str(path), sample, python=python)
        assert result.returncode == 0, (case, result.stdout, result.stderr)


def test_validate_main_exit_codes(tmp_path, auc, capsys):
    sample = str(auc.sample_submission_path)
    high = tmp_path / "high.csv"
    high.write_text(with_value(7, 1.5))
    assert validate_module.main([str(high), sample]) == 0  # no --probabilities: any number goes
    assert validate_module.main([str(tmp_path / "absent.csv"), sample]) == 1
    assert validate_module.main([str(high), str(tmp_path / "absent_sample.csv")]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Submission is valid."
    assert lines[1] == f"Submission is invalid: {tmp_path / 'absent.csv'}: no such file"
    assert lines[2].startswith("cannot validate: sample submission is unusable:")


def test_validate_module_imports_nothing_from_mleray():
    source = SCRIPT.read_text()
    imports = [
        line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))
    ]
    assert {name.split(".")[0] for name in imports} <= {
        "__future__",
        "argparse",
        "collections",
        "csv",
        "io",
        "os",
        "stat",
        "sys",
        "dataclasses",
        "decimal",
        "typing",
        "numpy",
        "pandas",
    }


def test_validate_runs_as_a_module_without_warnings(tmp_path, auc):
    """`python -m mleray.grading.validate` imports the package first; the package must not
    import the module itself (runpy would warn and run it twice)."""
    good = tmp_path / "good.csv"
    good.write_text(csv_text(GOOD_ROWS))
    result = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            "-m",
            "mleray.grading.validate",
            str(good),
            str(auc.sample_submission_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout.strip(), result.stderr) == (
        0,
        "Submission is valid.",
        "",
    )


def test_read_text_strips_a_bom_and_names_a_bad_byte_or_an_empty_file(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(b"\xef\xbb\xbfid,y\n1,\xc3\xa9\n")
    assert validate_module.read_text(path) == "id,y\n1,é\n"
    path.write_bytes(b"id,y\n1,\xff\n")
    with pytest.raises(
        validate_module.SubmissionError, match=r"not UTF-8 text \(invalid byte at offset 7\)"
    ):
        validate_module.read_text(path)
    path.write_bytes(b" \n\t\r\n")
    with pytest.raises(validate_module.SubmissionError, match="empty file"):
        validate_module.read_text(path)
