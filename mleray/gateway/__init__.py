"""The model gateway: an OpenAI-compatible HTTP server that holds the provider keys.

An agent never sees a provider key or the internet. It calls the gateway with a per-trial
token; the gateway maps the token to its trial, forwards the request to the provider that the
trial's model names (with credentials only the gateway process holds), counts requests,
tokens, dollars, latency and retries per trial, enforces per-trial budgets, retries provider
429s and shares each provider's concurrency fairly among trials. See docs/models.md.

Modules: `routes` (model entries and budgets), `pricing`, `usage` (the per-trial record),
`extract` (usage from bodies and event streams), `fair` (the fair concurrency limiter),
`tokens` (the token registry), `upstream` (forwarding with retries), `server` (the aiohttp
app), `threaded` (the server in its own event-loop thread), `forwarder` (the stdlib relay
that runs inside a container) and `stub` (a scripted provider for tests).

This package imports neither ray nor docker; `mleray.actors.gateway_actor` puts it on Ray.
Importing it loads only the light modules below (no aiohttp).
"""

from pathlib import Path

from mleray.gateway.routes import Budget, GatewayConfigError, ModelRoute, parse_model_entry
from mleray.gateway.usage import ModelUsage

# the in-container relay (stdlib only): mount it and run `python3 -S FORWARDER_SCRIPT ...`
FORWARDER_SCRIPT = Path(__file__).resolve().parent / "forwarder.py"

__all__ = [
    "FORWARDER_SCRIPT",
    "Budget",
    "GatewayConfigError",
    "ModelRoute",
    "ModelUsage",
    "parse_model_entry",
]
