"""Preparing data: deterministic checksums, idempotent, atomic on a crash, and checked on use."""

from __future__ import annotations

import json

import pytest

from mleray import data, registry
from mleray.errors import NotPreparedError, SpecError
from tests.helpers.competitions import GOOD_CONFIG, write_competition_folder

TOY_PREPARE = """
import os


def make_raw(raw):
    (raw / "all.csv").write_text("id,x,y\\n" + "".join(f"{i},{i * 2},{i % 3}\\n" for i in range(1, 21)))


def prepare(raw, public, private):
    rows = (raw / "all.csv").read_text().splitlines()[1:]
    (public / "train.csv").write_text("id,x,y\\n" + "\\n".join(rows[:10]) + "\\n")
    (public / "test.csv").write_text("id,x\\n" + "".join(r.rsplit(",", 1)[0] + "\\n" for r in rows[10:]))
    if os.environ.get("TOY_CRASH"):
        raise RuntimeError("prepare crashed half way")
    (public / "sample_submission.csv").write_text("id,y\\n" + "".join(r.split(",")[0] + ",0\\n" for r in rows[10:]))
    (private / "test.csv").write_text("id,y\\n" + "".join(r.split(",")[0] + "," + r.split(",")[2] + "\\n" for r in rows[10:]))
"""


@pytest.fixture
def toy(tmp_path, monkeypatch):
    monkeypatch.setenv("MLERAY_DATA_DIR", str(tmp_path / "cache"))
    folder = write_competition_folder(tmp_path / "reg", GOOD_CONFIG)
    (folder / "prepare.py").write_text(TOY_PREPARE)
    return registry.load_competition_dir(folder)


def test_prepare_writes_public_private_and_a_manifest(toy):
    assert data.prepare_competition(toy) == toy.data_dir
    assert sorted(p.name for p in toy.public_dir.iterdir()) == [
        "description.md",
        "sample_submission.csv",
        "test.csv",
        "train.csv",
    ]
    assert [p.name for p in toy.private_dir.iterdir()] == ["test.csv"]
    assert (toy.raw_dir / "all.csv").is_file()
    assert data.ensure_prepared(toy) == toy
    sums = data.checksums(toy)
    assert set(sums) == {
        "public/description.md",
        "public/sample_submission.csv",
        "public/test.csv",
        "public/train.csv",
        "private/test.csv",
    }
    assert "raw/all.csv" in json.loads(data.manifest_path(toy).read_text())["raw"]


def test_not_prepared_names_the_command(toy):
    with pytest.raises(
        NotPreparedError,
        match=r"competition toy-comp is not prepared: run `mleray prepare toy-comp`",
    ):
        data.ensure_prepared(toy)
    assert not data.is_prepared(toy)


def test_prepare_is_idempotent_and_deterministic(toy):
    data.prepare_competition(toy)
    first = data.checksums(toy)
    mtime = data.manifest_path(toy).stat().st_mtime_ns
    data.prepare_competition(toy)  # already prepared: nothing rewritten
    assert data.manifest_path(toy).stat().st_mtime_ns == mtime
    data.prepare_competition(toy, force=True)
    assert data.checksums(toy) == first


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda c: (c.private_dir / "test.csv").write_text("id,y\n11,2\n"),
            "checksum mismatch in .*private/test.csv",
        ),
        (lambda c: (c.public_dir / "train.csv").unlink(), "missing file .*public/train.csv"),
        (
            lambda c: (c.public_dir / "leak.csv").write_text("x"),
            "unexpected file .*public/leak.csv",
        ),
        (lambda c: data.manifest_path(c).write_text("{not json"), "manifest .* is unreadable"),
    ],
)
def test_damage_is_detected_on_use(toy, damage, message):
    data.prepare_competition(toy)
    damage(toy)
    with pytest.raises(NotPreparedError, match=message):
        data.ensure_prepared(toy)
    data.prepare_competition(toy)  # a damaged cache is prepared again without --force
    data.ensure_prepared(toy)


def test_same_size_change_is_caught_by_the_hash(toy):
    data.prepare_competition(toy)
    answers = toy.private_dir / "test.csv"
    text = answers.read_text()
    answers.write_text(text.replace("11,2", "11,0"))
    assert len(answers.read_text()) == len(text)
    with pytest.raises(NotPreparedError, match="checksum mismatch"):
        data.ensure_prepared(toy)


def test_a_crash_in_prepare_leaves_nothing_that_looks_prepared(toy, monkeypatch):
    monkeypatch.setenv("TOY_CRASH", "1")
    with pytest.raises(RuntimeError, match="half way"):
        data.prepare_competition(toy)
    assert not data.is_prepared(toy)
    assert not toy.public_dir.exists()  # staged files never moved into place
    assert not [p for p in toy.data_dir.iterdir() if p.name.startswith(".staging")]


def test_a_failed_forced_reprepare_keeps_the_old_data(toy, monkeypatch):
    data.prepare_competition(toy)
    before = data.checksums(toy)
    monkeypatch.setenv("TOY_CRASH", "1")
    with pytest.raises(RuntimeError):
        data.prepare_competition(toy, force=True)
    assert data.checksums(toy) == before


def test_a_prepare_that_forgets_the_answers_is_a_spec_error(toy):
    prepare_py = toy.root / "prepare.py"
    prepare_py.write_text(TOY_PREPARE.replace('(private / "test.csv").write_text', "print"))
    with pytest.raises(SpecError, match="wrote no answers private/test.csv"):
        data.prepare_competition(toy)


def test_split_rows_is_deterministic_and_stratified():
    import pandas as pd

    frame = pd.DataFrame({"id": range(100), "label": [0] * 80 + [1] * 20})
    train_a, test_a = data.split_rows(frame, 0.25, seed=3, stratify="label")
    train_b, test_b = data.split_rows(frame, 0.25, seed=3, stratify="label")
    assert list(test_a["id"]) == list(test_b["id"]) and len(test_a) == 25
    assert test_a["label"].sum() == 5
    assert set(train_a["id"]).isdisjoint(test_a["id"])


@pytest.mark.parametrize("competition_id", registry.load_split("builtin"))
def test_builtin_prepare_twice_gives_the_same_checksums(tmp_path, monkeypatch, competition_id):
    sums = []
    for run in ("one", "two"):
        monkeypatch.setenv("MLERAY_DATA_DIR", str(tmp_path / run))
        comp = registry.get_competition(competition_id, extra_paths=[])
        data.prepare_competition(comp)
        assert comp.data_dir == tmp_path / run / competition_id
        sums.append(data.checksums(comp))
    assert sums[0] == sums[1] and len(sums[0]) == 5
