"""Planning: the trial matrix, stable ids, and skipping trials already final."""

from __future__ import annotations

from dataclasses import replace

from mleray.plan import pending_trials, plan_trials, trial_id_for
from mleray.results import final_trial_ids
from mleray.spec import spec_from_dict

BASE = {
    "name": "p",
    "competitions": ["breast-cancer-auc", "diabetes-rmse"],
    "agents": [
        {"name": "noop"},
        {"name": "sleep", "models": ["a", "b"], "kwargs": {"seconds": 1, "x": [1]}},
    ],
    "seeds": 2,
    "resources": {"gpus": 0.5, "cpus": 1, "memory": "1g"},
    "sandbox": "local",
}


def spec(**changes):
    return spec_from_dict({**BASE, **changes}, check=False)


def test_matrix_size_and_fields():
    trials = plan_trials(spec())
    assert len(trials) == 2 * (1 + 2) * 2
    assert len({t.trial_id for t in trials}) == len(trials)
    sleep = [t for t in trials if t.agent == "sleep"]
    assert {t.model for t in sleep} == {"a", "b"}
    assert sleep[0].kwargs == {"seconds": 1, "x": [1]}
    assert sleep[0].kwargs_json == '{"seconds":1,"x":[1]}'
    assert {t.model for t in trials if t.agent == "noop"} == {None}
    assert all(t.gpus == 0.5 and t.memory_bytes == 1024**3 and t.sweep == "p" for t in trials)


def test_an_agent_with_its_own_resources_and_time_limit_gets_them_key_by_key():
    agents = [
        {"name": "noop"},
        {"name": "noop", "resources": {"gpus": 1}, "time_limit": 7200},
        {"name": "noop", "resources": {"cpus": 4, "memory": "2g"}},
    ]
    trials = plan_trials(spec(agents=agents, competitions=["breast-cancer-auc"], seeds=1))
    shapes = [(t.gpus, t.cpus, t.memory_bytes, t.time_limit) for t in trials]
    assert shapes == [
        (0.5, 1.0, 1024**3, 600.0),  # the sweep's
        (1.0, 1.0, 1024**3, 7200.0),  # its gpus and time limit, the sweep's cpus and memory
        (0.5, 4.0, 2 * 1024**3, 600.0),
    ]
    assert len({t.trial_id for t in trials}) == 3  # other resources: other trials


def test_ids_are_deterministic_and_ignore_name_order_and_bookkeeping():
    first = {t.trial_id for t in plan_trials(spec())}
    assert first == {t.trial_id for t in plan_trials(spec())}
    # sweep name, snapshot interval and attempts do not change what runs
    assert first == {
        t.trial_id for t in plan_trials(spec(name="other", snapshot_interval=5, max_attempts=9))
    }
    # kwargs key order does not matter
    agents = [BASE["agents"][0], {**BASE["agents"][1], "kwargs": {"x": [1], "seconds": 1}}]
    assert first == {t.trial_id for t in plan_trials(spec(agents=agents))}


def test_ids_change_with_what_changes_the_run():
    base = {t.trial_id for t in plan_trials(spec())}
    for changed in (
        spec(time_limit=99),
        spec(sandbox="docker"),
        spec(resources={"gpus": 0.25, "cpus": 1, "memory": "1g"}),
        spec(resources={"gpus": 0.5, "cpus": 2, "memory": "1g"}),
        spec(resources={"gpus": 0.5, "cpus": 1, "memory": "2g"}),
    ):
        assert not base & {t.trial_id for t in plan_trials(changed)}
    args = ("c", "a", None, 0, "{}", 60.0, "local", 0.0, 1.0, 1024)
    assert trial_id_for(*args) != trial_id_for("c", "a", None, 1, *args[4:])
    assert trial_id_for(*args) != trial_id_for("c", "a", "m", 0, *args[4:])
    assert trial_id_for(*args) != trial_id_for("c", "a", None, 0, '{"k":1}', *args[5:])


def test_pending_drops_final_trials_but_not_infra_errors(tmp_path):
    from tests.helpers.results import make_outcome, write_final

    trials = plan_trials(spec())
    assert pending_trials(trials, final_trial_ids(tmp_path / "none")) == trials
    write_final(tmp_path, trials[0], make_outcome(trials[0], status="completed"))
    write_final(tmp_path, trials[1], make_outcome(trials[1], status="agent_error"))
    write_final(tmp_path, trials[2], make_outcome(trials[2], status="infra_error"))
    left = pending_trials(trials, final_trial_ids(tmp_path))
    assert [t.trial_id for t in left] == [t.trial_id for t in trials[2:]]
    assert replace(trials[0], sweep="renamed").trial_id == trials[0].trial_id


def test_agent_folder_given_relative_is_resolved_for_workers(tmp_path, monkeypatch):
    for place in ("a", "b"):
        (tmp_path / place / "my-agent").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a")
    trials = plan_trials(spec(agents=[{"name": "my-agent"}, {"name": "noop"}]))
    mine = [t for t in trials if t.agent == "my-agent"]
    assert mine and all(t.agent_path == str(tmp_path / "a" / "my-agent") for t in mine)
    assert all(t.agent_path is None for t in trials if t.agent == "noop")
    monkeypatch.chdir(tmp_path / "b")  # the identity is the name in the spec, not where it lies
    again = plan_trials(spec(agents=[{"name": "my-agent"}, {"name": "noop"}]))
    assert [t.trial_id for t in again] == [t.trial_id for t in trials]
    assert {t.agent_path for t in again if t.agent == "my-agent"} == {
        str(tmp_path / "b" / "my-agent")
    }


def test_results_key_separates_same_named_sweeps_but_not_their_ids(tmp_path, monkeypatch):
    # two sweeps of the same name into different folders must not reap each other's
    # containers or wipe each other's scratch folders; their trials are still the same trials
    into_a, into_b = plan_trials(spec(), tmp_path / "a"), plan_trials(spec(), tmp_path / "b")
    assert [t.trial_id for t in into_a] == [t.trial_id for t in into_b]
    assert len({t.results_key for t in into_a}) == 1 and into_a[0].results_key.startswith("p-")
    assert into_a[0].results_key != into_b[0].results_key
    monkeypatch.chdir(tmp_path)  # the spec's own folder, relative, is the same folder
    assert plan_trials(spec(results="a"))[0].results_key == into_a[0].results_key
