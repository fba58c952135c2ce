"""Joining Ray, and how many attempts the cluster admits at once.

Admission follows Ray's resource accounting (Ray decides where each actor goes): the driver
only keeps about what fits queued, since thousands of queued actors would just make Ray's
scheduler and the loop's bookkeeping slower.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from mleray.actors.options import ANSWERS_RESOURCE
from mleray.errors import MlerayError
from mleray.plan import Trial

ADMISSION_MARGIN = 2  # attempts queued beyond what fits at once, so no slot idles
NODE_LOCAL_ENV = ("MLERAY_DATA_DIR", "MLERAY_SCRATCH_DIR")


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
    kwargs = dict(
        runtime_env={"env_vars": worker_env(address)},
        log_to_driver=False,
        logging_level=logging.WARNING,
        configure_logging=True,
    )
    if address == "local":
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(
            address="local",
            num_gpus=num_gpus,
            num_cpus=num_cpus,
            resources={ANSWERS_RESOURCE: 1.0},
            include_dashboard=False,
            **kwargs,
        )
        return True
    try:
        ray.init(address=address, **kwargs)
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


def admission_limit(trial: Trial, totals: Mapping[str, float], local: bool) -> int:
    """How many attempts fit in the cluster at once (by CPUs, GPUs and memory), plus a
    margin. On the embedded Ray a trial that can never fit is an error, not a hang."""
    needs = {"CPU": trial.cpus, "GPU": trial.gpus, "memory": trial.memory_bytes}
    fits = min(
        int(totals.get(name, 0.0) / amount + 1e-9) for name, amount in needs.items() if amount > 0
    )
    if fits == 0:
        have = ", ".join(
            f"{name} {_amount(name, totals.get(name, 0.0))}"
            for name, amount in needs.items()
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
