"""Removing a results folder's containers on every node (Ray kills an actor's processes
when it dies, but a Docker container is not one of them). Containers are labelled with
the trial's `results_key` (see `mleray.plan`), which the sandbox calls its sweep label."""

from __future__ import annotations

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


@ray.remote(num_cpus=0, max_retries=0)
def _reap_here(sandbox: str, sweep: str) -> int:
    from mleray.sandbox import get_sandbox

    return get_sandbox(sandbox).reap(sweep)


def reap_everywhere(sandbox: str, sweep: str, timeout: float = 60.0) -> int:
    """Run the sandbox's reaper for `sweep` on every alive node; returns how many it removed
    (nodes that do not answer in `timeout` seconds are skipped)."""
    refs = [
        _reap_here.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
        ).remote(sandbox, sweep)
        for node in ray.nodes()
        if node.get("Alive")
    ]
    done, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout)
    removed = 0
    for ref in done:
        try:
            removed += ray.get(ref)
        except ray.exceptions.RayError:
            continue
    return removed
