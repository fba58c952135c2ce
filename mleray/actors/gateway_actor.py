"""One model gateway per node, as a named Ray actor pinned to its node.

The driver starts one `GatewayActor` on every alive node (`start_gateways`); a trial actor
finds its node's gateway by name (`gateway_for_node`), issues its trial a token before the
agent starts and revokes it when the agent ends, getting back the trial's `ModelUsage`. The
actor runs the aiohttp server on its own event-loop thread, so its (synchronous) methods
never block the server.

Provider keys are read from the actor's environment, which is its node's Ray environment:
the driver's environment for an embedded `local` Ray, the environment `ray start` ran in on
a cluster node. They are never passed through Ray (a runtime_env is visible in Ray's
dashboard and state API).

Each provider's cluster-wide concurrency cap is split equally over the node gateways
started together (`node_count`). A node that joins later gets its gateway from the first
trial placed there (`ensure_gateway`), sized for the nodes alive then.

Names are per Ray namespace (each driver has its own), and a sweep's socket folders are
under a root derived from its results key (`gateway_socket_root`), so two sweeps on one
cluster never share a gateway.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from mleray.gateway.contract import SOCKET_NAME
from mleray.gateway.routes import Budget, GatewayConfigError, ModelRoute, check_credentials
from mleray.gateway.server import GatewayAddress
from mleray.gateway.threaded import ThreadedGateway
from mleray.gateway.upstream import RetryPolicy
from mleray.gateway.usage import ModelUsage

NAME_PREFIX = "mleray-gateway-"
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes with its terminating NUL


class GatewaySocketError(ValueError):
    """A socket path the kernel cannot bind (too long)."""


def gateway_name(node_id: str) -> str:
    return NAME_PREFIX + node_id


def gateway_socket_root(results_key: str) -> Path:
    """Where a sweep's gateways put their socket folders on every node (env
    MLERAY_GATEWAY_DIR, else <tmp>/mleray-gw), short enough for a socket path."""
    base = os.environ.get("MLERAY_GATEWAY_DIR") or Path(tempfile.gettempdir()) / "mleray-gw"
    return Path(base) / hashlib.sha256(results_key.encode()).hexdigest()[:10]


def socket_dir_for(root: str | os.PathLike, node_id: str) -> Path:
    """The node's socket folder, the one mounted into its containers. Per node, because
    several Ray nodes can share one machine (and one /tmp) in tests and on big hosts."""
    return Path(root) / node_id[:12]


@ray.remote(num_cpus=0, max_restarts=0)
class GatewayActor:
    def __init__(
        self,
        socket_dir: str,
        tcp: bool = True,
        node_count: int = 1,
        retry: RetryPolicy | None = None,
    ):
        path = os.path.join(socket_dir, SOCKET_NAME)
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            raise GatewaySocketError(
                f"gateway socket path {path} is over {MAX_SOCKET_PATH} bytes: "
                "choose a shorter socket folder"
            )
        os.makedirs(socket_dir, exist_ok=True)
        os.chmod(socket_dir, 0o755)  # the agent's user in a container must reach the socket
        self._gateway = ThreadedGateway(
            unix_path=path, tcp_port=0 if tcp else None, node_count=node_count, retry=retry
        )
        self._address = self._gateway.start()

    def address(self) -> GatewayAddress:
        return self._address

    def node_id(self) -> str:
        return ray.get_runtime_context().get_node_id()

    def issue(self, trial_id: str, routes: list[ModelRoute], budget: Budget | None = None) -> str:
        """A fresh token for the trial (a retried attempt's earlier token is revoked)."""
        return self._gateway.issue(trial_id, routes, budget)

    def revoke(self, trial_id: str) -> ModelUsage | None:
        """The token is refused from now on; the trial's usage (None: no such trial)."""
        return self._gateway.revoke(trial_id)

    def usage(self, trial_id: str) -> ModelUsage | None:
        return self._gateway.usage(trial_id)

    def trials(self) -> list[str]:
        return self._gateway.trials()

    def missing_credentials(self, routes: list[ModelRoute]) -> str | None:
        """Why a route's key is not in this node's environment, or None when all are."""
        try:
            check_credentials(routes)
        except GatewayConfigError as exc:
            return str(exc)
        return None

    def shutdown(self) -> None:
        self._gateway.stop()


def _alive_node_ids() -> list[str]:
    """Nodes that can run trials: alive, with CPUs (a trial actor needs one)."""
    return [
        node["NodeID"]
        for node in ray.nodes()
        if node.get("Alive") and (node.get("Resources") or {}).get("CPU", 0) > 0
    ]


def _gateway_on(
    node_id: str, socket_root: str | os.PathLike, tcp: bool, nodes: int, retry
) -> ray.actor.ActorHandle:
    return GatewayActor.options(
        name=gateway_name(node_id),
        get_if_exists=True,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
    ).remote(str(socket_dir_for(socket_root, node_id)), tcp, nodes, retry)


def start_gateways(
    socket_root: str | os.PathLike,
    tcp: bool = True,
    retry: RetryPolicy | None = None,
    timeout: float = 60.0,
) -> dict[str, ray.actor.ActorHandle]:
    """A gateway on every alive node that can run trials (an existing one of the same name
    is reused), by node id, each serving once this returns."""
    node_ids = _alive_node_ids()
    handles = {
        node_id: _gateway_on(node_id, socket_root, tcp, len(node_ids), retry)
        for node_id in node_ids
    }
    ray.get([handle.address.remote() for handle in handles.values()], timeout=timeout)
    return handles


def ensure_gateway(
    node_id: str, socket_root: str | os.PathLike, timeout: float = 60.0
) -> ray.actor.ActorHandle:
    """The node's gateway, started now if the node joined after `start_gateways`."""
    try:
        return gateway_for_node(node_id)
    except ValueError:
        handle = _gateway_on(node_id, socket_root, True, len(_alive_node_ids()), None)
        ray.get(handle.address.remote(), timeout=timeout)
        return handle


def check_gateway_credentials(
    handles: Mapping[str, ray.actor.ActorHandle], routes: list[ModelRoute], timeout: float = 60.0
) -> None:
    """GatewayConfigError naming the node when a route's key is missing where it runs."""
    node_ids = list(handles)
    answers = ray.get(
        [handles[n].missing_credentials.remote(routes) for n in node_ids], timeout=timeout
    )
    for node_id, problem in zip(node_ids, answers):
        if problem:
            raise GatewayConfigError(f"{problem} (on node {node_id[:12]})")


def gateway_for_node(node_id: str) -> ray.actor.ActorHandle:
    """The node's gateway; ValueError when none was started there."""
    return ray.get_actor(gateway_name(node_id))


def stop_gateways(
    handles: Mapping[str, ray.actor.ActorHandle] | None = None, timeout: float = 30.0
) -> None:
    """Stop serving and end the actors (a gateway that does not answer is killed anyway);
    without `handles`, every gateway of this namespace (late nodes' included)."""
    if handles is None:
        handles = {}
        for name in ray.util.list_named_actors():
            if name.startswith(NAME_PREFIX):
                try:
                    handles[name] = ray.get_actor(name)
                except ValueError:
                    pass  # gone in between
    refs = [handle.shutdown.remote() for handle in handles.values()]
    if refs:
        ray.wait(refs, num_returns=len(refs), timeout=timeout)
    for handle in handles.values():
        ray.kill(handle)
