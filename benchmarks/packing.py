"""GPU packing: mixed-share `sleep` trials on a local multi-node cluster, against a
one-trial-per-GPU FIFO runner, both against the lower bound of any schedule.

    python benchmarks/packing.py [--rounds 2] [--scale 1.0] [--copies 2]

The cluster: a head holding the answers and 3 workers × 2 declared GPUs (`cluster/local.py`,
Ray's `Cluster` on this machine). The trials: the `sleep` agent in the `local` sandbox (a
subprocess that sleeps, so the figures measure scheduling, not Docker), every combination of
GPU share (1, 0.5, 0.25) and duration (10, 20, 30 s × scale), `copies` of each, in plan
order (interleaved shares).

  mleray    the trials through `SweepLoop` (admission by resources, Ray placing actors),
            once with its admission order (biggest share first) and once in plan order.
  fifo      6 GPU workers, each running the next trial of the plan on a whole GPU,
            whatever its share: what a runner without fractional GPUs does.

Makespan: from the start of the loop (runner) to the last sandbox exit. The lower bound:
max(Σ share·duration / GPUs, the longest trial). Efficiency: bound / makespan. Figures are
medians over the rounds; the JSON line is last on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
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
    """The trials (plan order) with their shares; durations are the agent's kwargs."""
    from mleray.plan import plan_trials
    from mleray.spec import spec_from_dict

    agents = [{"name": "sleep", "kwargs": {"seconds": d * scale}} for d in DURATIONS]
    spec = spec_from_dict(
        {
            "name": "packing",
            "competitions": [COMPETITION],
            "agents": agents,
            "seeds": copies * len(SHARES),
            "resources": {"cpus": 0.25, "memory": "256m"},
            "time_limit": 4 * max(DURATIONS) * scale + 60,
            "sandbox": "local",
            "results": str(results),
        }
    )
    trials = plan_trials(spec, results)
    # shares interleave along the plan: seed s of each duration gets SHARES[s % 3]
    shaped = [dataclasses.replace(t, gpus=SHARES[t.seed % len(SHARES)]) for t in trials]
    return spec, shaped


def duration_of(trial) -> float:
    return float(trial.kwargs["seconds"])


def lower_bound(trials) -> float:
    work = sum(t.gpus * duration_of(t) for t in trials)
    return max(work / (NODES * GPUS_PER_NODE), max(duration_of(t) for t in trials))


def run_mleray(spec, trials, results: Path, planned_order: bool) -> float:
    """The loop's makespan over these trials; `planned_order` admits in plan order."""
    import ray

    import mleray.driver.loop as loop_module
    from mleray.driver.connect import Admission
    from mleray.results import ResultWriter, load

    writer = ResultWriter(results)
    order = loop_module.admission_order
    if planned_order:
        loop_module.admission_order = lambda queue: list(queue)
    try:
        loop = loop_module.SweepLoop(
            spec, writer, Admission(ray.cluster_resources()), [(t, 1) for t in trials]
        )
        start = time.time()
        loop.run(progress=False)
    finally:
        loop_module.admission_order = order
    frame = load(results)
    if (frame["status"] != "completed").any():
        raise RuntimeError(f"not all completed: {frame['status'].value_counts().to_dict()}")
    return max(t.timestamp() for t in frame["finished_at"]) - start


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
    parser.add_argument("--copies", type=int, default=2, help="trials per (share, duration)")
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
            for side in ("fifo", "mleray", "mleray_plan_order"):
                results = scratch / f"r{index}-{side}"
                spec, trials = plan(args.scale, args.copies, results)
                if side == "fifo":
                    makespan = run_fifo(trials, scratch / f"r{index}-fifo-work")
                else:
                    makespan = run_mleray(spec, trials, results, side == "mleray_plan_order")
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
        "targets": {"efficiency_min": 0.9, "efficiency_vs_fifo_min": 1.3},
    }
    result["targets_met"] = {
        "efficiency": result["efficiency"]["mleray"] >= 0.9,
        "efficiency_vs_fifo": result["efficiency_vs_fifo"]["mleray"] >= 1.3,
    }
    emit(result)


if __name__ == "__main__":
    main()
