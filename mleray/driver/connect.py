"""Joining Ray, and which attempts the cluster admits at once.

Admission follows Ray's resource accounting (Ray decides where each actor goes): the driver
keeps in flight what the cluster's resources hold, counted resource by resource over the
attempts it has admitted (so a sweep of mixed GPU shares fills its GPUs), plus a margin of
attempts queued in Ray to take a slot the moment one frees. More would only make Ray's
scheduler and the loop's bookkeeping slower.

The embedded Ray gets the driver's MLERAY_* settings by inheritance (its raylet is this
process's child) rather than as a runtime environment, so its workers need no runtime-env
set-up, and the workers Ray starts ahead for the first job can take the first attempts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from mleray.actors.options import ANSWERS_RESOURCE
from mleray.errors import MlerayError
from mleray.plan import Trial

ADMISSION_MARGIN = 2  # attempts queued beyond what fits at once, so no slot idles
# Attempts starting at once (admitted, actor not yet begun): one per CPU of the cluster.
# A new actor is a new worker process (Python, Ray and mleray imported, about a CPU-second);
# a wave of them started together shares the CPUs, and each holds its GPU share meanwhile.
STARTING_PER_CPU = 1.0
MIN_STARTING = 2 + ADMISSION_MARGIN  # a small node: no fewer than admission keeps queued
NODE_LOCAL_ENV = ("MLERAY_DATA_DIR", "MLERAY_SCRATCH_DIR")
# imported by a worker as it starts: the workers Ray starts ahead run an attempt at once
PRELOADED_MODULES = ("mleray.actors.trial_actor",)


def worker_env(address: str) -> dict[str, str]:
    """Environment the workers need: every MLERAY_* setting of the driver (never secrets:
    those are read from each node's own environment), and for the embedded Ray the data
    dir the driver resolved, so workers read the same cache."""
    env = {k: v for k, v in os.environ.items() if k.startswith("MLERAY_")}
    if address != "local":  # where data and scratch live is each cluster node's own business
        return {k: v for k, v in env.items() if k not in NODE_LOCAL_ENV}
    from mleray.registry import data_root

    env.setdefault("MLERAY_DATA_DIR", str(data_root()))
    return env


def connect(address: str, num_gpus: float | None, num_cpus: float | None) -> bool:
    """Start or join Ray; True when this call started it (and must shut it down). A Ray
    already initialised in this process (a notebook, a test) is used as it is."""
    import logging

    import ray

    if ray.is_initialized():
        return False
    if address != "local" and num_gpus is not None:
        raise MlerayError(
            "--num-gpus declares GPUs to an embedded Ray only; a cluster's "
            "nodes declare their own (drop --num-gpus with --address)"
        )
    kwargs = dict(log_to_driver=False, logging_level=logging.WARNING, configure_logging=True)
    if address == "local":
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        os.environ.update(worker_env(address))  # inherited by the raylet and its workers
        ray.init(
            address="local",
            num_gpus=num_gpus,
            num_cpus=num_cpus,
            resources={ANSWERS_RESOURCE: 1.0},
            include_dashboard=False,
            _system_config={"preload_python_modules": list(PRELOADED_MODULES)},
            **kwargs,
        )
        return True
    try:
        ray.init(address=address, runtime_env={"env_vars": worker_env(address)}, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise MlerayError(
            f"cannot join the Ray cluster at {address!r}: {str(exc).splitlines()[0]}"
        ) from None
    return False


def check_answers_node(totals: Mapping[str, float]) -> None:
    """Grading runs only where the answers are: some node must declare that resource."""
    if totals.get(ANSWERS_RESOURCE, 0) <= 0:
        raise MlerayError(
            f"no Ray node declares the resource {ANSWERS_RESOURCE!r}: start the node "
            f"holding the answers with --resources='{{\"{ANSWERS_RESOURCE}\": 1}}'"
        )


def needs(trial: Trial) -> dict[str, float]:
    """What one attempt of `trial` asks Ray for, by resource name."""
    return {"CPU": trial.cpus, "GPU": trial.gpus, "memory": float(trial.memory_bytes)}


@dataclass
class Admission:
    """Which attempts go in flight: those the cluster's resources hold, counted over the
    attempts in flight resource by resource, and beyond that `margin` more of the size of
    the one asking. With nothing in flight one attempt is always admitted (a cluster may
    grow to fit it). `limit`, when set, caps the attempts in flight outright.
    `starting_limit` caps those still starting (the loop counts them)."""

    totals: Mapping[str, float] | None  # None: by `limit` alone
    margin: int = ADMISSION_MARGIN
    limit: int | None = None
    demand: dict[str, float] = field(default_factory=dict)  # of the attempts in flight
    in_flight: int = 0

    def admits(self, trial: Trial) -> bool:
        if self.limit is not None and self.in_flight >= self.limit:
            return False
        if self.in_flight == 0 or self.totals is None:
            return True
        return all(
            self.demand.get(name, 0.0) + amount
            <= self.totals.get(name, 0.0) + self.margin * amount + 1e-9
            for name, amount in needs(trial).items()
            if amount > 0
        )

    def add(self, trial: Trial) -> None:
        self.in_flight += 1
        for name, amount in needs(trial).items():
            self.demand[name] = self.demand.get(name, 0.0) + amount

    def remove(self, trial: Trial) -> None:
        self.in_flight -= 1
        for name, amount in needs(trial).items():
            self.demand[name] = max(0.0, self.demand.get(name, 0.0) - amount)

    def resized(self, totals: Mapping[str, float]) -> None:
        """Nodes joined or left: count against the cluster as it is now."""
        self.totals = totals

    @property
    def starting_limit(self) -> int | None:
        """How many admitted attempts may be starting at once: STARTING_PER_CPU per CPU
        of the cluster, at least MIN_STARTING; None (no cap) when admission is by `limit`
        alone. benchmarks/packing.py (2 cores, 6 declared CPUs): makespan median 84 s
        against 88 s with every fitting actor started at once (worst 88 s against 100 s)."""
        if self.totals is None:
            return None
        return max(MIN_STARTING, int(self.totals.get("CPU", 0.0) * STARTING_PER_CPU + 1e-9))


def admission_limit(trial: Trial, totals: Mapping[str, float], local: bool) -> int:
    """How many attempts fit in the cluster at once (by CPUs, GPUs and memory), plus a
    margin. On the embedded Ray a trial that can never fit is an error, not a hang."""
    asks = needs(trial)
    fits = min(
        int(totals.get(name, 0.0) / amount + 1e-9) for name, amount in asks.items() if amount > 0
    )
    if fits == 0:
        have = ", ".join(
            f"{name} {_amount(name, totals.get(name, 0.0))}"
            for name, amount in asks.items()
            if amount > 0
        )
        message = (
            f"a trial needs GPU {trial.gpus:g}, CPU {trial.cpus:g}, memory "
            f"{_amount('memory', trial.memory_bytes)} but Ray has {have}"
        )
        if local:
            raise MlerayError(message + " (declare GPUs with --num-gpus, or lower `resources`)")
        fits = 1  # an autoscaling cluster may grow to fit it
    return fits + ADMISSION_MARGIN


def _amount(resource: str, value: float) -> str:
    return f"{value / 1024**3:.1f} GiB" if resource == "memory" else f"{value:g}"
