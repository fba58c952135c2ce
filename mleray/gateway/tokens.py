"""Per-trial tokens: what an agent sends as its API key, mapped to its trial by the gateway.

`issue` gives a trial a fresh random token with its model routes and budget; `revoke` ends
it (the token is refused from then on) and returns the trial's final usage. A token is
random (256 bits), so one trial cannot guess another's; it is worthless outside the
gateway. Event-loop thread only (the threaded wrapper calls in there).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from mleray.gateway.pricing import has_price
from mleray.gateway.routes import Budget, GatewayConfigError, ModelRoute
from mleray.gateway.usage import ModelUsage, UsageMeter

TOKEN_PREFIX = "mleray-trial-"


@dataclass
class TrialGrant:
    trial_id: str
    routes: dict[str, ModelRoute]  # by the name the agent asks for
    budget: Budget
    meter: UsageMeter = field(default_factory=UsageMeter)

    def budget_reason(self) -> str | None:
        """Why the budget has run out, or None."""
        usage = self.meter.snapshot()
        return self.budget.exceeded(usage.total_tokens, usage.dollars)


class TokenRegistry:
    def __init__(self):
        self._by_token: dict[str, TrialGrant] = {}
        self._token_of: dict[str, str] = {}

    def issue(
        self, trial_id: str, routes: Iterable[ModelRoute], budget: Budget | None = None
    ) -> str:
        """A new token for `trial_id` (replacing, and revoking, one it already had: a retried
        attempt starts with fresh usage)."""
        budget = budget or Budget()
        by_name: dict[str, ModelRoute] = {}
        for route in routes:
            if route.name in by_name:
                raise GatewayConfigError(f"trial {trial_id}: model {route.name} given twice")
            if budget.max_dollars is not None and not has_price(route):
                raise GatewayConfigError(
                    f"model {route.name}: a dollar budget needs a price, and the price table "
                    f"has none for {route.provider_model} (set price_as, or budget max_tokens)"
                )
            by_name[route.name] = route
        if not by_name:
            raise GatewayConfigError(f"trial {trial_id}: no models to grant")
        self.revoke(trial_id)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self._by_token[token] = TrialGrant(trial_id, by_name, budget)
        self._token_of[trial_id] = token
        return token

    def revoke(self, trial_id: str) -> ModelUsage | None:
        """Refuse the trial's token from now on; its usage so far (None: no such trial).
        Requests already in flight finish, but are not in the returned record."""
        token = self._token_of.pop(trial_id, None)
        if token is None:
            return None
        return self._by_token.pop(token).meter.snapshot()

    def grant_for(self, token: str | None) -> TrialGrant | None:
        return self._by_token.get(token) if token else None

    def usage(self, trial_id: str) -> ModelUsage | None:
        token = self._token_of.get(trial_id)
        return self._by_token[token].meter.snapshot() if token else None

    def trials(self) -> list[str]:
        return sorted(self._token_of)
