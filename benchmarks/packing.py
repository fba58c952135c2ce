"""GPU packing: mixed-share `sleep` trials on a local multi-node cluster, against a
one-trial-per-GPU FIFO runner and the floor of one Ray actor per trial, all against the
lower bound of any schedule.

    python benchmarks/packing.py [--rounds 2] [--scale 1.0] [--copies 4]

The cluster: a head holding the answers and 3 workers × 2 declared GPUs (`cluster/local.py`,
Ray's `Cluster` on this machine). The trials: one sweep spec whose agents are the `sleep`
agent at every combination of GPU share (1, 0.5, 0.25: each agent's own `resources`) and
duration (10, 20, 30 s × scale, with a time limit of twice that plus 30 s: each agent's
own `time_limit`), `copies` seeds of each, in the `local` sandbox (a subprocess that
sleeps, so the figures measure scheduling, not Docker).

  mleray                 the trials through `SweepLoop` (admission by resources, Ray
                         placing actors) in its admission order: longest time limit
                         first, then biggest share.
  mleray_share_first     the same, biggest share first (the order before), which here
                         is also plan order.
  mleray_all_at_once     mleray's order, with every attempt that fits started at once (no
                         cap on the actors still starting: `Admission.starting_limit`).
  fifo                   6 GPU workers, each running the next trial of the plan on a
                         whole GPU, whatever its share: a runner without fractional GPUs.
  ray_floor              the floor that one Ray actor per trial sets: for each trial, in
                         mleray's admission order, a fresh actor holding the same resources
                         that runs `sleep` for its duration, all submitted at once (Ray
                         queues them), each killed as it returns. Nothing else of mleray's.

Makespan: from the start of the loop (runner) to the last sandbox exit. The lower bound:
max(Σ share·duration / GPUs, the longest trial). Efficiency: bound / makespan. Figures are
medians over the rounds; the JSON line is last on stdout.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, emit, machine, median, note  # noqa: E402

COMPETITION = "breast-cancer-auc"
SHARES = (1.0, 0.5, 0.25)
DURATIONS = (10.0, 20.0, 30.0)
NODES, GPUS_PER_NODE = 3, 2


def plan(scale: float, copies: int, results: Path):
    """The spec and its trials in plan order (share by share, shortest first); durations
    are the agent's kwargs, and each agent's time limit grows with its duration."""
    from mleray.plan import plan_trials
    from mleray.spec import spec_from_dict

    agents = [
        {
            "name": "sleep",
            "kwargs": {"seconds": d * scale},
            "resources": {"gpus": share},
            "time_limit": 2 * d * scale + 30,
        }
        for share in SHARES
        for d in DURATIONS
    ]
    spec = spec_from_dict(
        {
            "name": "packing",
            "competitions": [COMPETITION],
            "agents": agents,
            "seeds": copies,
            "resources": {"cpus": 0.25, "memory": "256m"},
            "sandbox": "local",
            "results": str(results),
        }
    )
    return spec, plan_trials(spec, results)


def duration_of(trial) -> float:
    return float(trial.kwargs["seconds"])


def lower_bound(trials) -> float:
    work = sum(t.gpus * duration_of(t) for t in trials)
    return max(work / (NODES * GPUS_PER_NODE), max(duration_of(t) for t in trials))


def run_mleray(spec, trials, results: Path, share_first: bool, all_at_once: bool) -> float:
    """The loop's makespan over these trials; `share_first` admits biggest share first,
    `all_at_once` starts every attempt that fits without waiting for others to begin."""
    import ray

    import mleray.driver.loop as loop_module
    from mleray.driver.connect import Admission
    from mleray.results import ResultWriter, load

    class AllAtOnce(Admission):
        starting_limit = None

    writer = ResultWriter(results)
    order = loop_module.admission_order
    if share_first:
        loop_module.admission_order = lambda queue: sorted(queue, key=lambda i: -i[0].gpus)
    try:
        admission = (AllAtOnce if all_at_once else Admission)(ray.cluster_resources())
        loop = loop_module.SweepLoop(spec, writer, admission, [(t, 1) for t in trials])
        start = time.time()
        loop.run(progress=False)
    finally:
        loop_module.admission_order = order
    frame = load(results)
    if (frame["status"] != "completed").any():
        raise RuntimeError(f"not all completed: {frame['status'].value_counts().to_dict()}")
    return max(t.timestamp() for t in frame["finished_at"]) - start


def run_ray_floor(trials) -> float:
    """Fresh actors that only sleep, placed by Ray alone: what the design costs by itself
    (each actor is a new worker process: Python, Ray and its serializers imported)."""
    import ray

    from mleray.driver.loop import admission_order

    @ray.remote(max_restarts=0, max_concurrency=2)
    class SleepingTrial:
        def __init__(self, seconds: float) -> None:  # begins as constructed, as mleray's
            self.ended, self.returncode = threading.Event(), None
            threading.Thread(target=self._sleep, args=(seconds,), daemon=True).start()

        def _sleep(self, seconds: float) -> None:
            try:
                self.returncode = subprocess.run(["sleep", str(seconds)]).returncode
            finally:  # a failed start still ends the wait
                self.end = time.time()
                self.ended.set()

        def outcome(self) -> float:
            self.ended.wait()
            if self.returncode != 0:
                raise RuntimeError(f"ray_floor: sleep ended with {self.returncode}")
            return self.end

    start, running, ends = time.time(), {}, []
    for trial, _ in admission_order([(t, 1) for t in trials]):
        options = {"num_gpus": trial.gpus, "num_cpus": trial.cpus, "memory": trial.memory_bytes}
        actor = SleepingTrial.options(**options).remote(duration_of(trial))
        running[actor.outcome.remote()] = actor
    while running:
        (ready,), _ = ray.wait(list(running), num_returns=1)
        ends.append(ray.get(ready))
        ray.kill(running.pop(ready), no_restart=True)
    return max(ends) - start


def run_fifo(trials, scratch: Path) -> float:
    """One trial per GPU, in plan order, through the same sandbox."""
    from mleray.agents import get_agent
    from mleray.registry import get_competition
    from mleray.sandbox.base import RunRequest
    from mleray.sandbox.local import LocalSandbox

    public = get_competition(COMPETITION).public_dir
    agent = get_agent("sleep")
    queue = list(trials)
    lock, ends = threading.Lock(), []

    def gpu_worker(gpu: int) -> None:
        while True:
            with lock:
                if not queue:
                    return
                trial = queue.pop(0)
            request = RunRequest(
                trial_id=trial.trial_id,
                results_key="packing-fifo",
                competition_id=COMPETITION,
                public_dir=public,
                agent=agent,
                workdir=scratch / f"fifo-{trial.trial_id}",
                seed=trial.seed,
                time_limit=trial.time_limit,
                cpus=trial.cpus,
                memory_bytes=trial.memory_bytes,
                gpu_ids=(str(gpu % GPUS_PER_NODE),),
                kwargs=trial.kwargs,
            )
            result = LocalSandbox().run(request)
            if result.status != "completed":
                raise RuntimeError(f"fifo trial {trial.trial_id}: {result.status} {result.error}")
            with lock:
                ends.append(time.time())

    start = time.time()
    threads = [threading.Thread(target=gpu_worker, args=(g,)) for g in range(NODES * GPUS_PER_NODE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return max(ends) - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the durations")
    parser.add_argument("--copies", type=int, default=4, help="trials per (share, duration)")
    args = parser.parse_args()
    before = machine()
    sys.path.insert(0, str(REPO))
    import ray

    from cluster.local import start_local_cluster
    from mleray.data import ensure_prepared, is_prepared, prepare_competition
    from mleray.registry import get_competition

    competition = get_competition(COMPETITION)
    if not is_prepared(competition):
        prepare_competition(competition)
    ensure_prepared(competition)
    scratch = Path(tempfile.mkdtemp(prefix="mleray-packing-"))
    cluster = start_local_cluster(workers=NODES, gpus=GPUS_PER_NODE, cpus=2)
    ray.init(address=cluster.address, log_to_driver=False)
    rows = []
    try:
        for index in range(args.rounds):
            figures = {}
            for side in ("fifo", "ray_floor", "mleray", "mleray_share_first", "mleray_all_at_once"):
                results = scratch / f"r{index}-{side}"
                spec, trials = plan(args.scale, args.copies, results)
                if side == "fifo":
                    makespan = run_fifo(trials, scratch / f"r{index}-fifo-work")
                elif side == "ray_floor":
                    makespan = run_ray_floor(trials)
                else:
                    makespan = run_mleray(
                        spec,
                        trials,
                        results,
                        share_first=side == "mleray_share_first",
                        all_at_once=side == "mleray_all_at_once",
                    )
                figures[side] = makespan
                note(f"round {index}: {side:18s} makespan {makespan:7.2f} s")
            rows.append(figures)
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(scratch, ignore_errors=True)
    _, trials = plan(args.scale, args.copies, scratch)
    bound = lower_bound(trials)
    result = {
        "benchmark": "packing",
        "machine": before,
        "nodes": NODES,
        "gpus_per_node": GPUS_PER_NODE,
        "trials": len(trials),
        "rounds": args.rounds,
        "lower_bound_seconds": round(bound, 3),
        "makespan_seconds": {side: median(r[side] for r in rows) for side in rows[0]},
        "efficiency": {side: median(bound / r[side] for r in rows) for side in rows[0]},
        "efficiency_vs_fifo": {
            side: median(r["fifo"] / r[side] for r in rows) for side in rows[0] if side != "fifo"
        },
        "efficiency_vs_ray_floor": median(r["ray_floor"] / r["mleray"] for r in rows),
        "efficiency_vs_all_at_once": median(r["mleray_all_at_once"] / r["mleray"] for r in rows),
        "targets": {"efficiency_min": 0.9, "efficiency_vs_fifo_min": 1.3},
    }
    result["targets_met"] = {
        "efficiency": result["efficiency"]["mleray"] >= 0.9,
        "efficiency_vs_fifo": result["efficiency_vs_fifo"]["mleray"] >= 1.3,
    }
    emit(result)


if __name__ == "__main__":
    main()
