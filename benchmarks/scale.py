"""Scale: a 100,000-trial sweep planned, admitted and recorded with the container work
simulated (no Docker, no Ray cluster), and `mleray report` on 1,000,000 result rows.

    python benchmarks/scale.py [--trials 100000] [--quick] [--rounds 3] [--full-store]

Targets: driver peak memory < 1 GiB at 100,000 trials, `mleray report` < 2 s on 1,000,000
rows, and no cost per trial that grows worse than linearly (the per-trial cost at the
largest size over that at the smallest: 1.0 is linear, above 1.5 counts as worse).

  plan     `spec_from_dict` and `plan_trials` at the largest size, and `pending_trials`
           against a done set holding every other trial (a half-finished sweep resumed).
  driver   `run_sweep` itself at N/10, 3N/10 and N trials, each in a fresh interpreter
           (its peak RSS, ru_maxrss, is that size's alone): planning, the results lock,
           the spec, ledger and reap steps, then the real `SweepLoop` with its real
           `Admission` (a cluster of 16 GPUs, 128 CPUs; trials of half a GPU: 34 in
           flight) and its real `ResultWriter`. What Ray and Docker would do is simulated
           in process: `TrialActor`, `Grader`, `ray.wait/get/kill/cluster_resources` are
           patched on the names the driver looks up, every reference is ready at once,
           an attempt returns a completed outcome carrying a submission and an artifacts
           archive, and 1 trial in 100 loses its first attempt to an infra_error (so
           retries and `record_unfinished` are in the path). `preflight` and `connect`
           (Docker, data, `ray.init`) are skipped. The store builds every row and Arrow
           table; only the final file write (`writer.write_atomic`) is left out, because
           one fsynced file costs milliseconds on this disk and 100,000 trials × 3 files
           would take half an hour; `store` measures it. `--full-store` writes every file
           for real instead (then the largest size takes that long).
  store    the real `ResultWriter.record_final` of a final trial (submission, artifacts
           and trial row, each written to a dot-file, fsynced, renamed, the folder
           fsynced) into a temporary folder on this disk: into a fresh folder and into one
           already holding N trials' files (hard links), interleaved in rounds.
  resume   `scan_final_trials`, which a rerun calls to learn which trials are done: once
           before taking the lock (it reads every file of trials/) and once after (it
           lists the folder and reads only files new since). Both timed at N/200 and N/50
           files (hard links to real trial files), and scaled to N.
  report   `build_report` in process and `python -m mleray report RESULTS --out DIR` as a
           user runs it (imports, tables, report.md/json and plots), interleaved in rounds,
           on the synthetic 1,000,500-row table of benchmarks/bench_report.py; then once,
           where the CLI's time goes: its imports, `build_report`, `write_plots`, `to_json`
           and `to_markdown`, each timed alone.

Not in these figures: Ray's own driver-side cost per actor and reference, and the container
work (benchmarks/overhead.py measures both). The bookkeeping cost per trial of a real sweep
on this disk is the driver's per trial plus the store's. Figures are medians over rounds
(or over chunks of one run, for the driver sizes); progress goes to stderr and the figures
to the last line of stdout as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, emit, machine, median, note, timed  # noqa: E402

COMPETITIONS = (  # built-in, so the spec's own checks find them; never prepared or graded
    "breast-cancer-auc",
    "diabetes-rmse",
    "digits-accuracy",
    "friedman-price-rmsle",
    "spaceship-titanic",
)
AGENTS = ("noop", "sleep")
MODELS = tuple(f"model-{i}" for i in range(10))
TRIALS_PER_SEED = len(COMPETITIONS) * len(AGENTS) * len(MODELS)  # 100
RESOURCES = {"gpus": 0.5, "cpus": 4, "memory": "16g"}
CLUSTER = {"CPU": 128.0, "GPU": 16.0, "memory": 2.0 * 1024**4, "mleray_answers": 1.0}
INFRA_ERROR_EVERY = 100  # one trial in this many loses its first attempt
CHUNKS = 20  # a driver run is timed in this many chunks of final rows
LINEAR_RATIO_MAX = 1.5  # per-trial cost, largest size / smallest: above this grows worse
REPORT_ROWS = dict(competitions=75, agents=4, models=5, seeds=667)  # 1,000,500 rows
DRIVER_TARGET_MIB = 1024.0
REPORT_TARGET_S = 2.0
MEMORY_RESOLUTION_MIB = 4  # RSS differences below this are allocator noise
LINKS_PER_FILE = 50_000  # ext4 allows 65,000 hard links to one file
FILE_SUFFIXES = {"trials": ".parquet", "submissions": ".csv", "artifacts": ".tar.gz"}


def sweep_dict(trials: int) -> dict:
    """The spec of a sweep of `trials` trials (a multiple of 100): 5 competitions × 2 agents
    × 10 models × trials/100 seeds."""
    if trials % TRIALS_PER_SEED:
        raise SystemExit(f"--trials must be a multiple of {TRIALS_PER_SEED}, got {trials}")
    return {
        "name": "scale",
        "competitions": list(COMPETITIONS),
        "agents": [{"name": agent, "models": list(MODELS)} for agent in AGENTS],
        "seeds": trials // TRIALS_PER_SEED,
        "resources": RESOURCES,
        "time_limit": 3600,
        "sandbox": "docker",
    }


def sizes_for(trials: int) -> list[int]:
    """N/10, 3N/10 and N, each a multiple of 100."""
    steps = [trials // 10, 3 * trials // 10, trials]
    return sorted({max(TRIALS_PER_SEED, s // TRIALS_PER_SEED * TRIALS_PER_SEED) for s in steps})


# ---- what an attempt returns and how it grades (the simulated container work) -----------

STARTED = datetime(2026, 1, 1, tzinfo=UTC)
SUBMISSION = b"id,target\n" + b"".join(b"%d,0.5\n" % i for i in range(200))  # ~2 KB


def artifacts_archive() -> bytes:
    """A small tar.gz of logs/, the shape of what an attempt carries back."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        log = b"agent started\n" * 100
        info = tarfile.TarInfo("logs/agent.log")
        info.size = len(log)
        tar.addfile(info, io.BytesIO(log))
    return buffer.getvalue()


def completed_outcome(trial, attempt: int, artifacts: bytes):
    from mleray.actors.outcome import Placement, TrialOutcome

    return TrialOutcome(
        trial_id=trial.trial_id,
        attempt=attempt,
        status="completed",
        error=None,
        started_at=STARTED,
        finished_at=STARTED + timedelta(seconds=600),
        wall_seconds=600.0,
        exit_code=0,
        cpu_seconds=550.0,
        peak_memory_bytes=2 * 1024**3,
        submission=SUBMISSION,
        artifacts=artifacts,
        placement=Placement(node_id="node-0", node_ip="10.0.0.2", gpu_ids=("0",)),
        sandbox="docker",
        image_id="sha256:" + "0" * 64,
    )


def grades_for(competition_id: str):
    from mleray.grading.report import AttemptGrades, GradeReport

    report = GradeReport(
        competition_id=competition_id,
        score=0.91,
        gold_threshold=0.95,
        silver_threshold=0.93,
        bronze_threshold=0.9,
        median_threshold=0.8,
        any_medal=True,
        gold_medal=False,
        silver_medal=False,
        bronze_medal=True,
        above_median=True,
        submission_exists=True,
        valid_submission=True,
        is_lower_better=False,
        error=None,
        graded_at=STARTED + timedelta(seconds=610),
    )
    return AttemptGrades(final=report)


# ---- Ray, simulated in process ------------------------------------------------------------


class ReadyRef:
    """An ObjectRef whose value is there at once (hashable by identity, as refs are)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class RemoteMethod:
    """`actor.method.remote(...)`: runs the method now, returns a ready reference."""

    def __init__(self, method):
        self.method = method

    def remote(self, *args, **kwargs) -> ReadyRef:
        return ReadyRef(self.method(*args, **kwargs))


class SimulatedTrialActor:
    """A TrialActor whose sandbox run ends at once: completed, except the first attempt of
    one trial in INFRA_ERROR_EVERY, lost to an infra_error."""

    def __init__(self, home: SimulatedTrialActors, trial, attempt: int):
        self.home = home
        self.placed_at = RemoteMethod(lambda: STARTED)
        result = self._run(trial, attempt)  # begun as constructed, as the real one is
        self.outcome = RemoteMethod(lambda: result)
        self.cancel = RemoteMethod(lambda: None)

    def _run(self, trial, attempt: int):
        from mleray.actors.outcome import TrialOutcome

        if attempt == 1 and int(trial.trial_id, 16) % INFRA_ERROR_EVERY == 0:
            self.home.infra_errors += 1
            return TrialOutcome.infra_error(trial.trial_id, attempt, STARTED, "node lost")
        return completed_outcome(trial, attempt, self.home.artifacts)


class SimulatedTrialActors:
    """`TrialActor`, as the loop uses it: `.options(**actor_options(trial)).remote(trial,
    attempt)`."""

    def __init__(self):
        self.artifacts = artifacts_archive()
        self.created = self.infra_errors = 0

    def options(self, **options) -> SimulatedTrialActors:
        return self

    def remote(self, trial, attempt: int) -> SimulatedTrialActor:
        self.created += 1
        return SimulatedTrialActor(self, trial, attempt)


class SimulatedGrader:
    def __init__(self):
        grades = {cid: grades_for(cid) for cid in COMPETITIONS}
        self.warm = RemoteMethod(lambda keys: None)
        self.grade = RemoteMethod(lambda trial, submission, snapshots: grades[trial.competition_id])


class SimulatedGraders:
    """`Grader`, as the loop uses it: `.remote()` starts the sweep's grading actor."""

    def remote(self) -> SimulatedGrader:
        return SimulatedGrader()


class SimulatedSandbox:
    """What preflight would hand the driver; here only its `reap` is called."""

    def reap(self, results_key: str) -> int:
        return 0


def ray_wait(refs, num_returns: int = 1, timeout=None, **_):
    return refs[:num_returns], refs[num_returns:]


def ray_get(ref, **_):
    return [r.value for r in ref] if isinstance(ref, list) else ref.value


def simulated_preflight(spec, trials, check_data: bool = True):
    """What `preflight` resolves (the agents' configs, the sandbox) without its checks of
    Docker, images and data."""
    from mleray.agents import get_agent
    from mleray.driver.preflight import Preflight

    agents = {name: get_agent(name) for name in sorted({t.agent for t in trials})}
    return Preflight(sandbox=SimulatedSandbox(), agents=agents)


# ---- driver: run_sweep at one size, in this (fresh) interpreter ---------------------------


def current_rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1024**2


def drive_sweep(trials: int, results: Path, write_files: bool) -> dict:
    """`run_sweep` of a `trials`-trial sweep into `results`, Ray and Docker simulated.
    Returns its figures; raises if any trial is missing, doubled or mis-recorded."""
    import ray  # the real module: only the functions the driver calls are replaced

    import mleray.driver.run as driver_run
    from mleray.errors import FailureKind
    from mleray.spec import spec_from_dict

    spec = spec_from_dict(sweep_dict(trials))
    actors, written, timings = SimulatedTrialActors(), Counter(), {}
    chunk = max(1, trials // CHUNKS)

    def timed_as(name, function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            result = function(*args, **kwargs)
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - start
            return result

        return wrapper

    def discarded_write(path: Path, data) -> None:  # the file the store would write
        written[path.parent.name if path.parent != results else path.name] += 1

    class TimedLoop(driver_run.SweepLoop):
        """The real loop, noting the moment of every `chunk`-th final row and the most
        attempts it had in flight."""

        def run(self, progress: bool) -> None:
            timings["marks"], timings["in_flight"] = [time.perf_counter()], 0
            super().run(progress)
            timings["loop_end"] = time.perf_counter()

        def _admit(self) -> None:
            super()._admit()
            timings["in_flight"] = max(timings["in_flight"], len(self.running))

        def _on_graded(self, ref) -> None:
            super()._on_graded(ref)
            if sum(self.counts.values()) % chunk == 0:
                timings["marks"].append(time.perf_counter())

    patches = [
        mock.patch("mleray.actors.trial_actor.TrialActor", actors),
        mock.patch("mleray.actors.grading_task.Grader", SimulatedGraders()),
        mock.patch.object(ray, "wait", ray_wait),
        mock.patch.object(ray, "get", ray_get),
        mock.patch.object(ray, "kill", lambda actor, no_restart=True: None),
        mock.patch.object(ray, "cluster_resources", lambda: dict(CLUSTER)),
        mock.patch.object(driver_run, "connect", lambda *args: False),  # no ray.init
        mock.patch.object(driver_run, "preflight", simulated_preflight),
        mock.patch.object(driver_run, "SweepLoop", TimedLoop),
        mock.patch.object(driver_run, "plan_trials", timed_as("plan", driver_run.plan_trials)),
        mock.patch.object(
            driver_run, "pending_trials", timed_as("pending", driver_run.pending_trials)
        ),
    ]
    if not write_files:
        patches.append(mock.patch("mleray.results.writer.write_atomic", discarded_write))
    baseline = current_rss_mib()
    with contextlib.ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        start = time.perf_counter()
        summary = driver_run.run_sweep(spec, results_dir=results, progress=False)
        wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    if write_files:
        for folder in ("trials", "attempts", "submissions", "artifacts"):
            written[folder] = sum(1 for _ in os.scandir(results / folder))
    expected = {
        "counts": {FailureKind.COMPLETED: trials},
        "attempts": trials + actors.infra_errors,
        "retries": actors.infra_errors,
        "trials": trials,
        "attempts_folder": actors.infra_errors,
        "submissions": trials,
    }
    seen = {
        "counts": dict(summary.counts),
        "attempts": summary.attempts,
        "retries": summary.retries,
        "trials": written["trials"],
        "attempts_folder": written["attempts"],
        "submissions": written["submissions"],
    }
    if seen != expected or len(summary.trial_ids) != trials:
        raise RuntimeError(f"sweep of {trials} trials recorded wrongly: {seen} != {expected}")

    marks = timings["marks"]
    per_chunk_ms = [(b - a) / chunk * 1000 for a, b in zip(marks, marks[1:])]
    loop_seconds = timings["loop_end"] - marks[0]
    return {
        "trials": trials,
        "attempts": summary.attempts,
        "retries": summary.retries,
        "most_in_flight": timings["in_flight"],
        "files_written": sum(written.values()) if write_files else 0,
        "files_not_written": 0 if write_files else sum(written.values()),
        "run_sweep_seconds": round(wall, 3),
        "plan_seconds": round(timings["plan"], 4),
        "pending_seconds": round(timings["pending"], 4),
        "loop_seconds": round(loop_seconds, 3),
        "loop_ms_per_trial": round(loop_seconds / trials * 1000, 4),
        "loop_ms_per_trial_chunk_median": median(per_chunk_ms),
        "loop_ms_per_trial_first_chunk": round(per_chunk_ms[0], 4),
        "loop_ms_per_trial_last_chunk": round(per_chunk_ms[-1], 4),
        "baseline_rss_mib": round(baseline, 1),
        "peak_rss_mib": round(peak, 1),
        "sweep_kib_per_trial": round((peak - baseline) * 1024 / trials, 3),
    }


def measure_driver(sizes: list[int], write_files: bool, scratch: Path) -> dict:
    """Each size in its own interpreter, so neither memory nor warm caches carry over."""
    runs = {}
    for size in sizes:
        results = scratch / f"driver-{size}"
        command = [sys.executable, __file__, "--child-trials", str(size)]
        command += ["--child-results", str(results)]
        if write_files:
            command.append("--full-store")
        note(f"driver: run_sweep of {size:,} trials (fresh interpreter)")
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        if done.returncode != 0:
            raise RuntimeError(f"driver run of {size} trials failed: {done.stderr[-3000:]}")
        runs[size] = json.loads(done.stdout.strip().splitlines()[-1])
        shutil.rmtree(results, ignore_errors=True)
        figures = runs[size]
        note(
            f"driver: {size:,} trials: loop {figures['loop_seconds']:.1f} s "
            f"({figures['loop_ms_per_trial_chunk_median']:.3f} ms/trial), plan "
            f"{figures['plan_seconds']:.2f} s, peak RSS {figures['peak_rss_mib']:.0f} MiB"
        )
    small, large = runs[sizes[0]], runs[sizes[-1]]
    return {
        "by_size": {str(size): figures for size, figures in runs.items()},
        "growth": {  # per-trial cost at the largest size / at the smallest
            "loop_ms_per_trial": _ratio(
                large["loop_ms_per_trial_chunk_median"], small["loop_ms_per_trial_chunk_median"]
            ),
            "plan_per_trial": _ratio(
                large["plan_seconds"] / large["trials"], small["plan_seconds"] / small["trials"]
            ),
            # memory by the marginal trial (the interpreter's own share is in every size):
            # MiB per trial between the two largest sizes / between the two smallest
            "memory_per_trial": _ratio(
                _marginal(runs[sizes[-2]], large, "peak_rss_mib"),
                _marginal(small, runs[sizes[1]], "peak_rss_mib"),
            )
            if len(sizes) > 2
            and runs[sizes[1]]["peak_rss_mib"] - small["peak_rss_mib"] >= MEMORY_RESOLUTION_MIB
            else None,  # too few trials for RSS to tell
        },
    }


def _marginal(smaller: dict, larger: dict, key: str) -> float:
    return (larger[key] - smaller[key]) / (larger["trials"] - smaller["trials"])


# ---- plan ---------------------------------------------------------------------------------


def measure_plan(trials: int, rounds: int, scratch: Path) -> dict:
    from mleray.plan import pending_trials, plan_trials
    from mleray.spec import spec_from_dict

    spec_s, plan_s, pending_s = [], [], []
    for index in range(rounds):
        start = time.perf_counter()
        spec = spec_from_dict(sweep_dict(trials))  # with its registry and agent checks
        spec_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        planned = plan_trials(spec, scratch / "plan")
        plan_s.append(time.perf_counter() - start)
        done = {t.trial_id for t in planned[::2]}  # half the sweep already final
        start = time.perf_counter()
        todo = pending_trials(planned, done)
        pending_s.append(time.perf_counter() - start)
        if len(planned) != trials or len(todo) != trials - len(done):
            raise RuntimeError(f"planned {len(planned)}, pending {len(todo)} of {trials}")
        note(f"plan round {index}: {trials:,} trials planned in {plan_s[-1]:.2f} s")
        del planned, todo, done
    return {
        "trials": trials,
        "spec_seconds": median(spec_s),
        "plan_seconds": median(plan_s),
        "plan_us_per_trial": median(s / trials * 1e6 for s in plan_s),
        "pending_seconds": median(pending_s),
        "pending_done_set": trials // 2,
    }


# ---- store: one final trial's files, on this disk -----------------------------------------


def fill_folder(root: Path, trials: int, folders: tuple[str, ...]) -> None:
    """A results folder as `trials` final trials leave it: one file per trial in each of
    `folders` (trials, submissions, artifacts), hard links to real files of a few trials
    recorded here: the folder sizes are real, the bytes on disk are not."""
    from mleray.plan import plan_trials
    from mleray.results import ResultWriter

    writer = ResultWriter(root)
    sources = plan_trials(_spec_of(TRIALS_PER_SEED), root)[: -(-trials // LINKS_PER_FILE)]
    for trial in sources:
        outcome = completed_outcome(trial, 1, artifacts_archive())
        writer.record_final(trial, outcome, grades_for(trial.competition_id))
    for folder in folders:
        suffix = FILE_SUFFIXES[folder]
        for index in range(trials - len(sources)):
            source = root / folder / f"{sources[index // LINKS_PER_FILE].trial_id}-1{suffix}"
            os.link(source, root / folder / f"{index:016x}-1{suffix}")


def measure_store(trials_per_round: int, rounds: int, folder_size: int, scratch: Path) -> dict:
    """`record_final` into a fresh folder and into one holding `folder_size` trials."""
    from mleray.plan import plan_trials
    from mleray.results import ResultWriter

    fresh_root, full_root = scratch / "store-fresh", scratch / "store-full"
    note(f"store: filling a folder with {folder_size:,} trials' files (hard links)")
    fill_folder(full_root, folder_size, tuple(FILE_SUFFIXES))
    spec = _spec_of(2 * rounds * trials_per_round)
    trials = iter(plan_trials(spec, scratch / "store"))
    artifacts = artifacts_archive()
    writers = {"fresh": ResultWriter(fresh_root), "full": ResultWriter(full_root)}
    per_round = []
    for index in range(rounds):
        figures = {}
        sides = ["fresh", "full"] if index % 2 == 0 else ["full", "fresh"]
        for side in sides:
            batch = [next(trials) for _ in range(trials_per_round)]
            outcomes = [completed_outcome(t, 1, artifacts) for t in batch]
            grades = [grades_for(t.competition_id) for t in batch]
            start = time.perf_counter()
            for trial, outcome, grade in zip(batch, outcomes, grades):
                writers[side].record_final(trial, outcome, grade)
            figures[side] = (time.perf_counter() - start) / trials_per_round * 1000
        fresh, full = figures["fresh"], figures["full"]
        note(
            f"store round {index}: {fresh:.2f} ms/trial in a fresh folder, {full:.2f} in a full one"
        )
        per_round.append(figures)
    return {
        "trials_per_round": trials_per_round,
        "files_per_trial": 3,  # submission, artifacts, trial row (each fsynced, renamed)
        "folder_size_full": folder_size,
        "ms_per_trial_fresh_folder": median(r["fresh"] for r in per_round),
        "ms_per_trial_full_folder": median(r["full"] for r in per_round),
        "full_over_fresh": median(r["full"] / r["fresh"] for r in per_round),
        "filesystem": _filesystem_of(scratch),
    }


# ---- resume: which trials are final --------------------------------------------------------


def measure_resume(sizes: list[int], rounds: int, at: int, scratch: Path) -> dict:
    from mleray.results import scan_final_trials

    folders = {}
    for size in sizes:
        folders[size] = scratch / f"resume-{size}"
        fill_folder(folders[size], size, ("trials",))
    seconds: dict[int, list[float]] = {size: [] for size in sizes}
    again: dict[int, list[float]] = {size: [] for size in sizes}  # the scan under the lock
    for index in range(rounds):
        for size in sizes if index % 2 == 0 else sizes[::-1]:
            start = time.perf_counter()
            first = scan_final_trials(folders[size])
            seconds[size].append(time.perf_counter() - start)
            start = time.perf_counter()
            scan_final_trials(folders[size], since=first)
            again[size].append(time.perf_counter() - start)
        shown = ", ".join(
            f"{size:,} files {seconds[size][-1]:.2f} s (again {again[size][-1]:.3f} s)"
            for size in sizes
        )
        note(f"resume round {index}: {shown}")
    for folder in folders.values():
        shutil.rmtree(folder, ignore_errors=True)
    per_file = {size: median(s / size * 1000 for s in seconds[size]) for size in sizes}
    again_per_file = {size: median(s / size * 1000 for s in again[size]) for size in sizes}
    return {
        "final_trial_ids_seconds": {str(size): median(seconds[size]) for size in sizes},
        "second_scan_seconds": {str(size): median(again[size]) for size in sizes},
        "ms_per_file": {str(size): per_file[size] for size in sizes},
        "second_scan_ms_per_file": {str(size): again_per_file[size] for size in sizes},
        "growth_per_file": _ratio(per_file[sizes[-1]], per_file[sizes[0]]),
        # run_sweep scans the folder twice before the first trial of a rerun starts
        "rerun_scan_seconds_at_trials_estimate": round(
            (per_file[sizes[-1]] + again_per_file[sizes[-1]]) * at / 1000, 1
        ),
        "trials": at,
    }


# ---- report on a million rows ---------------------------------------------------------------


def measure_report(rows_scale: float, rounds: int, scratch: Path) -> dict:
    from mleray.analysis.report import build_report

    sys.path.insert(0, str(REPO))  # tests.helpers: the synthetic table of bench_report.py
    from tests.helpers.synthetic import synthetic_trials, write_results

    shape = {**REPORT_ROWS, "seeds": max(2, round(REPORT_ROWS["seeds"] * rows_scale))}
    results, out = scratch / "report-results", scratch / "report-out"
    start = time.perf_counter()
    table = synthetic_trials(**shape)
    write_results(results, table, file_per_trial=False)
    rows = table.num_rows
    del table
    note(f"report: {rows:,} rows written in {time.perf_counter() - start:.1f} s")
    command = [sys.executable, "-m", "mleray", "report", str(results), "--out", str(out)]
    in_process, cli = [], []
    for index in range(rounds):
        for side in ("build_report", "cli") if index % 2 == 0 else ("cli", "build_report"):
            start = time.perf_counter()
            if side == "cli":
                done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
                if done.returncode != 0:
                    raise RuntimeError(f"mleray report failed: {done.stderr[-2000:]}")
                cli.append(time.perf_counter() - start)
            else:
                build_report(results)
                in_process.append(time.perf_counter() - start)
        note(f"report round {index}: build_report {in_process[-1]:.2f} s, CLI {cli[-1]:.2f} s")
    return {
        "rows": rows,
        "build_report_seconds": median(in_process),
        "cli_seconds": median(cli),
        "cli_seconds_min": round(min(cli), 3),
        "rounds": rounds,
        "cli_stages_seconds": report_stages(results, out),
    }


def report_stages(results: Path, out: Path) -> dict:
    """Where the CLI's time goes, once: its imports (in a fresh interpreter, less the bare
    interpreter's start), then in process each step of `mleray report --out` in turn."""
    from mleray.analysis.plots import write_plots
    from mleray.analysis.render import to_json, to_markdown
    from mleray.analysis.report import build_report

    def python(code: str) -> float:
        return timed(lambda: subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO))[0]

    imports = "import mleray.cli, mleray.analysis.report, mleray.analysis.render"
    build_s, report = timed(lambda: build_report(results))
    plots_s, plots = timed(lambda: write_plots(report, out))
    stages = {
        "imports": python(imports) - python("pass"),
        "build_report": build_s,
        "write_plots": plots_s,
        "to_json": timed(lambda: to_json(report))[0],
        "to_markdown": timed(lambda: to_markdown(report, plots))[0],
    }
    stages = {name: round(seconds, 3) for name, seconds in stages.items()}
    note(f"report stages (s): {stages}")
    return stages


# ---- helpers, main ---------------------------------------------------------------------------


def _spec_of(trials: int):
    """A spec of at least `trials` trials (rounded up to a multiple of 100)."""
    from mleray.spec import spec_from_dict

    return spec_from_dict(sweep_dict(-(-trials // TRIALS_PER_SEED) * TRIALS_PER_SEED))


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return round(top / bottom, 3) if top is not None and bottom else None


def _filesystem_of(path: Path) -> str | None:
    """The filesystem type holding `path`, from /proc/mounts (longest mount point)."""
    try:
        mounts = [line.split()[1:3] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return None
    resolved = str(path.resolve())
    best = max(
        (m for m in mounts if resolved == m[0] or resolved.startswith(m[0].rstrip("/") + "/")),
        key=lambda m: len(m[0]),
        default=None,
    )
    return best[1] if best else None


def _at_most(value: float | None, bound: float) -> bool | None:
    return None if value is None else value <= bound


def targets_met(figures: dict) -> dict:
    driver, largest = figures["driver"], str(max(int(s) for s in figures["driver"]["by_size"]))
    growth = {
        **{f"driver_{k}": v for k, v in driver["growth"].items()},
        "store_full_over_fresh": figures["store"]["full_over_fresh"],
        "resume_per_file": figures["resume"]["growth_per_file"],
    }
    return {
        "driver_under_1_gib": _at_most(
            driver["by_size"][largest]["peak_rss_mib"], DRIVER_TARGET_MIB
        ),
        "report_cli_under_2_s": _at_most(figures["report"]["cli_seconds"], REPORT_TARGET_S),
        "build_report_under_2_s": _at_most(
            figures["report"]["build_report_seconds"], REPORT_TARGET_S
        ),
        "no_worse_than_linear": all(
            _at_most(value, LINEAR_RATIO_MAX) is not False for value in growth.values()
        ),
        "growth_ratios": growth,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100_000, help="the largest sweep")
    parser.add_argument("--quick", action="store_true", help="small sizes, for development")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows-scale", type=float, default=None, help="report rows / 1,000,500")
    parser.add_argument(
        "--full-store", action="store_true", help="the driver runs write every file for real"
    )
    parser.add_argument("--child-trials", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-results", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_trials:  # one driver size, in the interpreter measure_driver started
        print(json.dumps(drive_sweep(args.child_trials, args.child_results, args.full_store)))
        return 0

    trials = 3_000 if args.quick and args.trials == 100_000 else args.trials
    rows_scale = args.rows_scale if args.rows_scale is not None else (0.1 if args.quick else 1.0)
    store_trials = 40 if args.quick else 200
    before = machine()
    scratch = Path(tempfile.mkdtemp(prefix="mleray-scale-"))
    try:
        figures = {
            "plan": measure_plan(trials, args.rounds, scratch),
            "driver": measure_driver(sizes_for(trials), args.full_store, scratch),
            "store": measure_store(store_trials, args.rounds, trials, scratch),
            "resume": measure_resume(
                [max(100, trials // 200), max(400, trials // 50)], args.rounds, trials, scratch
            ),
            "report": measure_report(rows_scale, args.rounds, scratch),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    driver = figures["driver"]["by_size"][str(sizes_for(trials)[-1])]
    figures["bookkeeping_ms_per_trial"] = {  # what one trial costs the driver on this disk
        "driver": driver["loop_ms_per_trial_chunk_median"],
        "store": figures["store"]["ms_per_trial_full_folder"],
        "total": round(
            driver["loop_ms_per_trial_chunk_median"]
            + (0 if args.full_store else figures["store"]["ms_per_trial_full_folder"]),
            4,
        ),
    }
    emit(
        {
            "benchmark": "scale",
            "trials": trials,
            "rounds": args.rounds,
            "full_store": args.full_store,
            "machine": before,
            **figures,
            "targets": {
                "driver_peak_mib_max": DRIVER_TARGET_MIB,
                "report_seconds_max": REPORT_TARGET_S,
                "growth_ratio_max": LINEAR_RATIO_MAX,
            },
            "targets_met": targets_met(figures),
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
