"""`mleray prepare ID` for a competition folder in MLE-bench's layout: raw data through the
Kaggle API (a fake one here, serving a zip made locally), or from the `<id>.zip` that
`mlebench prepare` left; then the folder's own preparer, called as MLE-bench calls it
(`prepare(raw=..., public=..., private=...)`), into `<data dir>/<id>/prepared/`, with
mleray's manifest and MLE-bench's checksums.yaml checked. `mlebench` is never needed."""

from __future__ import annotations

import hashlib
import sys
import zipfile

import pytest
import yaml
from typer.testing import CliRunner

from mleray import data, kaggle_source, registry
from mleray.errors import MlerayError, NotPreparedError, SpecError
from tests.helpers.cli import registered_app
from tests.helpers.kaggle import FakeApi
from tests.helpers.mlebench_layout import write_competition

# Written as MLE-bench's preparers are: keyword-named arguments, asserts on the raw files,
# an inner archive extracted by the preparer itself (MLE-bench extracts only the outer zip).
PREPARE = """\
import shutil
import zipfile
from pathlib import Path

import pandas as pd


def prepare(raw: Path, public: Path, private: Path):
    assert (raw / "extra.zip").is_file(), "the inner archive is the preparer's to extract"
    with zipfile.ZipFile(raw / "extra.zip") as inner:
        inner.extractall(raw / "extra")
    assert (raw / "extra" / "notes.txt").read_text() == "inner"
    shutil.copy(raw / "train.csv", public / "train.csv")
    answers = pd.read_csv(raw / "test_with_solutions.csv")
    answers.to_csv(private / "test.csv", index=False)
    answers.drop(columns=["label", "Usage"]).to_csv(public / "test.csv", index=False)
    answers[["key", "label"]].assign(label=0).to_csv(public / "sample_submission.csv", index=False)
"""

GRADE = """\
def grade(submission, answers):
    merged = answers.merge(submission, on="key", suffixes=("", "_pred"))
    if len(merged) != len(answers) or len(submission) != len(answers):
        raise ValueError("submission keys do not match the answers")
    return float((merged["label"] == merged["label_pred"]).mean())
"""


def _kaggle_zip(path):
    """The competition's download, as Kaggle serves it: one zip, an archive inside it."""
    inner = path.parent / "extra.zip"
    with zipfile.ZipFile(inner, "w") as zipped:
        zipped.writestr("notes.txt", "inner")
    with zipfile.ZipFile(path, "w") as zipped:
        zipped.writestr(
            "train.csv", "key,x,label\n" + "".join(f"t{i},{i},{i % 2}\n" for i in range(30))
        )
        zipped.writestr(
            "test_with_solutions.csv",
            "key,x,label,Usage\n" + "".join(f"k{i},{i},{i % 2},Private\n" for i in range(20)),
        )
        zipped.write(inner, "extra.zip")
    return path


@pytest.fixture
def mle(tmp_path, monkeypatch):
    reg, data_dir = tmp_path / "registry", tmp_path / "mle-data"
    folder = write_competition(reg, "toy-mle", grade=GRADE, prepare=PREPARE)
    api = FakeApi(_kaggle_zip(tmp_path / "download.zip"))
    monkeypatch.setattr(kaggle_source, "make_api", lambda: api)
    monkeypatch.setenv("MLERAY_MLEBENCH_DATA_DIR", str(data_dir))
    return reg, data_dir, folder, api


def _competition(reg):
    return registry.get_competition("toy-mle", extra_paths=[reg])


def test_prepare_downloads_runs_the_preparer_and_records_checksums(mle):
    reg, data_dir, _, api = mle
    comp = _competition(reg)
    assert data.prepare_competition(comp) == data_dir / "toy-mle" / "prepared"
    assert [call[0] for call in api.calls] == ["toy-mle"]
    raw = data_dir / "toy-mle" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == [
        "extra",
        "extra.zip",
        "test_with_solutions.csv",
        "train.csv",
    ]
    files = data.checksums(comp)
    assert sorted(files) == [
        "private/test.csv",
        "public/description.md",
        "public/sample_submission.csv",
        "public/test.csv",
        "public/train.csv",
    ]
    comp = data.ensure_prepared(comp)
    assert (comp.id_column, comp.target_columns) == ("key", ("label",))
    assert data.prepare_competition(comp) and len(api.calls) == 1  # prepared: nothing redone


def test_the_cli_prepares_then_grades(mle, tmp_path):
    reg, data_dir, _, _ = mle
    runner, app = CliRunner(), registered_app()
    flags = ["--competitions-path", str(reg), "--mlebench-data-dir", str(data_dir)]
    result = runner.invoke(app, ["prepare", "toy-mle", *flags])
    assert result.exit_code == 0, result.output
    assert "toy-mle: prepared in" in result.output and str(data_dir) in result.output
    submission = tmp_path / "s.csv"
    submission.write_text("key,label\n" + "".join(f"k{i},{i % 2}\n" for i in range(20)))
    graded = runner.invoke(app, ["grade", "-c", "toy-mle", str(submission), "--json", *flags])
    assert graded.exit_code == 0 and '"score": 1.0' in graded.output


def test_the_zip_mlebench_downloaded_is_used_without_the_api(mle, tmp_path):
    reg, data_dir, _, api = mle
    (data_dir / "toy-mle").mkdir(parents=True)
    (data_dir / "toy-mle" / "toy-mle.zip").write_bytes(api.zip_source.read_bytes())
    api.error = AssertionError("the API must not be called")
    data.prepare_competition(_competition(reg))
    assert api.calls == [] and (data_dir / "toy-mle" / "toy-mle.zip").is_file()  # kept
    assert data.is_prepared(_competition(reg))


def _md5s(folder):
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.glob("*.csv")}


def test_prepared_files_are_checked_against_mlebench_checksums(mle):
    reg, _, folder, _ = mle
    comp = _competition(reg)
    data.prepare_competition(comp)
    sums = {"public": _md5s(comp.public_dir), "private": _md5s(comp.private_dir), "zip": "z"}
    (folder / "checksums.yaml").write_text(yaml.safe_dump(sums))
    data.prepare_competition(comp, force=True)  # the same preparer, the same files
    sums["public"]["train.csv"] = "0" * 32
    (folder / "checksums.yaml").write_text(yaml.safe_dump(sums))
    with pytest.raises(NotPreparedError) as caught:
        data.prepare_competition(comp, force=True)
    message = str(caught.value)
    assert "prepared public/train.csv differs from MLE-bench's" in message
    assert "--skip-verification" in message and "\n" not in message
    assert data.is_prepared(comp)  # the earlier, verified files stay in place
    data.prepare_competition(comp, force=True, verify=False)
    sums["public"] = _md5s(comp.public_dir)
    del sums["private"]["test.csv"]
    (folder / "checksums.yaml").write_text(yaml.safe_dump(sums))
    with pytest.raises(NotPreparedError, match="private/test.csv is not in MLE-bench's"):
        data.prepare_competition(comp, force=True)


def test_a_preparer_needing_mlebench_says_how_to_install_it(mle, monkeypatch):
    reg, data_dir, folder, _ = mle
    monkeypatch.setitem(sys.modules, "mlebench", None)  # not importable, installed or not
    (folder / "prepare.py").write_text("from mlebench.utils import read_csv\n" + PREPARE)
    runner = CliRunner()
    flags = ["--competitions-path", str(reg), "--mlebench-data-dir", str(data_dir)]
    result = runner.invoke(registered_app(), ["prepare", "toy-mle", *flags])
    assert result.exit_code == 2
    line = result.output.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "needs the package 'mlebench'" in line
    assert "pip install -e path/to/mle-bench" in line


def test_a_failing_preparer_is_one_line_naming_where(mle):
    reg, _, folder, _ = mle
    (folder / "prepare.py").write_text(PREPARE.replace('"inner"\n', '"outer", "notes differ"\n'))
    with pytest.raises(SpecError) as caught:
        data.prepare_competition(_competition(reg))
    message = str(caught.value)
    assert message.startswith("MLE-bench preparer 'prepare.py:prepare' of toy-mle failed")
    assert "(prepare.py line 12): AssertionError: notes differ" in message
    assert not data.is_prepared(_competition(reg))


def test_a_preparer_with_other_argument_names_is_a_clear_error(mle):
    reg, _, folder, _ = mle
    (folder / "prepare.py").write_text("def prepare(raw, public_dir, private_dir):\n    pass\n")
    with pytest.raises(MlerayError, match="TypeError: prepare.. got an unexpected keyword"):
        data.prepare_competition(_competition(reg))
