"""Registry: locations, lookup, splits, and a SpecError naming the file and field for every
bad config field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mleray import registry
from mleray.errors import NotFoundError, SpecError
from tests.helpers.competitions import GOOD_CONFIG, write_competition_folder


def test_builtin_dir_is_the_repo_competitions_folder_and_env_overrides(monkeypatch, tmp_path):
    monkeypatch.delenv("MLERAY_BUILTIN_COMPETITIONS", raising=False)
    assert (
        registry.builtin_competitions_dir()
        == Path(__file__).resolve().parent.parent / "competitions"
    )
    monkeypatch.setenv("MLERAY_BUILTIN_COMPETITIONS", str(tmp_path))
    assert registry.builtin_competitions_dir() == tmp_path


def test_data_root_env_then_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("MLERAY_DATA_DIR", str(tmp_path / "d"))
    assert registry.data_root() == tmp_path / "d"
    monkeypatch.delenv("MLERAY_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert registry.data_root() == tmp_path / "xdg" / "mleray" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert registry.data_root() == tmp_path / "home" / ".cache" / "mleray" / "data"


def test_builtin_split_lists_known_competitions():
    builtin = registry.load_split("builtin")
    assert len(builtin) >= 6
    known = {c.id for c in registry.list_competitions(extra_paths=[])}
    assert set(builtin) <= known
    assert "spaceship-titanic" in known and "spaceship-titanic" not in builtin
    assert {"builtin", "mlebench-low", "mlebench-split75"} <= set(registry.list_splits())
    assert len(registry.load_split("mlebench-low")) == 22  # low.txt lacks a trailing newline
    assert len(registry.load_split("mlebench-split75")) == 75


def test_unknown_split_and_competition_name_what_and_where():
    with pytest.raises(NotFoundError, match="unknown split 'nope'"):
        registry.load_split("nope")
    with pytest.raises(
        NotFoundError, match=r"unknown competition 'no-such-comp' \(searched .*competitions"
    ):
        registry.get_competition("no-such-comp", extra_paths=[])


def test_get_competition_builds_paths_under_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("MLERAY_DATA_DIR", str(tmp_path))
    comp = registry.get_competition("digits-accuracy", extra_paths=[])
    assert comp.data_dir == tmp_path / "digits-accuracy"
    assert comp.answers_path == tmp_path / "digits-accuracy" / "private" / "test.csv"
    assert (
        comp.sample_submission_path
        == tmp_path / "digits-accuracy" / "public" / "sample_submission.csv"
    )
    assert (
        comp.metric == "accuracy" and comp.source == "builtin" and comp.target_columns == ("label",)
    )
    assert comp.leaderboard_path.is_file() and comp.description_path.is_file()


def test_extra_paths_come_first_and_env_supplies_them(monkeypatch, tmp_path):
    write_competition_folder(
        tmp_path / "reg", {**GOOD_CONFIG, "id": "digits-accuracy", "name": "Shadow"}
    )
    write_competition_folder(tmp_path / "reg", GOOD_CONFIG)
    assert (
        registry.get_competition("digits-accuracy", extra_paths=[tmp_path / "reg"]).name == "Shadow"
    )
    monkeypatch.setenv("MLERAY_COMPETITIONS_PATH", str(tmp_path / "reg"))
    assert registry.get_competition("toy-comp").name == "Toy"
    ids = [c.id for c in registry.list_competitions()]
    assert ids.count("digits-accuracy") == 1 and "toy-comp" in ids


def test_a_path_may_be_one_competition_folder(tmp_path):
    folder = write_competition_folder(tmp_path, GOOD_CONFIG)
    assert registry.get_competition("toy-comp", extra_paths=[folder]).root == folder.resolve()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"id": None}, "'id'"),
        ({"id": "bad id!"}, "'id'"),
        ({"name": 3}, "'name'"),
        ({"metric": None}, "'metric' or 'grader'"),
        ({"grader": "grade.py:grade"}, "'metric' or 'grader'"),
        ({"metric": "accuracy_typo"}, "'metric'"),
        ({"source": "s3"}, "'source'"),
        ({"source": "kaggle"}, "'kaggle_slug'"),
        ({"prepare": "prepare.py"}, "'prepare'"),
        ({"target_columns": []}, "'target_columns'"),
        ({"target_columns": [1, 2]}, "'target_columns'"),
        ({"answers": ""}, "'answers'"),
        ({"id_column": None}, "'id_column'"),
        ({"lower_is_better": "yes"}, "'lower_is_better'"),
        ({"description": "missing.md"}, "'description'"),
        ({"colour": "red"}, "'colour'"),
    ],
)
def test_every_bad_field_is_a_spec_error_naming_file_and_field(tmp_path, change, field):
    config = {k: v for k, v in {**GOOD_CONFIG, **change}.items() if v is not None}
    folder = write_competition_folder(tmp_path, config, folder="comp")
    with pytest.raises(SpecError) as caught:
        registry.load_competition_dir(folder)
    message = str(caught.value)
    assert str(folder / "config.yaml") in message and field in message
    assert "\n" not in message


def test_yaml_that_is_not_a_mapping_or_not_yaml(tmp_path):
    folder = tmp_path / "comp"
    folder.mkdir()
    (folder / "config.yaml").write_text("- just\n- a list\n")
    with pytest.raises(SpecError, match="expected a mapping"):
        registry.load_competition_dir(folder)
    (folder / "config.yaml").write_text("id: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        registry.load_competition_dir(folder)


def test_load_callable_resolves_files_relative_to_the_folder(tmp_path):
    folder = write_competition_folder(tmp_path, GOOD_CONFIG)
    (folder / "prepare.py").write_text("def prepare(raw, public, private):\n    return 'ran'\n")
    comp = registry.load_competition_dir(folder)
    assert registry.load_callable(comp, "prepare.py:prepare")(None, None, None) == "ran"
    assert registry.load_callable(comp, "json:dumps")([1]) == "[1]"
    with pytest.raises(SpecError, match="no function 'nope'"):
        registry.load_callable(comp, "prepare.py:nope")
    with pytest.raises(SpecError, match="no file"):
        registry.load_callable(comp, "missing.py:prepare")


def test_a_split_listing_an_id_twice_names_the_file_and_lines(monkeypatch, tmp_path):
    (tmp_path / "splits").mkdir()
    split = tmp_path / "splits" / "mine.txt"
    split.write_text("comp-a\n# a comment\ncomp-b  # trailing\n\ncomp-a\n")
    monkeypatch.setenv("MLERAY_BUILTIN_COMPETITIONS", str(tmp_path))
    with pytest.raises(
        SpecError, match=rf"{split}: line 5: 'comp-a' is listed twice \(first on line 1\)"
    ):
        registry.load_split("mine")
    split.write_text("comp-a\n# a comment\ncomp-b  # trailing\n\n")
    assert registry.load_split("mine") == ["comp-a", "comp-b"]


def test_loading_a_competition_leaves_scikit_learn_unimported():
    """A trial actor loads its competition on an agent node once per attempt and never
    grades: the config's metric is checked by name, without importing the metrics (about a
    second of scikit-learn per attempt, most of a short trial's overhead)."""
    probe = (
        "import sys; from mleray.registry import get_competition;"
        "get_competition('breast-cancer-auc'); print('sklearn' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_checking_a_competition_is_gradable_leaves_scikit_learn_unimported(builtin_data):
    """The driver's preflight checks every competition's leaderboard against its metric's
    direction before Ray starts; importing the metrics for that added ~0.8 s to each
    sweep's start (the driver never grades: remote tasks do)."""
    probe = (
        "import sys; from mleray.registry import get_competition;"
        "from mleray.grading import check_gradable;"
        "ids = ('breast-cancer-auc', 'diabetes-rmse', 'digits-accuracy');"
        "[check_gradable(get_competition(c)) for c in ids];"
        "print('sklearn' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_metric_names_are_the_metrics_defined():
    from mleray.grading.metric_names import LOWER_IS_BETTER, METRIC_NAMES
    from mleray.grading.metrics import METRICS, REGISTRY

    assert METRIC_NAMES == METRICS
    assert {name: m.lower_is_better for name, m in REGISTRY.items()} == LOWER_IS_BETTER
    assert LOWER_IS_BETTER["rmse"] is True and LOWER_IS_BETTER["roc_auc"] is False
