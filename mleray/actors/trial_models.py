"""A trial attempt's model, through its node's gateway: a token issued before the sandbox
starts, what the sandbox needs to reach the gateway, and the token revoked when the sandbox
has ended (the gateway refuses it from then on), giving back what the attempt used.

    with TrialModels(trial, node_id, isolated=sandbox.isolated) as models:
        request = RunRequest(..., **models.request_fields(secrets))
        result = sandbox.run(request)
    outcome = TrialOutcome(..., model_usage=models.usage)

An isolated sandbox (docker) gets the node's socket folder mounted read-only at
`CONTAINER_SOCKET_DIR` and the forwarder as a sidecar on 127.0.0.1:`FORWARDER_PORT`, so the
agent's OpenAI client works at `network: none`; the `local` sandbox gets the gateway's
loopback TCP address. Either way the agent's key variables hold the trial's token, never a
provider key: an agent secret of the same name (say `OPENAI_API_KEY: ${secret:...}`) is
dropped for a gateway trial.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import ray

from mleray.errors import InfraError
from mleray.gateway import FORWARDER_SCRIPT
from mleray.gateway.contract import (
    CONTAINER_SOCKET_DIR,
    FORWARDER_PORT,
    agent_model_env,
    forwarder_base_url,
    forwarder_command,
)
from mleray.gateway.usage import ModelUsage
from mleray.plan import Trial
from mleray.sandbox.base import HostSocketDir, ServiceFile, ServiceSpec

if TYPE_CHECKING:  # the server pulls in aiohttp: only a trial with a gateway model needs it
    from mleray.gateway.server import GatewayAddress

FORWARDER_SERVICE = "model-forwarder"
SOCKET_DIR_ENV = "MLERAY_GATEWAY_SOCKET_DIR"
GATEWAY_CALL_TIMEOUT = 60.0


def sandbox_fields(address: GatewayAddress, token: str, isolated: bool) -> dict:
    """RunRequest fields reaching the gateway: `env`, `services`, `host_sockets`."""
    if not isolated:
        return {"env": agent_model_env(address.tcp_url, token), "services": (), "host_sockets": ()}
    forwarder = ServiceSpec(
        name=FORWARDER_SERVICE,
        command=tuple(forwarder_command("{service_dir}/forwarder.py", port=FORWARDER_PORT)),
        files=(ServiceFile("forwarder.py", FORWARDER_SCRIPT.read_bytes()),),
        ready_port=FORWARDER_PORT,
    )
    sockets = HostSocketDir(
        host_dir=Path(address.unix_path).parent,
        container_dir=CONTAINER_SOCKET_DIR,
        env_var=SOCKET_DIR_ENV,
    )
    return {
        "env": agent_model_env(forwarder_base_url(FORWARDER_PORT), token),
        "services": (forwarder,),
        "host_sockets": (sockets,),
    }


class TrialModels:
    """The gateway session of one attempt (nothing for a trial without a gateway model)."""

    def __init__(self, trial: Trial, node_id: str | None, isolated: bool):
        self.trial, self.node_id, self.isolated = trial, node_id, isolated
        self.usage: ModelUsage | None = None
        self._gateway = None
        self._fields: dict = {}

    def __enter__(self) -> TrialModels:
        trial = self.trial
        if trial.route is None:
            return self
        if self.node_id is None:
            raise InfraError(f"trial {trial.trial_id}: no node id to find its model gateway")
        from mleray.actors.gateway_actor import ensure_gateway, gateway_socket_root

        try:
            self._gateway = ensure_gateway(self.node_id, gateway_socket_root(trial.results_key))
            token = ray.get(
                self._gateway.issue.remote(trial.trial_id, [trial.route], trial.budget),
                timeout=GATEWAY_CALL_TIMEOUT,
            )
            address = ray.get(self._gateway.address.remote(), timeout=GATEWAY_CALL_TIMEOUT)
        except (ray.exceptions.RayError, ValueError) as exc:
            raise InfraError(
                f"model gateway on node {self.node_id[:12]}: {_first_line(exc)}"
            ) from None
        self._fields = sandbox_fields(address, token, self.isolated)
        return self

    def request_fields(self, secrets: Mapping[str, str]) -> dict:
        """`env`, `secrets`, `services` and `host_sockets` for the RunRequest: the agent's
        secrets without those named like the gateway's variables."""
        if not self._fields:
            return {"secrets": dict(secrets)}
        env = self._fields["env"]
        return {**self._fields, "secrets": {k: v for k, v in secrets.items() if k not in env}}

    def __exit__(self, *exc) -> None:
        if self._gateway is None:
            return
        try:  # the token is refused from here on; what the attempt used comes back
            self.usage = ray.get(
                self._gateway.revoke.remote(self.trial.trial_id), timeout=GATEWAY_CALL_TIMEOUT
            )
        except ray.exceptions.RayError:
            self.usage = None  # the gateway died: its counts went with it


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"
