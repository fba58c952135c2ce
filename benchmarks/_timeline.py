"""Where a trial's time goes: one sweep run in process with the scheduling loop instrumented.

    python benchmarks/_timeline.py SPEC RESULTS CONCURRENCY   (prints one JSON object)

The loop's own moments (admitted, run returned, grade seen, row written, actor killed) come
from a recording subclass of `SweepLoop`; when Ray placed each actor from the actor itself
(`placed_at`); when the sandbox began and ended from the result rows (`started_at`,
`finished_at`); and the container's create, start, die and destroy from Docker's event log.
All on one machine, so one clock. Stages, per trial (medians, seconds):

  slot_to_placed     a slot freed (previous actor killed) -> the next actor placed: Ray's
                     lease, a worker process started, the actor constructed
  placed_to_run      actor placed -> its sandbox run began (begun in the constructor:
                     the competition and agent looked up, the gateway token)
  run_to_create      sandbox run began -> container created (engine client, image, limits)
  create_to_start    put the runtime files in, start
  container          start -> the agent exited
  collect            exit -> container removed (artifacts copied out, removal)
  return_to_driver   container removed -> the loop saw the outcome (archive, transfer, tick)
  grading            the loop saw the outcome -> it saw the grades
  record             grades seen -> the Parquet row written
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

STAGES = (
    "slot_to_placed",
    "placed_to_run",
    "run_to_create",
    "create_to_start",
    "container",
    "collect",
    "return_to_driver",
    "grading",
    "record",
)


def profiled_sweep(spec: Path, results: Path, concurrency: int) -> dict:
    """Run this file in a fresh interpreter (a fresh Ray) and return its breakdown."""
    done = subprocess.run(
        [sys.executable, __file__, str(spec), str(results), str(concurrency)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"profiled sweep failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _recording_loop(marks: dict):
    import ray

    from mleray.driver.loop import SweepLoop

    class RecordingLoop(SweepLoop):
        def _admit(self) -> None:
            before = set(self.running)
            super()._admit()
            now = time.time()
            for ref in set(self.running) - before:
                job = self.running[ref]
                marks[job.trial.trial_id] = {"admitted": now}

        def _on_run_done(self, ref, cancelling: bool = False) -> None:
            job = self.running[ref]
            mark = marks[job.trial.trial_id]
            mark["run_returned"] = time.time()
            try:
                mark["placed"] = ray.get(job.placed_ref, timeout=10).timestamp()
            except Exception:  # noqa: BLE001 - a lost actor has no placement to read
                pass
            super()._on_run_done(ref, cancelling)
            mark["killed"] = time.time()

        def _on_graded(self, ref) -> None:
            trial = self._graded_trial(ref)
            marks[trial.trial_id]["graded"] = time.time()
            super()._on_graded(ref)
            marks[trial.trial_id]["written"] = time.time()

        def _graded_trial(self, ref):
            return self.grading[ref][0]

    return RecordingLoop


def docker_events(since: float, until: float) -> dict[str, dict[str, float]]:
    """trial_id -> {create, start, die, destroy: epoch seconds} from the engine's log."""
    import docker

    client = docker.from_env()
    events = client.events(
        since=int(since) - 1,
        until=int(until) + 2,
        filters={"type": "container", "label": "mleray.managed=1"},
        decode=True,
    )
    times: dict[str, dict[str, float]] = {}
    for event in events:
        trial = (event.get("Actor", {}).get("Attributes") or {}).get("mleray.trial_id")
        status = event.get("status") or event.get("Action")
        if trial and status in ("create", "start", "die", "destroy"):
            times.setdefault(trial, {}).setdefault(status, event["timeNano"] / 1e9)
    return times


def breakdown(
    marks: dict, start: float, rows, events: dict, concurrency: int, total: float
) -> dict:
    stages: dict[str, list[float]] = {name: [] for name in STAGES}
    kills = sorted(m["killed"] for m in marks.values() if "killed" in m)
    placed = sorted(m["placed"] for m in marks.values() if "placed" in m)
    # the k-th placement past the first `concurrency` took the slot the (k-C)-th kill freed
    stages["slot_to_placed"] = [p - k for p, k in zip(placed[concurrency:], kills)]
    for row in rows.itertuples():
        mark, event = marks.get(row.trial_id, {}), events.get(row.trial_id, {})
        moments = {
            "placed": mark.get("placed"),
            "run": _epoch(row.started_at),
            "create": event.get("create"),
            "start": event.get("start"),
            "die": event.get("die"),
            "destroy": event.get("destroy"),
            "returned": mark.get("run_returned"),
            "graded": mark.get("graded"),
            "written": mark.get("written"),
        }
        pairs = [
            ("placed_to_run", "placed", "run"),
            ("run_to_create", "run", "create"),
            ("create_to_start", "create", "start"),
            ("container", "start", "die"),
            ("collect", "die", "destroy"),
            ("return_to_driver", "destroy", "returned"),
            ("grading", "returned", "graded"),
            ("record", "graded", "written"),
        ]
        for stage, a, b in pairs:
            if moments[a] is not None and moments[b] is not None:
                stages[stage].append(moments[b] - moments[a])
    first = min(m["admitted"] for m in marks.values())
    last = max(m.get("written", first) for m in marks.values())
    held = [m["killed"] - m["placed"] for m in marks.values() if "killed" in m and "placed" in m]
    loop_seconds = last - first
    return {
        "trials": len(rows),
        "wall_seconds": round(total, 3),
        "before_first_admission_seconds": round(first - start, 3),
        "loop_seconds": round(loop_seconds, 3),
        "stage_median_seconds": {
            name: round(statistics.median(values), 4) if values else None
            for name, values in stages.items()
        },
        "slot_held_median_seconds": round(statistics.median(held), 4) if held else None,
        # share of the slot-seconds of the loop that no placed actor held
        "slot_idle_share": round(1 - sum(held) / (concurrency * loop_seconds), 4)
        if loop_seconds > 0
        else None,
    }


def _epoch(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return value.to_pydatetime().timestamp()


def main() -> None:
    spec_path, results, concurrency = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    import mleray.driver.run as driver_run
    from mleray.results import load
    from mleray.spec import load_spec

    start = time.time()
    marks: dict = {}
    driver_run.SweepLoop = _recording_loop(marks)
    driver_run.run_sweep(
        load_spec(spec_path), results_dir=results, num_cpus=concurrency, progress=False
    )
    ended = time.time()
    rows = load(results)
    events = docker_events(start, ended)
    figures = breakdown(marks, start, rows, events, concurrency, ended - start)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
