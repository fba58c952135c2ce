"""`network: bridge` is a deliberate choice, said out loud: a bridge agent's containers get
the node's network (the internet, and whatever else the node reaches: other nodes, Ray's
ports, cloud metadata), so each sweep that runs one warns at its start, naming the agent
and its config, and appends the choice to `<results>/network.jsonl`. What protects the
cluster from such an agent is in docs/security.md."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mleray.agents import AgentConfig

NETWORK_FILE = "network.jsonl"


class BridgeNetworkWarning(UserWarning):
    """An agent of the sweep runs with `network: bridge`."""


def note_bridge_agents(agents: Mapping[str, AgentConfig], results_root: Path) -> list[str]:
    """Warn once per bridge agent and record it; returns their names as the spec names them."""
    bridged = sorted(name for name, agent in agents.items() if agent.network == "bridge")
    at = datetime.now(UTC).isoformat()
    for name in bridged:
        agent = agents[name]
        warnings.warn(
            f"agent {agent.name} runs with network: bridge ({agent.dir / 'config.yaml'}): its "
            "containers reach the node's network, Ray's ports included (docs/security.md)",
            BridgeNetworkWarning,
            stacklevel=2,
        )
        record = {"at": at, "agent": name, "network": "bridge", "config": str(agent.dir)}
        with open(results_root / NETWORK_FILE, "a") as handle:
            handle.write(json.dumps(record) + "\n")
    return bridged
