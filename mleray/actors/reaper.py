"""Removing mleray's containers on every node (Ray kills an actor's processes when it dies,
but a Docker container is not one of them; each run's watchdog removes its container when
the actor's process is gone, and this removes whatever is left). Containers are labelled
with the trial's `results_key` (see `mleray.plan`), which is what the reaper removes by."""

from __future__ import annotations

import logging
import os

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from mleray.errors import MlerayError


@ray.remote(num_cpus=0, max_retries=0)
def _reap_here(sandbox: str, results_key: str | None) -> int:
    from mleray.sandbox import get_sandbox

    return get_sandbox(sandbox).reap(results_key)


def reap_everywhere(sandbox: str, results_key: str | None, timeout: float = 60.0) -> int:
    """Run the `sandbox` backend's reaper for `results_key` (None: every mleray container)
    on every alive node; returns how many it removed (nodes that do not answer in `timeout`
    seconds are skipped)."""
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


def results_folder_owner(results_dir: str | os.PathLike) -> tuple[str, str]:
    """(results key, sandbox) of the sweep that wrote `results_dir`, from its sweep.yaml."""
    from mleray.bounded_yaml import load_yaml_file
    from mleray.plan import results_key
    from mleray.results import SPEC_FILE, existing_results_folder

    root = existing_results_folder(results_dir)
    spec_path = root / SPEC_FILE
    if not spec_path.is_file():
        raise MlerayError(f"{root} has no {SPEC_FILE}: not a results folder mleray wrote")
    spec = load_yaml_file(spec_path, what="results spec")
    name = spec.get("name") if isinstance(spec, dict) else None
    if not isinstance(name, str):
        raise MlerayError(f"{spec_path}: no sweep `name`")
    return results_key(name, root), str(spec.get("sandbox") or "docker")


def reap_containers(
    results_dir: str | os.PathLike | None = None, address: str | None = None
) -> int:
    """Remove the containers of the sweep that wrote `results_dir` (None: every mleray
    container, running sweeps' too) on this node, or with `address` on every node of that
    Ray cluster. Returns how many were removed."""
    from mleray.sandbox import get_sandbox

    key, sandbox = (None, "docker") if results_dir is None else results_folder_owner(results_dir)
    if address is None:
        return get_sandbox(sandbox).reap(key)
    if ray.is_initialized():
        return reap_everywhere(sandbox, key)
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MlerayError(f"cannot join the Ray cluster at {address!r}: {first}") from None
    try:
        return reap_everywhere(sandbox, key)
    finally:
        ray.shutdown()
