"""The floor that one Ray actor per attempt sets: bare `docker run`s, each from a fresh
actor of its own, as mleray runs each attempt (one CPU each, killed once its run returns,
the next queued with a margin as mleray's admission does). Nothing else of mleray's.

    python benchmarks/_ray_floor.py < job.json    (job: {"concurrency": C, "commands": [...]})

Run in a fresh interpreter (a fresh Ray, as `mleray sweep` starts one); the caller times
it whole, Ray's start included, as mleray's is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from mleray.driver.connect import ADMISSION_MARGIN  # queued beyond what fits, as mleray does


def main() -> None:
    job = json.load(sys.stdin)
    concurrency, commands = int(job["concurrency"]), list(job["commands"])
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray

    ray.init(address="local", num_cpus=concurrency, include_dashboard=False, log_to_driver=False)

    @ray.remote(num_cpus=1, max_restarts=0)
    class BareTrial:
        def run(self, command: list[str]) -> int:
            return subprocess.run(command, capture_output=True).returncode

    running: dict = {}
    failed = 0
    while commands or running:
        while commands and len(running) < concurrency + ADMISSION_MARGIN:
            actor = BareTrial.remote()
            running[actor.run.remote(commands.pop())] = actor
        (ready,), _ = ray.wait(list(running), num_returns=1)
        failed += ray.get(ready) != 0
        ray.kill(running.pop(ready), no_restart=True)
    ray.shutdown()
    if failed:
        raise SystemExit(f"{failed} bare run(s) failed")


if __name__ == "__main__":
    main()
