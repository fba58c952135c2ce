"""The sweep driver on one embedded Ray (2 declared GPUs, 8 CPUs) with the local sandbox:
GPU packing, reruns, snapshots, infra_error retries, fail-fast checks."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mleray.driver import admission_limit, run_sweep
from mleray.errors import MlerayError, NotPreparedError
from mleray.plan import plan_trials
from mleray.results import load, load_attempts, load_snapshots
from mleray.spec import load_spec, spec_from_dict
from tests.helpers.timeline import max_overlap

COMPETITION = "breast-cancer-auc"


@pytest.fixture(scope="module")
def ray_two_gpus(builtin_data):
    import ray

    ray.init(
        address="local",
        num_cpus=8,
        num_gpus=2,
        resources={"mleray_answers": 1},
        include_dashboard=False,
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()


def make_agent(root: Path, name: str, script: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(
        f'name: {name}\nimage: none\ncommand: ["python3", "{{agent_dir}}/run.py"]\n'
    )
    (folder / "run.py").write_text(textwrap.dedent(script))
    return folder


def sweep_spec(tmp_path, agent, seeds=1, **extra):
    raw = {
        "name": extra.pop("name", "t"),
        "competitions": [COMPETITION],
        "agents": [agent],
        "seeds": seeds,
        "sandbox": "local",
        "time_limit": 60,
        "results": str(tmp_path / "results"),
        "resources": {"gpus": 0.5, "cpus": 0.5, "memory": "256m"},
        **extra,
    }
    return spec_from_dict(raw, source="test")


@pytest.mark.ray
@pytest.mark.slow
def test_gpu_shares_pack_without_overbooking(tmp_path, ray_two_gpus):
    spec = sweep_spec(tmp_path, {"name": "sleep", "kwargs": {"seconds": 2}}, seeds=8)
    summary = run_sweep(spec, progress=False)
    df = load(summary.results_dir)
    assert len(df) == 8 and set(df["status"]) == {"completed"}, df[["status", "error"]]
    assert summary.attempts == 8 and summary.retries == 0
    ids = df["gpu_ids"].str.split(",")
    assert all(len(g) == 1 and g[0] in {"0", "1"} for g in ids)  # a half share is on one GPU
    spans = list(zip(df["started_at"], df["finished_at"]))
    assert max_overlap(spans) <= 4
    assert max_overlap(spans) >= 2  # trials really ran side by side
    for gpu in ("0", "1"):
        on_gpu = df[df["gpu_ids"] == gpu]
        assert max_overlap(list(zip(on_gpu["started_at"], on_gpu["finished_at"]))) <= 2
    assert (df["gpu_seconds"] - 0.5 * df["wall_seconds"]).abs().max() < 1e-9
    assert df["valid_submission"].all() and df["score"].notna().all()

    copy = load_spec(summary.results_dir / "sweep.yaml")  # the spec as run, reloadable
    assert [t.trial_id for t in plan_trials(copy)] == [t.trial_id for t in plan_trials(spec)]

    again = run_sweep(spec, progress=False)  # a finished sweep: nothing runs
    assert again.attempts == 0 and again.skipped == 8
    assert len(list((summary.results_dir / "trials").glob("*.parquet"))) == 8


@pytest.mark.ray
def test_snapshots_give_score_versus_time(tmp_path, ray_two_gpus):
    agent = make_agent(
        tmp_path,
        "progressive",
        """
        import os, shutil, time, pandas as pd
        data, out = os.environ["MLERAY_DATA"], os.environ["MLERAY_SUBMISSION_DIR"]
        sample = pd.read_csv(os.path.join(data, "sample_submission.csv"))
        sample.iloc[:, :1].to_csv(os.path.join(out, "submission.csv"), index=False)  # invalid: no target
        time.sleep(1.5)
        sample.to_csv(os.path.join(out, "submission.csv"), index=False)             # valid
        time.sleep(1.5)
    """,
    )
    summary = run_sweep(
        sweep_spec(tmp_path, {"name": str(agent)}, snapshot_interval=0.5), progress=False
    )
    snaps = load_snapshots(summary.results_dir)
    assert len(snaps) >= 2
    assert snaps["elapsed_seconds"].is_monotonic_increasing
    first, last = snaps.iloc[0], snaps.iloc[-1]
    assert not first["valid_submission"] and first["grade_error"]
    assert last["valid_submission"] and last["score"] == pytest.approx(0.5)
    row = load(summary.results_dir).loc[0]
    assert row["valid_submission"]
    # the submission is kept: grading can be rerun alone, with the same result
    from mleray.grading import grade_submission
    from mleray.registry import get_competition

    kept = summary.results_dir / "submissions" / f"{row['trial_id']}-{row['attempt']}.csv"
    assert grade_submission(get_competition(COMPETITION), kept).score == row["score"]


FLAKY = """
    import json, os, pathlib, shutil, signal
    marker = pathlib.Path(json.loads(os.environ["MLERAY_AGENT_KWARGS"])["marker_dir"]) / os.environ["MLERAY_SEED"]
    if not marker.exists():
        marker.write_text("died once")
        os.kill(os.getppid(), signal.SIGKILL)  # the actor's worker process dies: infra fault
    shutil.copy(os.path.join(os.environ["MLERAY_DATA"], "sample_submission.csv"),
                os.path.join(os.environ["MLERAY_SUBMISSION_DIR"], "submission.csv"))
"""


@pytest.mark.ray
def test_lost_actor_is_retried_as_a_new_attempt(tmp_path, ray_two_gpus):
    agent = make_agent(tmp_path, "flaky", FLAKY)
    (tmp_path / "markers").mkdir()
    spec = sweep_spec(
        tmp_path,
        {"name": str(agent), "kwargs": {"marker_dir": str(tmp_path / "markers")}},
        max_attempts=2,
    )
    summary = run_sweep(spec, progress=False)
    assert summary.retries == 1 and summary.attempts == 2
    df = load(summary.results_dir)
    assert len(df) == 1 and df.loc[0, "status"] == "completed" and df.loc[0, "attempt"] == 2
    attempts = load_attempts(summary.results_dir).sort_values("attempt")
    assert attempts["status"].tolist() == ["infra_error", "completed"]
    assert "lost" in attempts.iloc[0]["error"]


@pytest.mark.ray
def test_agent_failures_are_not_retried_and_exhausted_infra_errors_rerun(
    tmp_path, ray_two_gpus, capsys
):
    failing = make_agent(tmp_path, "failing", "raise SystemExit(3)\n")
    summary = run_sweep(
        sweep_spec(tmp_path, {"name": str(failing)}, name="f", max_attempts=3), progress=True
    )
    shown = capsys.readouterr()
    assert (
        "sweep f: 1/1 trials done" in shown.err and "agent_error: 1" in shown.err and not shown.out
    )
    df = load(summary.results_dir)
    assert (
        summary.attempts == 1
        and df.loc[0, "status"] == "agent_error"
        and df.loc[0, "exit_code"] == 3
    )
    assert not df.loc[0, "submission_exists"]

    flaky = make_agent(tmp_path, "flaky", FLAKY)
    (tmp_path / "m").mkdir()
    spec = sweep_spec(
        tmp_path,
        {"name": str(flaky), "kwargs": {"marker_dir": str(tmp_path / "m")}},
        name="g",
        max_attempts=1,
        results=str(tmp_path / "r2"),
    )
    first = run_sweep(spec, progress=False)
    assert load(first.results_dir).loc[0, "status"] == "infra_error"  # recorded, so reports see it
    second = run_sweep(spec, progress=False)  # ...but not final: a rerun tries again
    assert second.attempts == 1 and second.skipped == 0
    df = load(first.results_dir)
    assert len(df) == 1 and df.loc[0, "status"] == "completed" and df.loc[0, "attempt"] == 2


def test_unprepared_competition_fails_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("MLERAY_DATA_DIR", str(tmp_path / "empty-cache"))
    spec = sweep_spec(tmp_path, {"name": "noop"})
    with pytest.raises(NotPreparedError):
        run_sweep(spec, progress=False)
    assert not (tmp_path / "results").exists()


def test_admission_limit_counts_every_resource():
    spec = spec_from_dict(
        {
            "name": "a",
            "competitions": [COMPETITION],
            "agents": ["noop"],
            "sandbox": "local",
            "resources": {"gpus": 0.5, "cpus": 1, "memory": "1g"},
        },
        check=False,
    )
    trial = plan_trials(spec)[0]
    totals = {"CPU": 16.0, "GPU": 2.0, "memory": 64 * 1024**3}
    assert admission_limit(trial, totals, local=True) == 4 + 2  # GPUs bind: 4 halves
    assert admission_limit(trial, {**totals, "CPU": 3.0}, local=True) == 3 + 2
    with pytest.raises(MlerayError, match="--num-gpus"):
        admission_limit(trial, {"CPU": 8.0, "memory": 8 * 1024**3}, local=True)
    assert admission_limit(trial, {"CPU": 8.0}, local=False) == 1 + 2  # may autoscale


def test_attempts_start_a_few_at_a_time_by_the_clusters_cpus():
    from mleray.driver.connect import Admission

    assert Admission({"CPU": 6.0, "GPU": 6.0}).starting_limit == 6
    assert Admission({"CPU": 64.0}).starting_limit == 64
    assert Admission({"CPU": 2.0}).starting_limit == 4  # what one small node keeps queued
    assert Admission(None, limit=4).starting_limit is None  # a plain cap: no stagger


@pytest.mark.ray
def test_the_loop_admits_no_more_than_the_starting_limit_until_actors_begin(tmp_path, ray_two_gpus):
    # a wave of actors started together shares the CPUs, so all of them begin late while
    # holding their GPU shares: the next attempts go in as the first ones begin
    from mleray.driver import SweepLoop
    from mleray.driver.connect import Admission
    from mleray.results import ResultWriter

    ray = ray_two_gpus
    spec = sweep_spec(
        tmp_path,
        {"name": "sleep", "kwargs": {"seconds": 60}},
        seeds=10,
        resources={"gpus": 0, "cpus": 0.5, "memory": "64m"},
    )
    # counted as 3 CPUs (Ray has 8, so every actor is placed): 6 fit, 2 queued beyond,
    # 4 may start at once
    admission = Admission({"CPU": 3.0, "memory": 64 * 1024**3})
    assert admission.starting_limit == 4
    loop = SweepLoop(
        spec, ResultWriter(spec.results_dir), admission, [(t, 1) for t in plan_trials(spec)]
    )
    try:
        loop._admit()
        assert len(loop.running) == len(loop.starting) == 4 and len(loop.queue) == 6
        loop._admit()
        assert len(loop.running) == 4  # nothing has begun: nothing more goes in
        began, _ = ray.wait(list(loop.starting), num_returns=4, timeout=120)
        loop._handle(began)
        assert not loop.starting and all(job.placed for job in loop.running.values())
        loop._admit()
        assert len(loop.running) == 8 and len(loop.starting) == 4
    finally:
        loop.cancel_all()
    assert len(load_attempts(spec.results_dir)) == 8  # every admitted one, cancelled


def test_admission_starts_the_longest_trials_first_then_the_biggest_shares():
    from mleray.driver.loop import admission_order

    agents = [
        {"name": "noop", "resources": {"gpus": share}, "time_limit": limit}
        for limit in (60, 600, 300)
        for share in (0.25, 1)
    ]
    spec = spec_from_dict(
        {"name": "o", "competitions": [COMPETITION], "agents": agents, "sandbox": "local"},
        check=False,
    )
    queue = [(t, 1) for t in plan_trials(spec)]
    ordered = [(t.time_limit, t.gpus) for t, _ in admission_order(queue)]
    assert ordered == [(600, 1), (600, 0.25), (300, 1), (300, 0.25), (60, 1), (60, 0.25)]


def test_preflight_resolves_each_competition_and_agent_once(tmp_path, builtin_data):
    from mleray.driver import preflight

    spec = sweep_spec(tmp_path, {"name": "noop"}, seeds=3)
    checked = preflight(spec, plan_trials(spec))
    assert list(checked.competitions) == [COMPETITION] and list(checked.agents) == ["noop"]
    assert checked.competitions[COMPETITION].leaderboard_path.is_file()
    assert checked.sandbox.name == "local"


def test_the_view_reads_a_status_record_without_ray(capsys):
    from datetime import UTC, datetime, timedelta

    from mleray.driver import RunningAttempt, SweepStatus
    from mleray.driver.progress import SweepProgress
    from mleray.errors import FailureKind

    placed = datetime.now(UTC) - timedelta(hours=2)
    status = SweepStatus(
        sweep="v",
        total=3,
        counts={FailureKind.COMPLETED: 1, FailureKind.AGENT_ERROR: 1},
        running=(
            RunningAttempt("t1", "c · a · seed 0", 2, 0.5, placed),
            RunningAttempt("t2", "c · a · seed 1", 1, 0.5, None),
        ),
        grading=1,
        retries=1,
        gpu_seconds=1800.0,
    )
    assert 1.49 < status.gpu_seconds_at(datetime.now(UTC)) / 3600 < 1.51  # 0.5 + 2 h × 0.5
    view = SweepProgress(status)
    view.close(status)
    shown = capsys.readouterr().err
    for part in ("sweep v: 2/3 trials done, 2 in flight, 1 grading", "GPU-hours 1.500"):
        assert part in " ".join(shown.split())  # the title wraps to the table's width
    assert "agent_error: 1  completed: 1" in shown and "queued" in shown


def test_a_results_folder_takes_one_driver_at_a_time(tmp_path, builtin_data):
    from mleray.results import exclusive

    spec = sweep_spec(tmp_path, {"name": "noop"})
    with exclusive(tmp_path / "results"):
        with pytest.raises(MlerayError, match="in use by another running sweep"):
            run_sweep(spec, progress=False)
    assert not list((tmp_path / "results").glob("trials/*"))


@pytest.mark.ray
def test_cancel_grades_an_attempt_that_had_already_finished(tmp_path, ray_two_gpus):
    # Ctrl-C just as a (possibly day-long) run ends: its result is kept, not thrown away
    # as `cancelled` to be run again
    from mleray.driver import SweepLoop
    from mleray.results import ResultWriter

    ray = ray_two_gpus
    spec = sweep_spec(tmp_path, {"name": "noop"})
    loop = SweepLoop(spec, ResultWriter(spec.results_dir), 2, [(t, 1) for t in plan_trials(spec)])
    loop._admit()
    ray.wait(list(loop.running), num_returns=1, timeout=60)  # finished, not yet handled
    loop.cancel_all()
    df = load(spec.results_dir)
    assert len(df) == 1 and df.loc[0, "status"] == "completed" and df.loc[0, "valid_submission"]
    assert not (spec.results_dir / "attempts").exists()


@pytest.mark.ray
def test_a_lost_attempt_is_charged_from_placement_not_from_queueing(tmp_path, ray_two_gpus):
    import time

    from mleray.actors.trial_actor import TrialActor
    from mleray.driver.loop import _InFlight, _outcome_of

    ray = ray_two_gpus
    # the attempt begins as the actor is constructed: it must still run when it is killed
    agent = {"name": "sleep", "kwargs": {"seconds": 50}}
    trial = plan_trials(sweep_spec(tmp_path, agent))[0]

    def lost(actor, wait_s, placed):
        job = _InFlight(trial, 1, actor, actor.placed_at.remote())
        if placed:  # a busy machine can take seconds to start the actor's worker
            ray.get(job.placed_ref, timeout=120)
        time.sleep(wait_s)
        ref = actor.outcome.remote()
        ray.kill(actor, no_restart=True)
        return _outcome_of(ref, job)

    queued = lost(
        TrialActor.options(num_cpus=0, resources={"no_such_node": 1}).remote(trial, 1),
        2.0,
        False,
    )
    assert (
        queued.status == "infra_error" and queued.wall_seconds < 0.5
    )  # never placed: held nothing
    placed = lost(TrialActor.options(num_cpus=0, num_gpus=0.5).remote(trial, 1), 2.0, True)
    assert placed.status == "infra_error" and 1.5 < placed.wall_seconds < 30


@pytest.mark.ray
def test_a_driver_fault_cancels_what_runs(tmp_path, ray_two_gpus, monkeypatch):
    # the results disk fills up mid-sweep: the driver fails, and nothing it started keeps
    # running (a container would hold its GPU until the time limit)
    import time

    from mleray.results import ResultWriter

    agent = make_agent(
        tmp_path,
        "slow-seed",
        """
        import os, shutil, time
        time.sleep(40 * int(os.environ["MLERAY_SEED"]))
        shutil.copy(os.path.join(os.environ["MLERAY_DATA"], "sample_submission.csv"),
                    os.path.join(os.environ["MLERAY_SUBMISSION_DIR"], "submission.csv"))
    """,
    )
    real_write = ResultWriter.write_trial

    def write_trial(self, row, final=True):
        if final:
            raise OSError(28, "No space left on device")
        return real_write(self, row, final)

    monkeypatch.setattr(ResultWriter, "write_trial", write_trial)
    spec = sweep_spec(tmp_path, {"name": str(agent)}, seeds=2)
    began = time.monotonic()
    with pytest.raises(OSError, match="No space left"):
        run_sweep(spec, progress=False)
    assert time.monotonic() - began < 35  # the 40 s seed was stopped, not waited for
    attempts = load_attempts(spec.results_dir)
    assert attempts["status"].tolist() == ["cancelled"] and attempts.loc[0, "seed"] == 1
