"""A local multi-node Ray cluster with fake GPUs, for tests and for trying `--address`.

The head node plays the answers node of `cluster/config.yaml`: it declares
`mleray_answers` and no GPUs and no CPUs, so trials land only on the workers, each of which
declares `gpus` GPUs (logical ones: nothing checks that they exist).

    python cluster/local.py --workers 2 --gpus 2 --cpus 4    # prints the address; Ctrl-C stops
    mleray sweep SPEC.yaml --address <printed address>

In Python: `cluster = start_local_cluster(...)`, then `cluster.shutdown()`.
"""

from __future__ import annotations

import argparse
import os
import signal

from mleray.actors.options import ANSWERS_RESOURCE


def start_local_cluster(
    workers: int = 2,
    gpus: float = 2,
    cpus: float = 4,
    memory_bytes: int | None = None,
    head_cpus: float = 0,
):
    """Start a head (answers, no trials) and `workers` nodes; returns the running
    `ray.cluster_utils.Cluster` (its `.address` is what `--address` takes)."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": head_cpus,
            "num_gpus": 0,
            "resources": {ANSWERS_RESOURCE: 1},
            "include_dashboard": False,
        },
    )
    for _ in range(workers):
        extra = {"memory": memory_bytes} if memory_bytes else {}
        cluster.add_node(num_cpus=cpus, num_gpus=gpus, **extra)
    cluster.wait_for_nodes()
    return cluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gpus", type=float, default=2, help="fake GPUs per worker")
    parser.add_argument("--cpus", type=float, default=4, help="CPUs per worker")
    args = parser.parse_args()
    cluster = start_local_cluster(args.workers, args.gpus, args.cpus)
    print(
        f"Ray cluster at {cluster.address}: head (answers) + {args.workers} workers "
        f"× {args.gpus:g} GPUs; Ctrl-C stops it",
        flush=True,
    )
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
