"""The floor that one Ray actor per attempt sets: bare `docker run`s, each from a fresh
actor of its own, as mleray runs each attempt (one CPU each, killed once its run returns,
the next queued with a margin as mleray's admission does). Nothing else of mleray's.

    python benchmarks/_ray_floor.py < job.json    (job: {"concurrency": C, "commands": [...]})

Run in a fresh interpreter (a fresh Ray, as `mleray sweep` starts one); prints one JSON
object: the seconds Ray took to start and the seconds of the loop.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

MARGIN = 2  # attempts queued in Ray beyond what fits, as mleray's ADMISSION_MARGIN


def main() -> None:
    job = json.load(sys.stdin)
    concurrency, commands = int(job["concurrency"]), list(job["commands"])
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray

    started = time.perf_counter()
    ray.init(address="local", num_cpus=concurrency, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - started

    @ray.remote(num_cpus=1, max_restarts=0)
    class BareTrial:
        def run(self, command: list[str]) -> int:
            return subprocess.run(command, capture_output=True).returncode

    started = time.perf_counter()
    running: dict = {}
    failed = 0
    while commands or running:
        while commands and len(running) < concurrency + MARGIN:
            actor = BareTrial.remote()
            running[actor.run.remote(commands.pop())] = actor
        (ready,), _ = ray.wait(list(running), num_returns=1)
        failed += ray.get(ready) != 0
        ray.kill(running.pop(ready), no_restart=True)
    loop = time.perf_counter() - started
    ray.shutdown()
    if failed:
        raise SystemExit(f"{failed} bare run(s) failed")
    print(json.dumps({"ray_start_seconds": round(ray_start, 3), "loop_seconds": round(loop, 3)}))


if __name__ == "__main__":
    main()
