"""SweepSpec loading: good specs load; every bad value is one SpecError naming file and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mleray.errors import SpecError
from mleray.spec import load_spec, spec_from_dict
from mleray.spec_limits import check_gpu_share, parse_memory

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

GOOD = """\
name: demo
competitions: [breast-cancer-auc, diabetes-rmse]
agents:
  - name: baseline
  - name: sleep
    models: [m1, m2]
    kwargs: {seconds: 2}
seeds: 3
resources: {gpus: 0.25, cpus: 2, memory: 1.5g}
time_limit: 120
sandbox: local
results: out/demo
max_attempts: 2
snapshot_interval: 10
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_good_spec_loads_every_field(tmp_path):
    spec = load_spec(write(tmp_path, GOOD))
    assert spec.name == "demo"
    assert spec.competitions == ("breast-cancer-auc", "diabetes-rmse")
    assert [a.name for a in spec.agents] == ["baseline", "sleep"]
    assert spec.agents[0].models == (None,)
    assert spec.agents[1].models == ("m1", "m2") and spec.agents[1].kwargs == {"seconds": 2}
    assert spec.seeds == (0, 1, 2)
    assert spec.resources.gpus == 0.25 and spec.resources.cpus == 2.0
    assert spec.resources.memory_bytes == int(1.5 * 1024**3)
    assert (spec.time_limit, spec.sandbox, spec.max_attempts, spec.snapshot_interval) == (
        120.0,
        "local",
        2,
        10.0,
    )
    assert spec.results_dir == Path("out/demo")


def test_split_expands_and_merges_with_listed_ids(tmp_path):
    from mleray.registry import load_split

    spec = load_spec(
        write(
            tmp_path,
            """\
        name: s
        competitions: [diabetes-rmse]
        split: builtin
        agents: [noop]
        """,
        )
    )
    builtin = load_split("builtin")
    assert spec.competitions[0] == "diabetes-rmse"
    assert set(spec.competitions) == set(builtin) | {"diabetes-rmse"}
    assert len(spec.competitions) == len(set(spec.competitions))
    assert spec.results_dir == Path("results/s")


def test_examples_load():
    for name in ("builtin-sweep.yaml", "smoke.yaml"):
        spec = load_spec(EXAMPLES / name)
        assert spec.competitions and spec.agents
    sweep = load_spec(EXAMPLES / "builtin-sweep.yaml")
    assert sweep.sandbox == "docker" and sweep.resources.gpus == 0.5
    assert len(sweep.competitions) * 2 * len(sweep.seeds) >= 24


def test_explicit_seed_list(tmp_path):
    spec = load_spec(write(tmp_path, GOOD.replace("seeds: 3", "seeds: [7, 0, 3]")))
    assert spec.seeds == (7, 0, 3)


@pytest.mark.parametrize(
    "change, field",
    [
        (("seeds: 3", "seeds: -1"), "seeds"),
        (("seeds: 3", "seeds: [0, -2]"), "seeds[1]"),
        (("seeds: 3", "seeds: [1, 1]"), "seeds"),
        (("seeds: 3", "seeds: three"), "seeds"),
        (("gpus: 0.25", "gpus: 0.3"), "resources.gpus"),
        (("gpus: 0.25", "gpus: 1.5"), "resources.gpus"),
        (("gpus: 0.25", "gpus: -1"), "resources.gpus"),
        (("gpus: 0.25", "gpus: half"), "resources.gpus"),
        (("cpus: 2", "cpus: 0"), "resources.cpus"),
        (("memory: 1.5g", "memory: lots"), "resources.memory"),
        (("memory: 1.5g", "memory: -4g"), "resources.memory"),
        (("memory: 1.5g", "memory: 1g, volume: 5g"), "resources.volume"),
        (("time_limit: 120", "time_limit: 0"), "time_limit"),
        (("time_limit: 120", "time_limit: soon"), "time_limit"),
        (("sandbox: local", "sandbox: podman"), "sandbox"),
        (("max_attempts: 2", "max_attempts: 1.5"), "max_attempts"),
        (("max_attempts: 2", "max_attempts: 0"), "max_attempts"),
        (("snapshot_interval: 10", "snapshot_interval: -5"), "snapshot_interval"),
        (("results: out/demo", "results: [a]"), "results"),
        (("name: demo", "name: 'bad name!'"), "name"),
        (("name: demo", "nmae: demo"), "nmae"),
        (("  - name: baseline", "  - name: no-such-agent"), "agents[0].name"),
        (("    models: [m1, m2]", "    models: m1"), "agents[1].models"),
        (("    kwargs: {seconds: 2}", "    kwarg: {seconds: 2}"), "agents[1].kwarg"),
        (("    kwargs: {seconds: 2}", "    kwargs: [2]"), "agents[1].kwargs"),
        (("    kwargs: {seconds: 2}", "    resources: {gpus: 0.3}"), "agents[1].resources.gpus"),
        (("    kwargs: {seconds: 2}", "    resources: {volume: 1}"), "agents[1].resources.volume"),
        (("    kwargs: {seconds: 2}", "    resources: 2"), "agents[1].resources"),
        (("    kwargs: {seconds: 2}", "    time_limit: -1"), "agents[1].time_limit"),
        (
            (
                "competitions: [breast-cancer-auc, diabetes-rmse]",
                "competitions: [breast-cancer-auc, nope]",
            ),
            "competitions[1]",
        ),
        (("competitions: [breast-cancer-auc, diabetes-rmse]", "competitions: []"), "competitions"),
        (("competitions: [breast-cancer-auc, diabetes-rmse]", "split: no-such-split"), "split"),
    ],
)
def test_bad_value_is_one_spec_error_naming_file_and_field(tmp_path, change, field):
    old, new = change
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path)), message
    assert f"`{field}`" in message, message


def test_malformed_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "name: x\nagents: [noop\nseeds: 2\n")
    with pytest.raises(SpecError, match=r"malformed YAML at line \d+") as info:
        load_spec(path)
    assert str(path) in str(info.value)


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(SpecError, match="no such spec file"):
        load_spec(tmp_path / "missing.yaml")
    with pytest.raises(SpecError, match="must be a mapping"):
        load_spec(write(tmp_path, "- just\n- a list\n"))
    with pytest.raises(SpecError, match="`agents`"):
        spec_from_dict({"name": "x", "competitions": ["breast-cancer-auc"]}, source="f.yaml")


@pytest.mark.parametrize(
    "value, expected",
    [
        (0, 0.0),
        (1, 1.0),
        (2, 2.0),
        (0.5, 0.5),
        (0.25, 0.25),
        (0.2, 0.2),
        (1 / 3, 1 / 3),
        (0.125, 0.125),
    ],
)
def test_gpu_shares_accepted(value, expected):
    assert check_gpu_share(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", [0.3, 0.4, 0.6, 0.75, 1.5, 2.5, -0.5, True, "0.5"])
def test_gpu_shares_rejected(value):
    with pytest.raises(SpecError):
        check_gpu_share(value)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("4g", 4 * 1024**3),
        ("512m", 512 * 1024**2),
        ("1.5GiB", int(1.5 * 1024**3)),
        ("100k", 102400),
        (1024, 1024),
        ("2048", 2048),
    ],
)
def test_memory_sizes(value, expected):
    assert parse_memory(value) == expected


def test_to_dict_round_trips(tmp_path):
    own = "    kwargs: {seconds: 2}\n    resources: {gpus: 1, shm: 64m}\n    time_limit: 60\n"
    for text in (GOOD, GOOD.replace("    kwargs: {seconds: 2}\n", own)):
        spec = load_spec(write(tmp_path, text))
        again = spec_from_dict(spec.to_dict(), source="copy")
        assert again.competitions == spec.competitions and again.agents == spec.agents
        assert again.resources == spec.resources and again.seeds == spec.seeds


def test_an_agent_overrides_the_sweeps_resources_key_by_key(tmp_path):
    own = "    kwargs: {seconds: 2}\n    resources: {gpus: 1}\n    time_limit: 30\n"
    spec = load_spec(write(tmp_path, GOOD.replace("    kwargs: {seconds: 2}\n", own)))
    baseline, sleep = spec.agents
    assert (baseline.resources, baseline.time_limit) == (None, None)
    assert spec.resources_of(baseline) == spec.resources and spec.time_limit_of(baseline) == 120
    mine = spec.resources_of(sleep)
    assert (mine.gpus, mine.cpus, mine.memory_bytes) == (1.0, 2.0, int(1.5 * 1024**3))
    assert spec.time_limit_of(sleep) == 30.0


def test_values_at_their_bounds_load(tmp_path):
    from mleray.spec_limits import MAX_ATTEMPTS, MAX_SECONDS, MAX_SEEDS

    spec = load_spec(
        write(
            tmp_path,
            f"""\
        name: edges
        competitions: [breast-cancer-auc]
        agents: [noop]
        seeds: {MAX_SEEDS}
        time_limit: {MAX_SECONDS}
        snapshot_interval: 0.1
        max_attempts: {MAX_ATTEMPTS}
        resources: {{gpus: 0.01, cpus: 1024, memory: 6m}}
        """,
        )
    )
    assert len(spec.seeds) == MAX_SEEDS and spec.time_limit == MAX_SECONDS
    assert spec.resources.gpus == pytest.approx(0.01) and spec.resources.memory_bytes == 6 * 1024**2


def test_one_agent_twice_with_other_kwargs_or_models_is_no_duplicate(tmp_path):
    spec = load_spec(
        write(
            tmp_path,
            """\
        name: variants
        competitions: [breast-cancer-auc]
        agents:
          - {name: sleep, kwargs: {seconds: 1}}
          - {name: sleep, kwargs: {seconds: 2}}
          - {name: sleep, models: [a], kwargs: {seconds: 1}}
        """,
        )
    )
    assert [a.kwargs for a in spec.agents] == [{"seconds": 1}, {"seconds": 2}, {"seconds": 1}]
    # the same kwargs in another key order are the same runs
    same = [
        {"name": "sleep", "kwargs": {"b": 1, "a": 2}},
        {"name": "sleep", "kwargs": {"a": 2, "b": 1}},
    ]
    with pytest.raises(SpecError, match=r"`agents\[1\]` repeats agents\[0\]"):
        spec_from_dict({"name": "twice", "competitions": ["breast-cancer-auc"], "agents": same})
    # one agent at two time limits or two GPU shares is a time- or hardware-scaling sweep
    scaled = [
        {"name": "sleep", "time_limit": 60},
        {"name": "sleep", "time_limit": 120},
        {"name": "sleep", "resources": {"gpus": 1}},
    ]
    spec = spec_from_dict(
        {"name": "scaled", "competitions": ["breast-cancer-auc"], "agents": scaled}
    )
    assert [spec.time_limit_of(a) for a in spec.agents] == [60.0, 120.0, 600.0]
    # its own limits equal to the sweep's are the sweep's: the same trials twice
    for own in ({"time_limit": 600}, {"resources": {"gpus": 0}}):
        with pytest.raises(SpecError, match=r"`agents\[1\]` repeats agents\[0\]"):
            spec_from_dict(
                {
                    "name": "same",
                    "competitions": ["breast-cancer-auc"],
                    "agents": [{"name": "sleep"}, {"name": "sleep", **own}],
                }
            )


def test_anchors_and_merge_keys_within_bounds_work(tmp_path):
    spec = load_spec(
        write(
            tmp_path,
            """\
        name: shared
        competitions: [breast-cancer-auc]
        agents:
          - {name: sleep, models: [a], kwargs: &common {seconds: 1, tags: [x, y]}}
          - {name: sleep, models: [b], kwargs: *common}
          - {name: sleep, models: [c], kwargs: {<<: *common, seconds: 2}}
        """,
        )
    )
    assert spec.agents[1].kwargs == {"seconds": 1, "tags": ["x", "y"]}
    assert spec.agents[2].kwargs == {"seconds": 2, "tags": ["x", "y"]}


def test_unknown_key_suggests_the_nearest(tmp_path):
    path = write(tmp_path, GOOD.replace("time_limit: 120", "time_limt: 120"))
    with pytest.raises(SpecError, match=r"unknown field `time_limt`; did you mean `time_limit`\?"):
        load_spec(path)


def test_a_bool_or_zero_is_no_default(tmp_path):
    for change in (
        ("resources: {gpus: 0.25, cpus: 2, memory: 1.5g}", "resources: false"),
        ("    kwargs: {seconds: 2}", "    kwargs: 0"),
    ):
        with pytest.raises(SpecError, match="must be a mapping"):
            load_spec(write(tmp_path, GOOD.replace(*change)))


def test_home_in_paths_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "registry").mkdir(parents=True)
    spec = load_spec(
        write(
            tmp_path,
            GOOD.replace(
                "results: out/demo", "results: ~/results/demo\ncompetitions_path: [~/registry]"
            ),
        )
    )
    assert spec.results_dir == tmp_path / "home" / "results" / "demo"
    assert spec.competitions_path == (str(tmp_path / "home" / "registry"),)
