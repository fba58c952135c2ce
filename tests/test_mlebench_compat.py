"""A competition folder laid out as MLE-bench's works from an extra registry path: its
data comes from an MLE-bench data dir, its preparer and grade_fn resolve beside its
config.yaml, and grade_fn is called as MLE-bench calls it, fn(submission_df, answers_df)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mleray import data, registry
from mleray.errors import NotPreparedError

CONFIG = """\
id: toy-mle
name: Toy MLE-bench competition
competition_type: simple
awards_medals: true
prizes: null
description: mlebench/competitions/toy-mle/description.md

dataset:
  answers: toy-mle/prepared/private/test.csv
  sample_submission: toy-mle/prepared/public/sample_submission.csv

grader:
  name: accuracy
  grade_fn: mlebench.competitions.toy-mle.grade:grade

preparer: mlebench.competitions.toy-mle.prepare:prepare
"""

# Like MLE-bench's own answers, private/test.csv keeps every column (features too), so the
# grader must be handed (submission, answers) in that order to find the right columns.
PREPARE = """\
import pandas as pd


def prepare(raw, public, private):
    frame = pd.read_csv(raw / "train.csv")
    train, test = frame.iloc[:30], frame.iloc[30:]
    train.to_csv(public / "train.csv", index=False)
    test.drop(columns="label").to_csv(public / "test.csv", index=False)
    test.assign(label="a")[["key", "label"]].to_csv(public / "sample_submission.csv", index=False)
    test.to_csv(private / "test.csv", index=False)
"""

GRADE = """\
def grade(submission, answers):
    assert "feature" in answers.columns and "feature" not in submission.columns, "arguments swapped"
    merged = submission.merge(answers, on="key", suffixes=("_pred", ""))
    if len(merged) != len(answers):
        raise ValueError("submission ids do not match the answers")
    return float((merged["label_pred"] == merged["label"]).mean())
"""


@pytest.fixture
def mle(tmp_path, monkeypatch):
    """An MLE-bench-style registry folder and data dir with raw data already downloaded."""
    folder = tmp_path / "registry" / "toy-mle"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(CONFIG)
    (folder / "description.md").write_text("# Toy\n")
    (folder / "prepare.py").write_text(PREPARE)
    (folder / "grade.py").write_text(GRADE)
    (folder / "leaderboard.csv").write_text(
        "teamName,score\n" + "".join(f"t{i},{1 - i / 150:.5f}\n" for i in range(120))
    )
    data_dir = tmp_path / "mle-data"
    raw = data_dir / "toy-mle" / "raw"
    raw.mkdir(parents=True)
    (raw / "train.csv").write_text(
        "key,feature,label\n" + "".join(f"k{i},{i},{'ab'[i % 2]}\n" for i in range(50))
    )
    monkeypatch.setenv("MLERAY_MLEBENCH_DATA_DIR", str(data_dir))
    return folder.parent, data_dir


def test_the_folder_becomes_a_competition_on_mlebench_paths(mle):
    reg, data_dir = mle
    comp = registry.get_competition("toy-mle", extra_paths=[reg])
    assert comp.source == "mlebench" and comp.kaggle_slug == "toy-mle"
    assert comp.data_dir == data_dir / "toy-mle" / "prepared"
    assert comp.answers_path.resolve() == (data_dir / "toy-mle/prepared/private/test.csv").resolve()
    assert (
        comp.sample_submission_path.resolve()
        == (data_dir / "toy-mle/prepared/public/sample_submission.csv").resolve()
    )
    assert comp.description_path == reg.resolve() / "toy-mle" / "description.md"
    assert comp.grader == "grade:grade" and comp.prepare == "prepare.py:prepare"
    assert comp.metric is None and comp.leaderboard_path.name == "leaderboard.csv"
    assert data.raw_dir_of(comp) == data_dir / "toy-mle" / "raw"


def test_a_flag_value_overrides_the_env_data_dir(mle, tmp_path):
    reg, _ = mle
    comp = registry.get_competition(
        "toy-mle", extra_paths=[reg], mlebench_data_dir=tmp_path / "other"
    )
    assert comp.data_dir == tmp_path / "other" / "toy-mle" / "prepared"


def test_prepare_then_grade_with_mlebench_argument_order(mle, tmp_path):
    from mleray.grading import grade_submission

    reg, _ = mle
    comp = registry.get_competition("toy-mle", extra_paths=[reg])
    with pytest.raises(NotPreparedError):
        data.ensure_prepared(comp)
    data.prepare_competition(comp)
    comp = data.ensure_prepared(comp)
    assert comp.id_column == "key" and comp.target_columns == ("label",)
    submission = tmp_path / "submission.csv"
    submission.write_text("key,label\n" + "".join(f"k{i},{'ab'[i % 2]}\n" for i in range(30, 50)))
    report = grade_submission(comp, submission)
    assert report.valid_submission, report.error
    assert report.score == 1.0 and report.gold_medal
    report = grade_submission(comp, comp.sample_submission_path)
    assert report.score == 0.5 and not report.any_medal
    submission.write_text("key,label\nk30,a\n")
    report = grade_submission(comp, submission)
    assert not report.valid_submission and "do not match" in report.error


def test_data_prepared_by_mlebench_itself_is_accepted(mle):
    """No mleray manifest: MLE-bench's own `mlebench prepare` made the files."""
    reg, data_dir = mle
    comp = registry.get_competition("toy-mle", extra_paths=[reg])
    public, private = comp.public_dir, comp.private_dir
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    registry.load_callable(comp, comp.prepare)(data_dir / "toy-mle" / "raw", public, private)
    assert not data.manifest_path(comp).exists()
    assert data.ensure_prepared(comp).id_column == "key"


def test_cli_grades_an_mlebench_competition(mle, tmp_path):
    from typer.testing import CliRunner

    from tests.helpers.cli import registered_app

    app = registered_app()
    reg, data_dir = mle
    runner = CliRunner()
    flags = ["--competitions-path", str(reg), "--mlebench-data-dir", str(data_dir)]
    assert runner.invoke(app, ["prepare", "toy-mle", *flags]).exit_code == 0
    sample = data_dir / "toy-mle" / "prepared" / "public" / "sample_submission.csv"
    result = runner.invoke(
        app, ["grade", "--competition", "toy-mle", str(sample), "--json", *flags]
    )
    assert result.exit_code == 0, result.output
    assert '"score": 0.5' in result.stdout
    assert Path(sample).is_file()


def test_missing_raw_data_is_downloaded_from_kaggle_by_id(mle, monkeypatch, tmp_path):
    import shutil
    import zipfile

    from mleray import kaggle_source
    from tests.helpers.kaggle import FakeApi

    reg, data_dir = mle
    raw = data_dir / "toy-mle" / "raw"
    archive = tmp_path / "toy.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(raw / "train.csv", "train.csv")
    shutil.rmtree(raw)
    api = FakeApi(archive)
    monkeypatch.setattr(kaggle_source, "make_api", lambda: api)
    comp = registry.get_competition("toy-mle", extra_paths=[reg])
    data.prepare_competition(comp)
    assert [call[0] for call in api.calls] == ["toy-mle"]
    assert (raw / "train.csv").is_file() and data.is_prepared(comp)
