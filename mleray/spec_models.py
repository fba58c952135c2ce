"""An agent's `models:` in a sweep spec: plain names, or mappings that route a model through
the model gateway (`mleray.gateway`).

    models:
      - gpt-4o-mini                        # a name, as before: passed on as MLERAY_MODEL
      - name: stub-a                       # a mapping: the gateway serves it (docs/models.md)
        provider: openai-compatible
        base_url: http://127.0.0.1:8765/v1
        params: {temperature: 0.2}
        budget: {max_tokens: 200000, max_dollars: 2}

A plain name keeps the trial id it always had. A mapping's trial id also covers what changes
the run (provider, provider model, endpoint, sampling settings, budget), not what only
changes pacing or accounting (`max_concurrency`, `api_key_env`, `price_as`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mleray import spec_limits as limits
from mleray.errors import SpecError
from mleray.gateway.routes import Budget, ModelRoute, parse_model_entry


@dataclass(frozen=True)
class ModelEntry:
    """One mapping entry of `models:`, parsed."""

    route: ModelRoute
    budget: Budget
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False)  # as written

    @property
    def name(self) -> str:
        return self.route.name

    def identity(self) -> dict:
        """What of the entry changes the run (part of the trial id)."""
        return {
            "provider": self.route.provider,
            "model": self.route.provider_model,
            "base_url": self.route.url,
            "params": dict(self.route.params),
            "budget": {
                "max_tokens": self.budget.max_tokens,
                "max_dollars": self.budget.max_dollars,
            },
        }


def parse_models(
    source: str, where: str, value: Any
) -> tuple[tuple[str | None, ...], dict[str, ModelEntry]]:
    """(model names in order, mapping entries by name) of an agent's `models:` field;
    names only (and no entries) without the field. Errors name `source: field where...`."""
    if value is None:
        return (None,), {}
    key = f"{where}.models"
    if not isinstance(value, list) or not value:
        raise SpecError(f"{source}: field `{key}` must be a non-empty list of names or mappings")
    limits.count(source, key, value, limits.MAX_MODELS)
    names, entries, first = [], {}, {}
    for k, raw in enumerate(value):
        here = f"{key}[{k}]"
        if isinstance(raw, Mapping):
            entry = _entry(source, here, raw)
            name = entry.name
            entries[name] = entry
        else:
            name = limits.text(source, here, raw, limits.MAX_NAME_CHARS, "a name or a mapping")
        if name in first:
            raise SpecError(
                f"{source}: field `{key}` lists {limits.shown(name)} twice "
                f"({key}[{first[name]}] and {here})"
            )
        first[name] = k
        names.append(name)
    return tuple(names), entries


def _entry(source: str, where: str, raw: Mapping) -> ModelEntry:
    limits.plain_json(source, where, dict(raw))  # bounded, plain JSON, string keys
    limits.text(source, f"{where}.name", raw.get("name"), limits.MAX_NAME_CHARS, "a model name")
    route, budget = parse_model_entry(raw, f"{source}: field {where}")  # GatewayConfigError
    if route.key_env and route.key_env.startswith("MLERAY_"):
        # the driver hands every MLERAY_* variable to Ray's workers, where Ray shows it
        raise SpecError(
            f"{source}: field `{where}.api_key_env`: {route.key_env} starts with MLERAY_, and "
            "mleray passes MLERAY_* variables to Ray (visible in its dashboard); name the "
            "key's variable otherwise"
        )
    return ModelEntry(route=route, budget=budget, raw=dict(raw))


def models_as_written(
    names: tuple[str | None, ...], entries: Mapping[str, ModelEntry]
) -> list[Any]:
    """The `models:` list to write back (sweep.yaml): names, and mappings as they were."""
    return [dict(entries[n].raw) if n in entries else n for n in names]
