"""Kaggle-backed competitions: the download path through a fake KaggleApi (no network),
and one clear line for each way a download fails."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import requests
import yaml

from mleray import data, kaggle_source, registry
from mleray.errors import MlerayError, NotPreparedError
from tests.helpers.kaggle import FakeApi

TRAIN = "PassengerId,HomePlanet,Age,Transported\n" + "".join(
    f"{g:04d}_01,{'Earth' if g % 2 else 'Mars'},{20 + g % 40},{g % 3 == 0}\n" for g in range(1, 101)
)


@pytest.fixture
def competition_zip(tmp_path) -> Path:
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("train.csv", TRAIN)
        zipped.writestr("test.csv", "PassengerId,HomePlanet,Age\n9999_01,Earth,30\n")
        zipped.writestr("sample_submission.csv", "PassengerId,Transported\n9999_01,False\n")
    return archive


def http_error(status: int) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    return requests.HTTPError(f"{status} Client Error", response=response)


def test_download_unzips_and_removes_the_archive(tmp_path, competition_zip):
    api = FakeApi(competition_zip)
    files = kaggle_source.download_competition("spaceship-titanic", tmp_path / "raw", api=api)
    assert [f.name for f in files] == ["sample_submission.csv", "test.csv", "train.csv"]
    assert not list((tmp_path / "raw").glob("*.zip"))
    assert api.calls == [("spaceship-titanic", str(tmp_path / "raw"))]


@pytest.mark.parametrize(
    "error, message",
    [
        (
            http_error(403),
            r"Kaggle refused 'comp-x' \(HTTP 403\): accept the competition rules at "
            r"https://www.kaggle.com/competitions/comp-x/rules",
        ),
        (http_error(404), r"Kaggle competition 'comp-x' not found \(HTTP 404\)"),
        (http_error(401), r"Kaggle rejected the credentials \(HTTP 401\)"),
        (http_error(500), r"failed with HTTP 500"),
        (
            requests.ConnectionError("Max retries exceeded with url"),
            r"network failure downloading 'comp-x'",
        ),
        (TimeoutError("timed out"), r"network failure downloading 'comp-x'"),
        (
            OSError(28, "No space left on device"),
            r"Kaggle download of 'comp-x' failed: OSError: .*No space left",
        ),
        (SystemExit(1), r"Kaggle credentials not found"),
    ],
)
def test_each_failure_is_one_clear_line(tmp_path, error, message):
    with pytest.raises(MlerayError, match=message) as caught:
        kaggle_source.download_competition("comp-x", tmp_path, api=FakeApi(error=error))
    assert "\n" not in str(caught.value)


def test_a_corrupt_or_escaping_zip_is_refused(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(MlerayError, match="not a valid zip archive"):
        kaggle_source.download_competition("c", tmp_path / "raw1", api=FakeApi(bad))
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zipped:
        zipped.writestr("../../outside.txt", "x")
    with pytest.raises(MlerayError, match="escapes the download folder"):
        kaggle_source.download_competition("c", tmp_path / "raw2", api=FakeApi(evil))
    assert not (tmp_path / "outside.txt").exists()


def test_missing_credentials_is_one_line_not_an_exit(tmp_path, monkeypatch):
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / ".kaggle"))
    with pytest.raises(
        MlerayError,
        match=r"Kaggle credentials not found: put your API token in ~/.kaggle/kaggle.json",
    ):
        kaggle_source.make_api()


def test_prepare_a_kaggle_competition_end_to_end(tmp_path, monkeypatch, competition_zip):
    """The shipped spaceship-titanic definition, prepared from a fake download."""
    monkeypatch.setenv("MLERAY_DATA_DIR", str(tmp_path / "cache"))
    api = FakeApi(competition_zip)
    monkeypatch.setattr(kaggle_source, "make_api", lambda: api)
    comp = registry.get_competition("spaceship-titanic", extra_paths=[])
    assert comp.source == "kaggle" and comp.kaggle_slug == "spaceship-titanic"
    assert "spaceship-titanic" not in registry.load_split("builtin")
    with pytest.raises(NotPreparedError):
        data.ensure_prepared(comp)
    data.prepare_competition(comp)
    data.ensure_prepared(comp)
    answers = comp.answers_path.read_text().splitlines()
    assert answers[0] == "PassengerId,Transported" and len(answers) == 11  # 10% of 100 rows
    assert "Transported" not in comp.public_dir.joinpath("test.csv").read_text()
    assert comp.sample_submission_path.read_text().splitlines()[1].endswith(",False")
    # the raw download is kept: even a forced re-prepare does not download again
    data.prepare_competition(comp, force=True)
    assert len(api.calls) == 1
    data.ensure_prepared(comp)
    manifest = yaml.safe_load(data.manifest_path(comp).read_text())
    assert "raw/train.csv" in manifest["raw"]


def test_a_failed_download_leaves_no_raw_and_no_prepared_data(tmp_path, monkeypatch):
    monkeypatch.setenv("MLERAY_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(kaggle_source, "make_api", lambda: FakeApi(error=http_error(403)))
    comp = registry.get_competition("spaceship-titanic", extra_paths=[])
    with pytest.raises(MlerayError, match="HTTP 403"):
        data.prepare_competition(comp)
    assert not comp.raw_dir.exists() and not data.is_prepared(comp)
