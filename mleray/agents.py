"""Agent configs: `agents/<name>/config.yaml` (+ Dockerfile + entry script), loaded as data.

config.yaml fields:
  name         lowercase id (used in image tags)
  description  one line
  build        a Dockerfile next to config.yaml (built FROM build arg BASE_IMAGE), or
  image        a prebuilt image tag (then `build` is optional)
  command      list of strings; `{agent_dir}` becomes the agent folder (/opt/agent in
               docker, the folder itself in the local sandbox; also env MLERAY_AGENT_DIR)
  env          name -> value; a value `${secret:NAME}` is taken from the host's environment
               at run time (`resolve_secrets`) and never written anywhere
  kwargs       default agent kwargs (JSON-able); a sweep's kwargs override them
  network      `none` (default) or `bridge` (only for agents that must call an API)
  resources    the sandbox's bounds this agent needs: `pids` (default 4096), `shm` (default
               half the memory) and `disk` (default 32g); a sweep's `resources` wins
  gateway      true: a model named plainly in a sweep's `models:` is served to this agent by
               the model gateway (docs/models.md); mapping entries always are

A config.yaml in MLE-bench's format (agent ids mapping to `start`, `dockerfile`, ...) is
read by `mleray.mlebench_agents`: each id is an agent named by its id.

Built-in agents live in the repository's `agents/` folder; env MLERAY_AGENTS_PATH adds
folders (os.pathsep-separated) holding more agent folders (MLE-bench's `agents/` folder
among them); a directory path works too, and `FOLDER:ID` names one id of an MLE-bench
agents folder or agent folder (`path/to/mle-bench/agents:aide/dev`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import yaml

from mleray import mlebench_agents
from mleray.agent_config import CONTAINER_AGENT_DIR, RESERVED_ENV, AgentConfig, MlebenchStart
from mleray.errors import NotFoundError, SpecError
from mleray.spec_limits import sandbox_limits

BUILTIN_AGENTS_DIR = Path(__file__).resolve().parent.parent / "agents"
NETWORKS = ("none", "bridge")
_FIELDS = {
    "name",
    "description",
    "build",
    "image",
    "command",
    "env",
    "kwargs",
    "network",
    "gateway",
    "resources",
}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
_SECRET = re.compile(r"^\$\{secret:([A-Za-z_][A-Za-z0-9_]*)\}$")

__all__ = [
    "BUILTIN_AGENTS_DIR",
    "CONTAINER_AGENT_DIR",
    "RESERVED_ENV",
    "AgentConfig",
    "MlebenchStart",
    "absolute_reference",
    "agent_search_path",
    "get_agent",
    "list_agents",
    "load_agent",
    "resolve_secrets",
    "split_reference",
]


def load_agent(directory: str | os.PathLike) -> AgentConfig:
    """Load `directory/config.yaml`; every bad field is a SpecError naming file and field."""
    folder = Path(directory).resolve()
    path = folder / "config.yaml"
    if not path.is_file():
        raise NotFoundError(f"agent folder {folder} has no config.yaml")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if mlebench_agents.is_mlebench_config(raw):
        return _only_mlebench_agent(path)
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping of fields")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise SpecError(
            f"{path}: unknown field {unknown[0]!r} (known: {', '.join(sorted(_FIELDS))})"
        )
    return AgentConfig(
        name=_name(path, raw.get("name")),
        dir=folder,
        command=_command(path, raw.get("command")),
        dockerfile=_dockerfile(path, folder, raw),
        image=_optional_str(path, raw, "image"),
        env=_env(path, raw.get("env"), plain=True),
        secret_env=_env(path, raw.get("env"), plain=False),
        kwargs=_mapping(path, raw, "kwargs"),
        network=_network(path, raw.get("network", "none")),
        **_resources(path, raw.get("resources")),
        gateway=_flag(path, raw, "gateway"),
        description=_optional_str(path, raw, "description") or "",
    )


def _name(path: Path, value: object) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise SpecError(
            f"{path}: field 'name' must be a lowercase id like 'my-agent', got {value!r}"
        )
    return value


def _command(path: Path, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{path}: field 'command' must be a non-empty list of strings")
    return tuple(value)


def _optional_str(path: Path, raw: dict, key: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise SpecError(f"{path}: field {key!r} must be a string, got {value!r}")
    return value


def _dockerfile(path: Path, folder: Path, raw: dict) -> str | None:
    build = _optional_str(path, raw, "build")
    if build is None:
        if raw.get("image") is None:
            raise SpecError(f"{path}: needs field 'build' (a Dockerfile) or 'image'")
        return None
    target = (folder / build).resolve()
    if folder not in target.parents or not target.is_file():
        raise SpecError(f"{path}: field 'build' names {build!r}, which is not a file in {folder}")
    return str(target.relative_to(folder))


def _mapping(path: Path, raw: dict, key: str) -> dict:
    value = raw.get(key) or {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise SpecError(f"{path}: field {key!r} must be a mapping with string keys")
    return dict(value)


def _env(path: Path, value: object, plain: bool) -> dict[str, str]:
    env = _mapping(path, {"env": value}, "env")
    result = {}
    for key, val in env.items():
        if key in RESERVED_ENV or key.startswith("MLERAY_"):
            raise SpecError(
                f"{path}: field 'env.{key}' is set by mleray for every run; choose another name"
            )
        if not isinstance(val, (str, int, float, bool)):
            raise SpecError(f"{path}: field 'env.{key}' must be a string")
        text = str(val)
        secret = _SECRET.match(text)
        if "${secret:" in text and not secret:
            raise SpecError(
                f"{path}: field 'env.{key}' must be exactly '${{secret:NAME}}' to use a secret"
            )
        if plain and not secret:
            result[key] = text
        elif not plain and secret:
            result[key] = secret.group(1)
    return result


def _flag(path: Path, raw: dict, key: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise SpecError(f"{path}: field {key!r} must be true or false, got {value!r}")
    return value


def _resources(path: Path, value: object) -> dict:
    if value is None:
        value = {}
    if not isinstance(value, dict) or set(value) - {"pids", "shm", "disk"}:
        raise SpecError(f"{path}: field 'resources' must be a mapping of pids, shm and disk")
    pids, shm, disk = sandbox_limits(str(path), "resources.", value)
    return {"pids_limit": pids, "shm_bytes": shm, "disk_bytes": disk}


def _network(path: Path, value: object) -> str:
    if value not in NETWORKS:
        raise SpecError(
            f"{path}: field 'network' must be one of {', '.join(NETWORKS)}, got {value!r}"
        )
    return str(value)


def _only_mlebench_agent(path: Path) -> AgentConfig:
    """An MLE-bench agent folder given as a path: its one agent, or which ids to choose from."""
    raw, templates = mlebench_agents.read_config(path)
    ids = mlebench_agents.agent_ids(path, raw, templates)
    if len(ids) != 1:
        raise SpecError(
            f"{path}: an MLE-bench agent folder with the agent ids {', '.join(ids)}: "
            f"name one as {path.parent}:ID"
        )
    return mlebench_agents.mlebench_agent(path, raw, ids[0])


def split_reference(reference: str | os.PathLike) -> tuple[Path, str] | None:
    """`FOLDER:ID` (an MLE-bench agents folder, or one agent's folder, and an agent id) as
    (folder, id); None for a plain name or folder."""
    text = str(reference)
    folder, colon, agent_id = text.rpartition(":")
    if not colon or not folder or not agent_id or Path(text).is_dir():
        return None
    path = Path(folder).expanduser()
    return (path, agent_id) if path.is_dir() else None


def absolute_reference(reference: str) -> str | None:
    """The reference with its folder made absolute (Ray workers run in another working
    directory), or None when it names no folder."""
    split = split_reference(reference)
    if split is not None:
        return f"{split[0].resolve()}:{split[1]}"
    return str(Path(reference).resolve()) if Path(reference).is_dir() else None


def agent_search_path(environ: Mapping[str, str] | None = None) -> list[Path]:
    environ = os.environ if environ is None else environ
    extra = [Path(p) for p in environ.get("MLERAY_AGENTS_PATH", "").split(os.pathsep) if p]
    return [BUILTIN_AGENTS_DIR, *extra]


def _agent_configs() -> Iterator[tuple[Path, dict | None]]:
    """(config.yaml, its content when it is MLE-bench's, else None) of every agent folder
    on the search path, in order."""
    for root in agent_search_path():
        if not root.is_dir():
            continue
        for folder in sorted(d for d in root.iterdir() if (d / "config.yaml").is_file()):
            path = folder / "config.yaml"
            raw = _raw_config(path)
            yield path, raw if mlebench_agents.is_mlebench_config(raw) else None


def _raw_config(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text())
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return None  # load_agent names the problem


def list_agents() -> list[AgentConfig]:
    """Every agent on the search path; the first of a name wins (built-ins first). An
    MLE-bench config gives one agent per id (templates left out)."""
    seen: dict[str, AgentConfig] = {}
    for path, mlebench in _agent_configs():
        found = [load_agent(path.parent)] if mlebench is None else mlebench_agents.load_all(path)
        for agent in found:
            seen.setdefault(agent.name, agent)
    return list(seen.values())


def get_agent(name_or_path: str | os.PathLike) -> AgentConfig:
    """A built-in or MLERAY_AGENTS_PATH agent by name (an MLE-bench id such as `aide/dev`
    included), an agent folder by path, or `FOLDER:ID`."""
    split = split_reference(name_or_path)
    if split is not None:
        agent = mlebench_agents.find_agent(*split)
    elif Path(name_or_path).is_dir():
        agent = load_agent(name_or_path)
    else:
        agent = _by_name(str(name_or_path))
    if agent.mlebench is not None and agent.mlebench.privileged:
        raise SpecError(
            f"agent {agent.name} ({agent.mlebench.config}) asks for a privileged container "
            "(privileged: true), which mleray never runs"
        )
    return agent


def _by_name(name: str) -> AgentConfig:
    configs = list(_agent_configs())
    for path, mlebench in configs:
        if mlebench is None and path.parent.name == name:
            return load_agent(path.parent)
    for path, mlebench in configs:
        if mlebench is not None and name in mlebench:  # templates too, as MLE-bench allows
            return mlebench_agents.mlebench_agent(path, mlebench, name)
    agents = list_agents()
    for agent in agents:
        if agent.name == name:
            return agent
    known = ", ".join(a.name for a in agents) or "none"
    raise NotFoundError(f"unknown agent {name!r} (known: {known}; or give a folder path)")


def resolve_secrets(agent: AgentConfig, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Env var -> secret value for the agent, from `environ` (default: os.environ)."""
    environ = os.environ if environ is None else environ
    resolved = {}
    for var, secret in agent.secret_env.items():
        if secret not in environ:
            raise SpecError(
                f"agent {agent.name}: secret {secret} (env.{var} in {agent.dir / 'config.yaml'}) "
                f"is not set in the environment"
            )
        resolved[var] = environ[secret]
    return resolved
