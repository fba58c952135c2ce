"""The agent-facing validator on MLE-bench-layout competitions: the id column is inferred
from what the sample submission shares with the public test table (never its position),
and where nothing identifies rows the ids go unchecked with a warning. A perfect
submission is never rejected.

The fixture is shaped like detecting-insults-in-social-commentary (written here, not
copied): the sample is `Insult,Date,Comment` (its first column is the target), Date is
often empty and repeats, the public test table is `Date,Comment`, the grader matches rows
by Comment."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from mleray import data, registry
from mleray.grading import grade_submission, validate_submission
from mleray.grading import validate as validate_module
from tests.helpers.mlebench_layout import write_competition, write_prepared

GRADE = """\
import pandas as pd
from sklearn.metrics import roc_auc_score


def grade(submission, answers):
    if len(submission) != len(answers) or set(submission["Comment"]) != set(answers["Comment"]):
        raise ValueError("submission comments do not match the answers")
    merged = answers.merge(submission, on="Comment", suffixes=("", "_pred"))
    return roc_auc_score(merged["Insult"], pd.to_numeric(merged["Insult_pred"]))
"""

N = 40
COMMENTS = [f'"you, {i}"\nsaid "x"' if i % 5 == 0 else f"comment {i}" for i in range(N)]
ANSWERS = pd.DataFrame(
    {
        "Insult": [i % 2 for i in range(N)],
        "Date": ["" if i % 3 else f"2012061{i % 4}000000Z" for i in range(N)],
        "Comment": COMMENTS,
        "Usage": "PrivateTest",
    }
)


@pytest.fixture
def insults(tmp_path, monkeypatch):
    reg, data_dir = tmp_path / "registry", tmp_path / "mle-data"
    write_competition(reg, "insults", grade=GRADE, sample="sample_submission_null.csv")
    gold = ANSWERS[["Insult", "Date", "Comment"]]
    write_prepared(
        data_dir,
        "insults",
        public={
            "train.csv": gold.to_csv(index=False),
            "test.csv": gold.drop(columns="Insult").to_csv(index=False),
            "sample_submission_null.csv": gold.assign(Insult=0).to_csv(index=False),
        },
        private={"test.csv": ANSWERS.to_csv(index=False)},
    )
    monkeypatch.setenv("MLERAY_MLEBENCH_DATA_DIR", str(data_dir))
    competition = data.ensure_prepared(registry.get_competition("insults", extra_paths=[reg]))
    submission = tmp_path / "submission.csv"
    gold.iloc[::-1].to_csv(submission, index=False)  # perfect, rows in another order
    return competition, submission


def test_a_perfect_submission_is_valid_and_scores_perfectly(insults):
    competition, submission = insults
    assert (competition.id_column, competition.target_columns) == ("Comment", ("Insult",))
    assert validate_submission(submission, competition.sample_submission_path) == (
        validate_module.ValidationResult(True, None, None)
    )
    report = grade_submission(competition, submission)
    assert report.valid_submission and report.score == 1.0


PYTHONS = [
    sys.executable,
    pytest.param(
        os.environ.get("MLERAY_COMPAT_PYTHON"),
        marks=pytest.mark.skipif(
            not os.environ.get("MLERAY_COMPAT_PYTHON"),
            reason="set MLERAY_COMPAT_PYTHON to a python with pandas 1.5.3 / numpy 1.24",
        ),
        id="container-pandas",
    ),
]


@pytest.mark.parametrize("python", PYTHONS)
def test_the_script_says_valid_in_isolated_mode(insults, tmp_path, python):
    """As agents run it: alone (-I: nothing of mleray importable), under the container's
    pandas too."""
    competition, submission = insults
    sample = str(competition.sample_submission_path)

    def run(path):
        command = [python, "-I", validate_module.__file__, str(path), sample]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        return done.returncode, done.stdout.strip()

    assert run(submission) == (0, "Submission is valid.")
    bad = tmp_path / "bad.csv"
    bad.write_text(submission.read_text().replace("\n1,", "\nbanana,", 1))
    code, out = run(bad)
    assert code == 1 and "non-numeric value 'banana' in column 'Insult'" in out
    (competition.public_dir / "test.csv").write_text("Date\n" + "\n" * N)
    code, out = run(submission)
    assert code == 0 and out.startswith("Submission is valid. Warning: cannot check ids: ")


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda f: f.assign(Comment=f["Comment"].where(f.index != 3, f["Comment"][4])),
            "duplicate id(s) in column 'Comment': 'comment 4'",
        ),
        (
            lambda f: f.assign(Comment=f["Comment"].where(f.index != 3, "never said")),
            "unknown id(s) in column 'Comment': 'never said'",
        ),
        (lambda f: f.iloc[1:], "has 39 rows, expected 40"),
        (
            lambda f: f.assign(Insult=f["Insult"].astype(str).where(f.index != 2, "banana")),
            "non-numeric value 'banana' in column 'Insult' (row 3, id 'comment 2')",
        ),
        (lambda f: f.drop(columns="Date"), "missing column(s) 'Date'"),
    ],
)
def test_real_faults_are_still_named(insults, tmp_path, change, message):
    competition, _ = insults
    path = tmp_path / "bad.csv"
    change(ANSWERS[["Insult", "Date", "Comment"]]).to_csv(path, index=False)
    result = validate_submission(path, competition.sample_submission_path)
    assert not result.valid and message in result.error, result.error


def test_empty_dates_copied_from_the_test_table_are_not_missing_values(insults):
    competition, submission = insults
    assert "\n0,,comment 38\n" in submission.read_text()  # an empty Date
    assert (ANSWERS["Date"] == "").sum() > N / 2
    assert validate_submission(submission, competition.sample_submission_path).valid


def test_nothing_identifying_rows_means_a_warning_not_a_rejection(tmp_path):
    """Only Date is shared with the test table, and it repeats: ids cannot be checked,
    the row count and the value types still are."""
    public = tmp_path / "public"
    public.mkdir()
    frame = ANSWERS[["Insult", "Date"]]
    frame.drop(columns="Insult").to_csv(public / "test.csv", index=False)
    frame.assign(Insult=0).to_csv(public / "sample_submission.csv", index=False)
    good = tmp_path / "good.csv"
    frame.to_csv(good, index=False)
    result = validate_submission(good, public / "sample_submission.csv")
    assert result.valid and result.warning.startswith("cannot check ids: ")
    run = validate_module.main([str(good), str(public / "sample_submission.csv")])
    assert run == 0
    frame.iloc[1:].to_csv(good, index=False)
    assert (
        "has 39 rows, expected 40"
        in validate_submission(good, public / "sample_submission.csv").error
    )


@pytest.mark.parametrize(
    "sample, test, expected",
    [
        ("Insult,Date,Comment\n0,,a\n0,,b\n", "Date,Comment\n,a\n,b\n", "Comment"),
        ("id,target\n1,0\n2,0\n", None, "id"),  # no test table: the one distinct column
        ("target,PassengerId\n0.3,7\n0.9,8\n", None, "PassengerId"),  # two: the id-like one
        ("a,b\n0.3,7\n0.9,8\n", None, None),  # two, neither id-like: cannot tell
        ("label,image\n0,x\n0,x\n", "image\nx\nx\n", None),  # repeated: no id
        ("text,id,y\nq,1,0\nr,2,0\n", "text,id\nq,1\nr,2\n", "id"),  # shared: id-like first
    ],
)
def test_sample_layout(tmp_path, sample, test, expected):
    (tmp_path / "sample_submission.csv").write_text(sample)
    if test is not None:
        (tmp_path / "test.csv").write_text(test)
    frame = validate_module.read_csv_strict(tmp_path / "sample_submission.csv")
    layout = validate_module.sample_layout(frame, tmp_path / "sample_submission.csv")
    assert layout.id_column == expected
    assert expected not in layout.predictions


def test_a_given_id_column_wins(insults):
    competition, submission = insults
    result = validate_submission(submission, competition.sample_submission_path, "Comment")
    assert result.valid and result.warning is None
    result = validate_submission(submission, competition.sample_submission_path, "Date")
    assert not result.valid and "duplicate id(s) in column 'Date'" in result.error


@pytest.mark.parametrize("competition_id", registry.load_split("builtin"))
def test_the_answers_pass_the_validator_on_every_builtin(builtin_data, competition_id):
    """Never reject a perfect submission: each built-in competition's answers, checked
    against its sample the way an agent's file is."""
    competition = registry.get_competition(competition_id, extra_paths=[])
    result = validate_submission(competition.answers_path, competition.sample_submission_path)
    assert result == validate_module.ValidationResult(True, None, None), result
