"""`SweepSpec`: what a sweep runs, loaded from YAML and checked before anything starts.

A spec file looks like this (every key but `name` and `agents` is optional, as long as
`competitions` or `split` names at least one competition):

    name: builtin-sweep
    competitions: [breast-cancer-auc]     # ids, and/or
    split: builtin                        # a split list (competitions/splits/<name>.txt)
    agents:
      - name: baseline                    # a built-in agent name or an agent folder path
        models: [gpt-4o, o1]              # optional; one trial per model (a name, or a
                                          # mapping for the model gateway: spec_models)
        kwargs: {seconds: 2}              # optional; override the agent's defaults
        resources: {gpus: 1}              # optional; this agent's, over the sweep's
        time_limit: 3600                  # optional; this agent's, over the sweep's
    seeds: 3                              # 0, 1, 2; or an explicit list [0, 7]
    resources: {gpus: 0.5, cpus: 1, memory: 4g}   # also pids, shm, disk (docs/sweeps.md)
    time_limit: 600                       # seconds of agent wall time
    sandbox: docker                       # docker | local
    results: results/builtin-sweep        # default results/<name>
    max_attempts: 3                       # attempts per trial; only infra_error retries
    snapshot_interval: 60                 # seconds; omit to disable anytime snapshots
    competitions_path: [my/competitions]  # extra registry folders

Relative paths are taken from the working directory mleray runs in. Every bad value is one
`SpecError` naming the file and the field, raised by `load_spec` before any trial starts:
the file is read by `mleray.bounded_yaml` (size, nesting, aliases, repeated keys), every
value is bounded by `mleray.spec_limits` before anything is expanded, and only then are the
competitions and agents looked up.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mleray import spec_limits as limits
from mleray.bounded_yaml import load_yaml_file
from mleray.errors import MlerayError, SpecError
from mleray.spec_limits import shown
from mleray.spec_models import ModelEntry, models_as_written, parse_models
from mleray.spec_resources import Resources, parse_resources

SANDBOXES = ("docker", "local")
_TOP_KEYS = {
    "name",
    "competitions",
    "split",
    "agents",
    "seeds",
    "resources",
    "time_limit",
    "sandbox",
    "results",
    "max_attempts",
    "snapshot_interval",
    "competitions_path",
}
_AGENT_KEYS = {"name", "models", "kwargs", "resources", "time_limit"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


@dataclass(frozen=True)
class AgentSpec:
    name: str  # built-in agent name or folder path
    models: tuple[str | None, ...] = (None,)
    kwargs: Mapping[str, Any] = field(default_factory=dict, hash=False)
    # the mapping entries of `models:` by name: routed through the model gateway
    model_entries: Mapping[str, ModelEntry] = field(default_factory=dict, hash=False)
    # this agent's own, where its entry sets them; None: the sweep's
    resources: Resources | None = None
    time_limit: float | None = None

    @property
    def kwargs_json(self) -> str:
        return json.dumps(dict(self.kwargs), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class SweepSpec:
    name: str
    competitions: tuple[str, ...]  # resolved: listed ids, then the split's
    agents: tuple[AgentSpec, ...]
    seeds: tuple[int, ...] = (0,)
    resources: Resources = Resources()
    time_limit: float = 600.0
    sandbox: str = "docker"
    results: Path | None = None  # None: results/<name>
    max_attempts: int = 3
    snapshot_interval: float | None = None
    competitions_path: tuple[str, ...] = ()
    split: str | None = None
    source: str = "<spec>"  # the file it came from, for messages

    @property
    def results_dir(self) -> Path:
        return Path(self.results) if self.results is not None else Path("results") / self.name

    def resources_of(self, agent: AgentSpec) -> Resources:
        """What each trial of `agent` asks for: its own `resources`, else the sweep's."""
        return agent.resources if agent.resources is not None else self.resources

    def time_limit_of(self, agent: AgentSpec) -> float:
        return agent.time_limit if agent.time_limit is not None else self.time_limit

    def to_dict(self) -> dict:
        """The spec as a plain mapping in the YAML format (written as `sweep.yaml`)."""
        return {
            "name": self.name,
            "competitions": list(self.competitions),
            **({"split": self.split} if self.split else {}),
            "agents": [
                {
                    "name": a.name,
                    **(
                        {"models": models_as_written(a.models, a.model_entries)}
                        if a.models != (None,)
                        else {}
                    ),
                    "kwargs": dict(a.kwargs),
                    **({"resources": a.resources.as_written()} if a.resources else {}),
                    **({"time_limit": a.time_limit} if a.time_limit is not None else {}),
                }
                for a in self.agents
            ],
            "seeds": list(self.seeds),
            "resources": self.resources.as_written(),
            "time_limit": self.time_limit,
            "sandbox": self.sandbox,
            "results": str(self.results_dir),
            "max_attempts": self.max_attempts,
            "snapshot_interval": self.snapshot_interval,
            "competitions_path": list(self.competitions_path),
        }


def load_spec(path: str | os.PathLike, *, check: bool = True) -> SweepSpec:
    """Read and validate a spec file. With `check`, competitions and agents must exist."""
    raw = load_yaml_file(path, what="spec file")  # size, depth, aliases and keys bounded
    return spec_from_dict(raw, source=str(path), check=check)


def spec_from_dict(raw: Any, *, source: str = "<spec>", check: bool = True) -> SweepSpec:
    """Build a SweepSpec from parsed YAML; `source` names the file in error messages.
    Every field's shape and bounds are checked, then the size of the trial matrix, and only
    then (with `check`) whether its competitions and agents exist."""
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: a spec must be a mapping of fields, got {type(raw).__name__}")
    limits.no_unknown(source, "", raw, _TOP_KEYS)
    name = _required(source, raw, "name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise SpecError(
            f"{source}: field `name` must be a short id (letters, digits, _.-), got {shown(name)}"
        )
    paths = _folders(source, raw, "competitions_path")
    competitions = _competitions(source, raw)
    resources = {} if raw.get("resources") is None else raw["resources"]
    sweep_resources = parse_resources(source, "resources", resources)
    time_limit = _seconds(source, raw, "time_limit", 600.0)
    agents = _agents(source, raw.get("agents"), resources)
    seeds = _seeds(source, raw.get("seeds", 1))
    trials = len(competitions) * sum(len(a.models) for a in agents) * len(seeds)
    if trials > limits.MAX_TRIALS:
        raise SpecError(
            f"{source}: fields `competitions` × `agents` × `models` × `seeds` plan {trials} "
            f"trials; at most {limits.MAX_TRIALS}"
        )
    spec = SweepSpec(
        name=name,
        competitions=competitions,
        agents=agents,
        seeds=seeds,
        resources=sweep_resources,
        time_limit=time_limit,
        sandbox=_choice(source, raw, "sandbox", SANDBOXES, "docker"),
        results=_results(source, raw.get("results")),
        max_attempts=int(_max_attempts(source, raw.get("max_attempts", 3))),
        snapshot_interval=_seconds(source, raw, "snapshot_interval", None),
        competitions_path=tuple(paths),
        split=raw.get("split"),
        source=source,
    )
    _check_repeats(spec)
    if check:  # last: the registry is slow to search, and a bad shape needs no search
        _check_competitions(source, competitions, paths)
        _check_agents(source, agents)
    return spec


def _required(source: str, raw: dict, key: str) -> Any:
    if raw.get(key) is None:
        raise SpecError(f"{source}: field `{key}` is required")
    return raw[key]


def _str_list(source: str, raw: dict, key: str, most: int, chars: int) -> list[str]:
    value = [] if raw.get(key) is None else raw[key]  # `0` or `false` is no list
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise SpecError(f"{source}: field `{key}` must be a list of strings, got {shown(value)}")
    limits.count(source, key, value, most)
    return [limits.text(source, f"{key}[{i}]", v, chars, "a string") for i, v in enumerate(value)]


def _folders(source: str, raw: dict, key: str) -> list[str]:
    """Registry folders, absolute: Ray workers do not run in the driver's working directory."""
    entries = _str_list(source, raw, key, limits.MAX_PATHS, limits.MAX_PATH_CHARS)
    return [str(limits.read_folder(source, f"{key}[{i}]", p)) for i, p in enumerate(entries)]


def _competitions(source: str, raw: dict) -> tuple[str, ...]:
    ids = _str_list(source, raw, "competitions", limits.MAX_COMPETITIONS, limits.MAX_NAME_CHARS)
    _no_repeats(source, "competitions", ids)
    split = raw.get("split")
    if split is not None and not isinstance(split, str):
        raise SpecError(f"{source}: field `split` must be a split name, got {shown(split)}")
    if split is not None:
        from mleray.registry import load_split

        try:
            listed = set(ids)
            ids = ids + [c for c in load_split(split) if c not in listed]
        except MlerayError as exc:
            raise SpecError(f"{source}: field `split`: {exc}") from None
        limits.count(source, "split", ids, limits.MAX_COMPETITIONS)
    if not ids:
        raise SpecError(
            f"{source}: field `competitions` (or `split`) must name at least one competition"
        )
    return tuple(ids)


def _no_repeats(source: str, key: str, items: list) -> None:
    first: dict[Any, int] = {}
    for i, item in enumerate(items):
        if item in first:
            raise SpecError(
                f"{source}: field `{key}` lists {shown(item)} twice ({key}[{first[item]}] "
                f"and {key}[{i}])"
            )
        first[item] = i


def _check_competitions(source: str, ids: tuple[str, ...], paths: list[str]) -> None:
    from mleray.registry import get_competition

    for i, path in enumerate(paths):
        if not Path(path).is_dir():
            raise SpecError(f"{source}: field `competitions_path[{i}]`: no such folder {path}")
    for i, cid in enumerate(ids):
        try:
            get_competition(cid, extra_paths=paths or None)
        except MlerayError as exc:
            raise SpecError(f"{source}: field `competitions[{i}]`: {exc}") from None


def _agents(source: str, value: Any, resources: dict) -> tuple[AgentSpec, ...]:
    """`resources`: the sweep's mapping (checked), which agents' own override."""
    if not isinstance(value, list) or not value:
        raise SpecError(f"{source}: field `agents` must be a non-empty list")
    limits.count(source, "agents", value, limits.MAX_AGENTS)
    return tuple(_agent(source, f"agents[{i}]", entry, resources) for i, entry in enumerate(value))


def _check_repeats(spec: SweepSpec) -> None:
    """The same name, kwargs, model, resources and time limit would run twice. Compared by
    what each runs with: an agent's own limit equal to the sweep's is no other run."""
    runs = {}
    for i, agent in enumerate(spec.agents):
        for model in agent.models:
            run = (
                agent.name,
                agent.kwargs_json,
                model,
                spec.resources_of(agent),
                spec.time_limit_of(agent),
            )
            if run in runs:
                raise SpecError(
                    f"{spec.source}: field `agents[{i}]` repeats agents[{runs[run]}] (same "
                    f"name, kwargs, resources, time limit and model {shown(model)})"
                )
            runs[run] = i


def _agent(source: str, where: str, entry: Any, resources: dict) -> AgentSpec:
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict):
        raise SpecError(
            f"{source}: field `{where}` must be a name or a mapping, got {shown(entry)}"
        )
    limits.no_unknown(source, f"{where}.", entry, _AGENT_KEYS)
    name = limits.text(
        source, f"{where}.name", entry.get("name"), limits.MAX_PATH_CHARS, "an agent name or folder"
    )
    if os.sep in name or name.startswith((".", "~")) or Path(name).is_dir():
        # FOLDER:ID names an agent of an MLE-bench agents folder: the folder is what is read
        folder = name.rpartition(":")[0] if ":" in name and not Path(name).is_dir() else name
        limits.read_folder(source, f"{where}.name", folder or name, agent=True)
    models, model_entries = parse_models(source, where, entry.get("models"))
    kwargs = {} if entry.get("kwargs") is None else entry["kwargs"]
    if not isinstance(kwargs, dict):
        raise SpecError(f"{source}: field `{where}.kwargs` must be a mapping with string keys")
    limits.plain_json(source, f"{where}.kwargs", kwargs)
    own = entry.get("resources")
    return AgentSpec(
        name=name,
        models=models,
        kwargs=dict(kwargs),
        model_entries=model_entries,
        resources=None
        if own is None
        else parse_resources(source, f"{where}.resources", own, resources),
        time_limit=_seconds(source, entry, "time_limit", None, where=f"{where}.time_limit"),
    )


def _check_agents(source: str, agents: tuple[AgentSpec, ...]) -> None:
    from mleray.agents import get_agent

    checked: set[str] = set()
    for i, agent in enumerate(agents):
        if agent.name not in checked:
            try:
                get_agent(agent.name)
            except MlerayError as exc:
                raise SpecError(f"{source}: field `agents[{i}].name`: {exc}") from None
            checked.add(agent.name)


def _seeds(source: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, bool):
        raise SpecError(
            f"{source}: field `seeds` must be a count or a list of integers, got {value!r}"
        )
    if isinstance(value, int):  # the count is bounded before anything is built from it
        limits.number(source, "seeds", value, 1, limits.MAX_SEEDS, integer=True, unit=" (a count)")
        return tuple(range(value))
    if not isinstance(value, list) or not value:
        raise SpecError(f"{source}: field `seeds` must be a count or a non-empty list of integers")
    limits.count(source, "seeds", value, limits.MAX_SEEDS)
    for i, seed in enumerate(value):
        limits.number(source, f"seeds[{i}]", seed, 0, limits.MAX_SEED, integer=True)
    _no_repeats(source, "seeds", value)
    return tuple(value)


def _seconds(
    source: str, raw: dict, key: str, default: float | None, where: str | None = None
) -> float | None:
    """`raw[key]` in seconds; `where` names the field when it is not `key` itself."""
    value = raw.get(key, default)
    if value is None:
        return default
    low = limits.MIN_SNAPSHOT_INTERVAL if key == "snapshot_interval" else 0
    field_name = where or key
    return float(
        limits.number(
            source, field_name, value, low, limits.MAX_SECONDS, low_open=low == 0, unit=" s"
        )
    )


def _max_attempts(source: str, value: Any) -> int:
    return limits.number(source, "max_attempts", value, 1, limits.MAX_ATTEMPTS, integer=True)


def _choice(source: str, raw: dict, key: str, choices: tuple[str, ...], default: str) -> str:
    value = raw.get(key, default)
    if value not in choices:
        raise SpecError(
            f"{source}: field `{key}` must be one of {', '.join(choices)}, got {shown(value)}"
        )
    return value


def _results(source: str, value: Any) -> Path | None:
    """As written (relative paths stay relative), once its resolved form is allowed."""
    if value is None:
        return None
    limits.text(source, "results", value, limits.MAX_PATH_CHARS, "a folder path")
    limits.results_folder(source, "results", value)
    return Path(value).expanduser()
