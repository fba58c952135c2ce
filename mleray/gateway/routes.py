"""Where a trial's model names lead: provider routes, per-trial budgets, and their checks.

A `ModelRoute` is one entry of an agent's `models:` in a sweep spec: the name the agent asks
for (`MLERAY_MODEL`), the provider kind, the provider's model id, where the provider
answers, which environment variable of the gateway's process holds its key, sampling
settings the gateway imposes, the provider's cluster-wide concurrency cap, and optionally
which price-table entry to charge it as. A `Budget` caps one trial's spending.

Keys are read only from the gateway process's environment, by variable name; a spec names
the variable, never the value.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field

from mleray.errors import SpecError

PROVIDERS = ("openai", "anthropic", "openai-compatible")
DEFAULT_BASE_URL = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com/v1",
}
DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
DEFAULT_MAX_CONCURRENCY = 16  # requests in flight to one provider, cluster-wide
_ENTRY_KEYS = {
    "name",
    "provider",
    "model",
    "base_url",
    "api_key_env",
    "params",
    "budget",
    "max_concurrency",
    "price_as",
}
_BUDGET_KEYS = {"max_tokens", "max_dollars"}


class GatewayConfigError(SpecError):
    """A model entry with a bad field, missing credentials or an unreachable provider."""


@dataclass(frozen=True)
class Budget:
    """Per-trial limits; None is no limit. Checked before each request: the request that
    crosses a limit is served in full, the next one is refused."""

    max_tokens: int | None = None  # prompt + completion tokens
    max_dollars: float | None = None

    def exceeded(self, tokens: int, dollars: float | None) -> str | None:
        """Why the budget has run out, or None while it has not."""
        if self.max_tokens is not None and tokens >= self.max_tokens:
            return f"the trial's token budget ({self.max_tokens} tokens) has run out"
        if self.max_dollars is not None and dollars is not None and dollars >= self.max_dollars:
            return f"the trial's budget (${self.max_dollars:g}) has run out"
        return None


@dataclass(frozen=True)
class ModelRoute:
    name: str  # what the agent asks for: MLERAY_MODEL and the request's "model"
    provider: str = "openai"  # one of PROVIDERS
    model: str | None = None  # the provider's model id; default: name
    base_url: str | None = None  # default per provider; required for openai-compatible
    api_key_env: str | None = None  # default per provider; None for openai-compatible: no key
    # override the request's; not hashed (a dict), so routes and the trials holding them hash
    params: Mapping[str, object] = field(default_factory=dict, hash=False)
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY  # cluster-wide; split across node gateways
    price_as: str | None = None  # "provider:model" of the price table, e.g. "openai:gpt-4o"

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise GatewayConfigError(
                f"model entry: `name` must be a non-empty string, not {self.name!r}"
            )
        if self.provider not in PROVIDERS:
            raise GatewayConfigError(
                f"model {self.name}: unknown provider {self.provider!r} "
                f"(known: {', '.join(PROVIDERS)})"
            )
        if self.provider == "openai-compatible" and not self.base_url:
            raise GatewayConfigError(
                f"model {self.name}: provider openai-compatible needs a `base_url`"
            )
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise GatewayConfigError(
                f"model {self.name}: base_url {self.base_url!r} must start with http:// or https://"
            )
        if not isinstance(self.max_concurrency, int) or self.max_concurrency < 1:
            raise GatewayConfigError(
                f"model {self.name}: max_concurrency must be a positive integer, "
                f"not {self.max_concurrency!r}"
            )
        if self.price_as is not None and ":" not in self.price_as:
            raise GatewayConfigError(
                f"model {self.name}: price_as {self.price_as!r} must be 'provider:model', "
                "e.g. 'openai:gpt-4o-mini'"
            )

    @property
    def provider_model(self) -> str:
        return self.model or self.name

    @property
    def url(self) -> str:
        """The provider's API root, without a trailing slash (…/v1)."""
        return (self.base_url or DEFAULT_BASE_URL[self.provider]).rstrip("/")

    @property
    def key_env(self) -> str | None:
        return self.api_key_env or DEFAULT_KEY_ENV.get(self.provider)

    @property
    def provider_key(self) -> str:
        """One concurrency pool per provider endpoint and account (key variable)."""
        return f"{self.provider} {self.url} {self.key_env or '-'}"

    def api_key(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The key from the gateway's environment; None when the route needs none."""
        if self.key_env is None:
            return None
        return (os.environ if environ is None else environ).get(self.key_env) or None


def parse_model_entry(raw: object, where: str) -> tuple[ModelRoute, Budget]:
    """A spec's model entry (a plain name, or a mapping) as a route and its per-trial budget.
    A plain name is an OpenAI model. Errors name `where`, e.g. "sweep.yaml: agents[0].models[1]".
    """
    if isinstance(raw, str) and raw:
        return ModelRoute(name=raw), Budget()
    if not isinstance(raw, Mapping):
        raise GatewayConfigError(f"{where}: a model is a name or a mapping, not {raw!r}")
    unknown = sorted(set(raw) - _ENTRY_KEYS)
    if unknown:
        raise GatewayConfigError(
            f"{where}: unknown field `{unknown[0]}` (known: {', '.join(sorted(_ENTRY_KEYS))})"
        )
    params = raw.get("params") or {}
    if not isinstance(params, Mapping):
        raise GatewayConfigError(f"{where}.params: must be a mapping, not {params!r}")
    fields = {k: v for k, v in raw.items() if k not in ("budget", "params")}
    try:
        route = ModelRoute(**fields, params=dict(params))
    except GatewayConfigError as exc:
        raise GatewayConfigError(f"{where}: {exc}") from None
    return route, _budget(raw.get("budget"), f"{where}.budget")


def _budget(raw: object, where: str) -> Budget:
    if raw is None:
        return Budget()
    if not isinstance(raw, Mapping) or set(raw) - _BUDGET_KEYS:
        raise GatewayConfigError(f"{where}: must be a mapping of max_tokens and/or max_dollars")
    tokens, dollars = raw.get("max_tokens"), raw.get("max_dollars")
    if tokens is not None and (
        not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1
    ):
        raise GatewayConfigError(f"{where}.max_tokens: must be a positive integer, not {tokens!r}")
    if dollars is not None and (
        not isinstance(dollars, int | float) or isinstance(dollars, bool) or dollars <= 0
    ):
        raise GatewayConfigError(f"{where}.max_dollars: must be a positive number, not {dollars!r}")
    return Budget(max_tokens=tokens, max_dollars=None if dollars is None else float(dollars))


def check_credentials(routes, environ: Mapping[str, str] | None = None) -> None:
    """Preflight: every route's key variable is set where the gateway runs."""
    for route in routes:
        if route.key_env is not None and route.api_key(environ) is None:
            raise GatewayConfigError(
                f"model {route.name}: provider {route.provider} needs its key in environment "
                f"variable {route.key_env}, which is not set for the gateway"
            )


def check_reachable(route: ModelRoute, timeout: float = 5.0) -> None:
    """Preflight for an explicit `base_url`: something answers HTTP at {base_url}/models.
    Any HTTP status counts (a 401 or 404 still proves a server is there)."""
    if not route.base_url:
        return
    # no proxy: the gateway's own client (aiohttp, trust_env off) connects directly too
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{route.url}/models", timeout=timeout):
            pass
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise GatewayConfigError(
            f"model {route.name}: base_url {route.base_url} does not answer ({reason})"
        ) from None
