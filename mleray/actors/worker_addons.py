"""Trial actors' workers skip Ray's serialization add-ons.

Ray registers extra serializers (pydantic, starlette, Arrow datasets) in each worker as the
worker moves its first object, and registering them imports pyarrow and numpy: about
0.15–0.2 CPU-seconds per worker, a fifth of what a fresh actor costs. A sweep starts one
actor per trial attempt (the design), so on a small node of short trials that is CPU taken
from the trials themselves. A trial actor moves only mleray's own dataclasses and bytes
(the trial in, the outcome out), which Ray's default pickling serializes as it is; Arrow
tables and pydantic models, were one ever to move, still would, only without Ray's
shortcuts.

This module does the skipping when it is imported in a Ray actor's worker. `TrialActor`
refers to it, so a worker imports it as Ray unpickles the actor class, before the
constructor's arguments are deserialized (Ray pickles a `@ray.remote` class by value, and
the modules its methods use by reference). Anywhere else (the driver, task workers, tests
running an attempt in process) importing it changes nothing, and neither does it with
`MLERAY_RAY_ADDONS=1` in the workers' environment (Ray's add-ons kept: for a custom sandbox
that moves pydantic v1 models, and to measure what skipping them saves).
"""

from __future__ import annotations

import os

KEEP_ADDONS_ENV = "MLERAY_RAY_ADDONS"


def skip_in_actor_worker() -> bool:
    """Replace Ray's add-on registration with nothing, if this process is a Ray worker
    running an actor; True if it did. Ray's internals change between releases: where they
    are not as expected, nothing is replaced (the test of this module then fails)."""
    if os.environ.get(KEEP_ADDONS_ENV) == "1":
        return False
    try:
        import ray
        import ray.util.serialization_addons as addons
        from ray._private import worker
    except ImportError:
        return False
    if getattr(worker.global_worker, "mode", None) != ray.WORKER_MODE:
        return False
    if ray.get_runtime_context().get_actor_id() is None or not hasattr(addons, "apply"):
        return False
    addons.apply = _no_addons
    return True


def _no_addons(serialization_context) -> None:
    """What Ray calls in place of `ray.util.serialization_addons.apply`."""


SKIPPED = skip_in_actor_worker()
