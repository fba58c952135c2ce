"""Split names as MLE-bench's users say them: `lite` (its low split, 22 competitions),
`all` (its 75), and its own file names (`low`, `split75`, ...), beside `mlebench-*`, wherever
a split is named: the registry, sweep specs, `--split`."""

from __future__ import annotations

import pytest

from mleray import registry
from mleray.errors import NotFoundError
from mleray.spec import spec_from_dict


def test_lite_is_mlebench_low_and_all_is_its_75():
    lite, everything = registry.load_split("lite"), registry.load_split("all")
    assert lite == registry.load_split("mlebench-low") and len(lite) == 22
    assert everything == registry.load_split("mlebench-split75") and len(everything) == 75
    parts = [registry.load_split(name) for name in ("low", "medium", "high")]
    assert sorted(sum(parts, [])) == sorted(everything)  # low + medium + high = all 75
    assert "detecting-insults-in-social-commentary" in lite


def test_aliases_are_listed_and_named_in_errors():
    names = registry.list_splits()
    assert {"lite", "all", "low", "split75", "mlebench-low", "builtin"} <= set(names)
    with pytest.raises(NotFoundError, match="known: .*lite, all"):
        registry.load_split("lite2")


def test_a_split_file_of_that_name_wins_over_the_alias(tmp_path, monkeypatch):
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "mlebench-low.txt").write_text("a\nb\n")
    (tmp_path / "splits" / "lite.txt").write_text("mine\n")
    monkeypatch.setenv("MLERAY_BUILTIN_COMPETITIONS", str(tmp_path))
    assert registry.load_split("lite") == ["mine"]
    assert registry.list_splits().count("lite") == 1


@pytest.mark.parametrize("name, count", [("lite", 22), ("all", 75), ("mlebench-low", 22)])
def test_sweep_specs_take_the_names(name, count):
    raw = {"name": "s", "split": name, "agents": ["noop"]}
    spec = spec_from_dict(raw, check=False)
    assert len(spec.competitions) == count and spec.split == name
