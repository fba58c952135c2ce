"""The model gateway in a sweep: which trials use it, their models checked before any trial
starts, and one gateway per node while the sweep runs (stopped at its end, or on cancel).

A trial uses the gateway when its model is a mapping entry of `models:` (the plan gave it a
route), or when its agent's config says `gateway: true` and the spec names the model
plainly (then the name is an OpenAI model: `parse_model_entry(name)`). Each trial's token is
issued by the TrialActor on the node where it was placed (`mleray.actors.trial_models`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from mleray.gateway.pricing import has_price
from mleray.gateway.routes import (
    GatewayConfigError,
    ModelRoute,
    check_credentials,
    check_reachable,
    parse_model_entry,
)
from mleray.plan import Trial

if TYPE_CHECKING:
    from mleray.agents import AgentConfig


def gateway_trials(trials: Iterable[Trial], agents: Mapping[str, AgentConfig]) -> list[Trial]:
    """The trials with a route wherever the gateway serves their model (ids unchanged)."""
    out = []
    for trial in trials:
        agent = agents.get(trial.agent)
        if trial.route is None and trial.model is not None and agent is not None and agent.gateway:
            route, budget = parse_model_entry(trial.model, f"model {trial.model}")
            trial = replace(trial, route=route, budget=budget)
        out.append(trial)
    return out


def distinct_routes(trials: Iterable[Trial]) -> list[ModelRoute]:
    seen: dict[str, ModelRoute] = {}  # by repr: a route holds its params, a dict
    for trial in trials:
        if trial.route is not None:
            seen.setdefault(repr(trial.route), trial.route)
    return list(seen.values())


def check_models(
    trials: Iterable[Trial], environ: Mapping[str, str] | None = None, keys: bool = True
) -> None:
    """Preflight: each gateway model's key is set (`keys`: where the driver's environment is
    the gateway's, an embedded Ray), an explicit `base_url` answers, and a dollar budget has a
    price to count against. Raises GatewayConfigError, one line naming the model."""
    trials = list(trials)
    routes = distinct_routes(trials)
    if keys:
        check_credentials(routes, os.environ if environ is None else environ)
    for route in routes:
        check_reachable(route)
    for trial in trials:
        if trial.budget and trial.budget.max_dollars is not None and not has_price(trial.route):
            raise GatewayConfigError(
                f"model {trial.route.name}: a dollar budget needs a price, and the price table "
                f"has none for {trial.route.provider_model} (set price_as, or budget max_tokens)"
            )


@contextlib.contextmanager
def sweep_gateways(trials: list[Trial], results_key: str) -> Iterator[dict | None]:
    """A gateway on every alive node while the block runs, when any trial uses one (their
    keys checked where each runs); every gateway of the sweep is stopped on the way out."""
    routes = distinct_routes(trials)
    if not routes:
        yield None
        return
    from mleray.actors.gateway_actor import (
        check_gateway_credentials,
        gateway_socket_root,
        start_gateways,
        stop_gateways,
    )

    try:
        handles = start_gateways(gateway_socket_root(results_key))
        check_gateway_credentials(handles, routes)
        yield handles
    finally:
        stop_gateways()  # every gateway of this driver's namespace, late nodes' included
