"""`SweepSpec`: what a sweep runs, loaded from YAML and checked before anything starts.

A spec file looks like this (every key but `name` and `agents` is optional, as long as
`competitions` or `split` names at least one competition):

    name: builtin-sweep
    competitions: [breast-cancer-auc]     # ids, and/or
    split: builtin                        # a split list (competitions/splits/<name>.txt)
    agents:
      - name: baseline                    # a built-in agent name or an agent folder path
        models: [gpt-4o, o1]              # optional; one trial per model
        kwargs: {seconds: 2}              # optional; override the agent's defaults
    seeds: 3                              # 0, 1, 2; or an explicit list [0, 7]
    resources: {gpus: 0.5, cpus: 1, memory: 4g}
    time_limit: 600                       # seconds of agent wall time
    sandbox: docker                       # docker | local
    results: results/builtin-sweep        # default results/<name>
    max_attempts: 3                       # attempts per trial; only infra_error retries
    snapshot_interval: 60                 # seconds; omit to disable anytime snapshots
    competitions_path: [my/competitions]  # extra registry folders

Relative paths are taken from the working directory mleray runs in. Every bad value is one
`SpecError` naming the file and the field, raised by `load_spec` before any trial starts.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mleray.errors import MlerayError, SpecError

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
_AGENT_KEYS = {"name", "models", "kwargs"}
_RESOURCE_KEYS = {"gpus", "cpus", "memory"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


@dataclass(frozen=True)
class Resources:
    gpus: float = 0.0  # 0, a whole number, or 1/k
    cpus: float = 1.0
    memory_bytes: int = 4 * 1024**3


@dataclass(frozen=True)
class AgentSpec:
    name: str  # built-in agent name or folder path
    models: tuple[str | None, ...] = (None,)
    kwargs: Mapping[str, Any] = field(default_factory=dict, hash=False)

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

    def to_dict(self) -> dict:
        """The spec as a plain mapping in the YAML format (written as `sweep.yaml`)."""
        return {
            "name": self.name,
            "competitions": list(self.competitions),
            **({"split": self.split} if self.split else {}),
            "agents": [
                {
                    "name": a.name,
                    **({"models": list(a.models)} if a.models != (None,) else {}),
                    "kwargs": dict(a.kwargs),
                }
                for a in self.agents
            ],
            "seeds": list(self.seeds),
            "resources": {
                "gpus": self.resources.gpus,
                "cpus": self.resources.cpus,
                "memory": self.resources.memory_bytes,
            },
            "time_limit": self.time_limit,
            "sandbox": self.sandbox,
            "results": str(self.results_dir),
            "max_attempts": self.max_attempts,
            "snapshot_interval": self.snapshot_interval,
            "competitions_path": list(self.competitions_path),
        }


def load_spec(path: str | os.PathLike, *, check: bool = True) -> SweepSpec:
    """Read and validate a spec file. With `check`, competitions and agents must exist."""
    source = str(path)
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise SpecError(f"{source}: no such spec file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{source}: cannot read the spec file ({exc})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{source}: malformed YAML{where}: {problem}") from None
    return spec_from_dict(raw, source=source, check=check)


def spec_from_dict(raw: Any, *, source: str = "<spec>", check: bool = True) -> SweepSpec:
    """Build a SweepSpec from parsed YAML; `source` names the file in error messages."""
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: a spec must be a mapping of fields, got {type(raw).__name__}")
    _no_unknown(source, "", raw, _TOP_KEYS)
    name = _required(source, raw, "name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise SpecError(
            f"{source}: field `name` must be a short id (letters, digits, _.-), got {name!r}"
        )
    # absolute, because Ray workers do not run in the driver's working directory
    paths = [str(Path(p).resolve()) for p in _str_list(source, raw, "competitions_path")]
    spec = SweepSpec(
        name=name,
        competitions=_competitions(source, raw, paths, check),
        agents=_agents(source, raw.get("agents"), check),
        seeds=_seeds(source, raw.get("seeds", 1)),
        resources=_resources(source, raw.get("resources") or {}),
        time_limit=_positive(source, raw, "time_limit", 600.0),
        sandbox=_choice(source, raw, "sandbox", SANDBOXES, "docker"),
        results=_optional_path(source, raw, "results"),
        max_attempts=int(_positive(source, raw, "max_attempts", 3, integer=True)),
        snapshot_interval=_positive(source, raw, "snapshot_interval", None),
        competitions_path=tuple(paths),
        split=raw.get("split"),
        source=source,
    )
    return spec


def parse_memory(value: Any, where: str = "memory") -> int:
    """'4g', '512m', '1.5GiB' or a byte count -> bytes (binary units, like Docker's)."""
    if isinstance(value, bool):
        raise SpecError(f"{where}: expected a size like '4g', got {value!r}")
    if isinstance(value, int) and value > 0:
        return value
    match = _MEMORY.match(str(value)) if isinstance(value, (str, float)) else None
    if not match or float(match.group(1)) <= 0:
        raise SpecError(f"{where}: expected a positive size like '4g' or '512m', got {value!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def check_gpu_share(value: Any, where: str = "gpus") -> float:
    """A GPU request must be 0, a whole number, or 1/k: other fractions can leave actors
    pending forever when shares from different nodes do not add up."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise SpecError(
            f"{where}: expected 0, a whole number or 1/k (0.5, 0.25, ...), got {value!r}"
        )
    if value == 0 or float(value).is_integer():
        return float(value)
    inverse = 1.0 / value
    if value > 1 or abs(inverse - round(inverse)) > 1e-6:
        raise SpecError(f"{where}: {value!r} is not a whole number or 1/k (0.5, 0.25, 0.2, ...)")
    return 1.0 / round(inverse)


def _no_unknown(source: str, prefix: str, raw: dict, known: set[str]) -> None:
    for key in raw:
        if key not in known:
            raise SpecError(
                f"{source}: unknown field `{prefix}{key}` (known: {', '.join(sorted(known))})"
            )


def _required(source: str, raw: dict, key: str) -> Any:
    if raw.get(key) is None:
        raise SpecError(f"{source}: field `{key}` is required")
    return raw[key]


def _str_list(source: str, raw: dict, key: str) -> list[str]:
    value = raw.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SpecError(f"{source}: field `{key}` must be a list of strings, got {value!r}")
    return value


def _competitions(source: str, raw: dict, paths: list[str], check: bool) -> tuple[str, ...]:
    ids = _str_list(source, raw, "competitions")
    split = raw.get("split")
    if split is not None and not isinstance(split, str):
        raise SpecError(f"{source}: field `split` must be a split name, got {split!r}")
    if split is not None:
        from mleray.registry import load_split

        try:
            ids = ids + [c for c in load_split(split) if c not in ids]
        except MlerayError as exc:
            raise SpecError(f"{source}: field `split`: {exc}") from None
    if not ids:
        raise SpecError(
            f"{source}: field `competitions` (or `split`) must name at least one competition"
        )
    if len(set(ids)) != len(ids):
        dup = next(c for c in ids if ids.count(c) > 1)
        raise SpecError(f"{source}: field `competitions` lists {dup!r} twice")
    if check:
        from mleray.registry import get_competition

        for i, cid in enumerate(ids):
            try:
                get_competition(cid, extra_paths=paths or None)
            except MlerayError as exc:
                raise SpecError(f"{source}: field `competitions[{i}]`: {exc}") from None
    return tuple(ids)


def _agents(source: str, value: Any, check: bool) -> tuple[AgentSpec, ...]:
    if not isinstance(value, list) or not value:
        raise SpecError(f"{source}: field `agents` must be a non-empty list")
    agents = []
    for i, entry in enumerate(value):
        where = f"agents[{i}]"
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict):
            raise SpecError(f"{source}: field `{where}` must be a name or a mapping, got {entry!r}")
        _no_unknown(source, f"{where}.", entry, _AGENT_KEYS)
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise SpecError(
                f"{source}: field `{where}.name` must be an agent name or folder, got {name!r}"
            )
        models = entry.get("models")
        if models is None:
            models = [None]
        elif (
            not isinstance(models, list)
            or not models
            or not all(isinstance(m, str) and m for m in models)
        ):
            raise SpecError(f"{source}: field `{where}.models` must be a non-empty list of strings")
        kwargs = entry.get("kwargs") or {}
        if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
            raise SpecError(f"{source}: field `{where}.kwargs` must be a mapping with string keys")
        try:
            json.dumps(kwargs)
        except (TypeError, ValueError):
            raise SpecError(
                f"{source}: field `{where}.kwargs` must hold plain JSON values"
            ) from None
        if check:
            _check_agent(source, where, name)
        agents.append(AgentSpec(name=name, models=tuple(models), kwargs=dict(kwargs)))
    return tuple(agents)


def _check_agent(source: str, where: str, name: str) -> None:
    from mleray.agents import get_agent

    try:
        get_agent(name)
    except MlerayError as exc:
        raise SpecError(f"{source}: field `{where}.name`: {exc}") from None


def _seeds(source: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, bool):
        raise SpecError(
            f"{source}: field `seeds` must be a count or a list of integers, got {value!r}"
        )
    if isinstance(value, int):
        if value < 1:
            raise SpecError(f"{source}: field `seeds` must be a count >= 1, got {value}")
        return tuple(range(value))
    if not isinstance(value, list) or not value:
        raise SpecError(f"{source}: field `seeds` must be a count or a non-empty list of integers")
    for i, seed in enumerate(value):
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise SpecError(
                f"{source}: field `seeds[{i}]` must be a non-negative integer, got {seed!r}"
            )
    if len(set(value)) != len(value):
        raise SpecError(f"{source}: field `seeds` repeats a seed")
    return tuple(value)


def _resources(source: str, raw: Any) -> Resources:
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: field `resources` must be a mapping (gpus, cpus, memory)")
    _no_unknown(source, "resources.", raw, _RESOURCE_KEYS)
    gpus = check_gpu_share(raw.get("gpus", 0), f"{source}: field `resources.gpus`")
    cpus = raw.get("cpus", 1)
    if isinstance(cpus, bool) or not isinstance(cpus, (int, float)) or cpus <= 0:
        raise SpecError(f"{source}: field `resources.cpus` must be a positive number, got {cpus!r}")
    memory = parse_memory(raw.get("memory", "4g"), f"{source}: field `resources.memory`")
    return Resources(gpus=gpus, cpus=float(cpus), memory_bytes=memory)


def _positive(source: str, raw: dict, key: str, default: Any, integer: bool = False) -> Any:
    value = raw.get(key, default)
    if value is None:
        return default
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
        kind = "a positive integer" if integer else "a positive number of seconds"
        raise SpecError(f"{source}: field `{key}` must be {kind}, got {value!r}")
    return value if integer else float(value)


def _choice(source: str, raw: dict, key: str, choices: tuple[str, ...], default: str) -> str:
    value = raw.get(key, default)
    if value not in choices:
        raise SpecError(
            f"{source}: field `{key}` must be one of {', '.join(choices)}, got {value!r}"
        )
    return value


def _optional_path(source: str, raw: dict, key: str) -> Path | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise SpecError(f"{source}: field `{key}` must be a folder path, got {value!r}")
    return Path(value)
