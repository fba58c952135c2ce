"""What the Docker engine tells about a running container beyond its state: how much it
has written (the disk bound), and kill signals that mleray did not send.

Disk: an agent writes into its container's writable layer (everything but the read-only
data mount: /home/agent, /home/submission, /tmp, ...), which lives on the node's disk.
No per-container quota is portable (overlay2's `size` option needs xfs with pquota), so
`DiskWatch` asks the engine for the layer's size (`SizeRw`, the apparent size of the files
written, which the engine computes by walking the layer) every few seconds, less often
when the walk is slow, and reports the first time it is over the bound: the backend kills
the container and the run ends as `agent_error`. An agent can overshoot the bound by what
it writes between two checks.

Kills: only the engine's API can signal a container from outside (an agent cannot make
the engine log a `kill` event), so a container that stopped with `kill` events mleray did
not cause was killed by someone else (`docker kill`, `docker stop`, a daemon shutting
down): the infrastructure's fault, not the agent's.
"""

from __future__ import annotations

import time

DISK_CHECK_SECONDS = 5.0  # at most this often
DISK_CHECK_SHARE = 0.05  # and the walk takes at most this share of the engine's time


class DiskWatch:
    """Throttled checks of a container's writable layer against `limit_bytes`."""

    def __init__(self, client, container_id: str, limit_bytes: int, every: float):
        self.client, self.container_id, self.limit = client, container_id, limit_bytes
        self.every = every
        self._next = time.monotonic() + every
        self.written: int | None = None  # bytes at the last check

    def over(self) -> bool:
        """True when the layer was over the bound at this check (checks are throttled)."""
        now = time.monotonic()
        if now < self._next:
            return False
        listed = self.client.api.containers(
            all=True, size=True, filters={"id": self.container_id}
        )  # the list API sizes containers (inspect does too, but the SDK cannot ask it)
        took = time.monotonic() - now
        self._next = time.monotonic() + max(self.every, took / DISK_CHECK_SHARE)
        self.written = int((listed[0] if listed else {}).get("SizeRw") or 0)
        return self.written > self.limit

    def message(self) -> str:
        return (
            f"the agent wrote {_size(self.written or 0)} into its container's filesystem, "
            f"over the bound of {_size(self.limit)} (resources.disk): stopped"
        )


def _size(count: int) -> str:
    return f"{count / 1024**3:.2f} GiB" if count >= 1024**3 else f"{count / 1024**2:.1f} MiB"


def outside_kill(client, container_id: str, since: float) -> str | None:
    """The signal of a `kill` event of the container since `since` (epoch seconds), or None.
    Call it only when mleray sent no signal itself; the engine keeps recent events only,
    which is enough right after the container stopped."""
    import docker
    import requests

    try:
        events = client.events(
            since=since - 1,
            until=time.time(),
            filters={"container": container_id, "event": "kill"},
            decode=True,
        )
        kills = list(events)
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return None  # the engine is going away: the next call fails and says so
    if not kills:
        return None
    attributes = kills[-1].get("Actor", {}).get("Attributes", {})
    return str(attributes.get("signal", "?"))
