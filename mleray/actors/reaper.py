"""Removing a results folder's containers on every node (Ray kills an actor's processes
when it dies, but a Docker container is not one of them). Containers are labelled with
the trial's `results_key` (see `mleray.plan`), which is what the reaper removes by."""

from __future__ import annotations

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


@ray.remote(num_cpus=0, max_retries=0)
def _reap_here(sandbox: str, results_key: str) -> int:
    from mleray.sandbox import get_sandbox

    return get_sandbox(sandbox).reap(results_key)


def reap_everywhere(sandbox: str, results_key: str, timeout: float = 60.0) -> int:
    """Run the `sandbox` backend's reaper for `results_key` on every alive node; returns how
    many it removed (nodes that do not answer in `timeout` seconds are skipped)."""
    refs = [
        _reap_here.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
        ).remote(sandbox, results_key)
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
