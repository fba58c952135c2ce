"""What an agent is given to reach the gateway: its environment and the forwarder's command.

Inside a container the agent reaches the gateway through the forwarder on 127.0.0.1
(`FORWARDER_PORT`), which relays to the node's socket mounted at `CONTAINER_SOCKET_DIR`; in
the `local` sandbox it uses the gateway's loopback TCP address directly. Either way the
agent gets the same variables, for OpenAI and Anthropic clients alike.
"""

from __future__ import annotations

CONTAINER_SOCKET_DIR = "/run/mleray-gateway"  # the node's socket folder, mounted read-only
SOCKET_NAME = "gateway.sock"
FORWARDER_PORT = 4000


def agent_model_env(base_url: str, token: str) -> dict[str, str]:
    """The variables that point an agent's clients at the gateway with its trial token.
    `base_url` ends in /v1 (OpenAI's convention); Anthropic's SDK wants the root."""
    root = base_url.rstrip("/").removesuffix("/v1")
    return {
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_KEY": token,
        "ANTHROPIC_BASE_URL": root,
        "ANTHROPIC_API_KEY": token,
    }


def forwarder_base_url(port: int = FORWARDER_PORT) -> str:
    return f"http://127.0.0.1:{port}/v1"


def forwarder_command(
    script: str,
    socket_path: str = f"{CONTAINER_SOCKET_DIR}/{SOCKET_NAME}",
    port: int = FORWARDER_PORT,
) -> list[str]:
    """The sidecar's command inside the container (`script`: where forwarder.py is mounted)."""
    return ["python3", "-S", script, "--socket", socket_path, "--port", str(port)]
