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
started together (`node_count`); nodes that join later get no gateway until the next start.
"""

from __future__ import annotations

import os
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from mleray.gateway.contract import SOCKET_NAME
from mleray.gateway.routes import Budget, ModelRoute
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

    def shutdown(self) -> None:
        self._gateway.stop()


def _alive_node_ids() -> list[str]:
    return [node["NodeID"] for node in ray.nodes() if node.get("Alive")]


def start_gateways(
    socket_root: str | os.PathLike,
    tcp: bool = True,
    retry: RetryPolicy | None = None,
    timeout: float = 60.0,
) -> dict[str, ray.actor.ActorHandle]:
    """A gateway on every alive node (an existing one of the same name is reused), by node
    id, each serving once this returns."""
    node_ids = _alive_node_ids()
    handles = {
        node_id: GatewayActor.options(
            name=gateway_name(node_id),
            get_if_exists=True,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
        ).remote(str(socket_dir_for(socket_root, node_id)), tcp, len(node_ids), retry)
        for node_id in node_ids
    }
    ray.get([handle.address.remote() for handle in handles.values()], timeout=timeout)
    return handles


def gateway_for_node(node_id: str) -> ray.actor.ActorHandle:
    """The node's gateway; ValueError when none was started there."""
    return ray.get_actor(gateway_name(node_id))


def stop_gateways(handles: dict[str, ray.actor.ActorHandle], timeout: float = 30.0) -> None:
    """Stop serving and end the actors (a gateway that does not answer is killed anyway)."""
    refs = [handle.shutdown.remote() for handle in handles.values()]
    ray.wait(refs, num_returns=len(refs), timeout=timeout)
    for handle in handles.values():
        ray.kill(handle)
