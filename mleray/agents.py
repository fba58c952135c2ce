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

Built-in agents live in the repository's `agents/` folder; env MLERAY_AGENTS_PATH adds
folders (os.pathsep-separated) holding more agent folders; a directory path works too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mleray.errors import NotFoundError, SpecError

BUILTIN_AGENTS_DIR = Path(__file__).resolve().parent.parent / "agents"
CONTAINER_AGENT_DIR = "/opt/agent"
NETWORKS = ("none", "bridge")
_FIELDS = {"name", "description", "build", "image", "command", "env", "kwargs", "network"}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
_SECRET = re.compile(r"^\$\{secret:([A-Za-z_][A-Za-z0-9_]*)\}$")
# Set by mleray for every run (GPU grant, identity, time limit): an agent's env may not
# override them, or a config line could take every GPU of a node.
RESERVED_ENV = frozenset(
    {"COMPETITION_ID", "TIME_LIMIT_SECS", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"}
)


@dataclass(frozen=True)
class AgentConfig:
    name: str
    dir: Path
    command: tuple[str, ...]
    dockerfile: str | None = None  # file name inside `dir`, for `build`
    image: str | None = None  # a prebuilt image tag, for `image`
    env: Mapping[str, str] = field(default_factory=dict)  # plain values
    secret_env: Mapping[str, str] = field(default_factory=dict)  # env var -> secret name
    kwargs: Mapping[str, object] = field(default_factory=dict)
    network: str = "none"
    description: str = ""

    @property
    def secrets(self) -> tuple[str, ...]:
        """Names of the host secrets this agent needs."""
        return tuple(sorted(set(self.secret_env.values())))

    def command_for(self, agent_dir: str | os.PathLike) -> list[str]:
        """The command with `{agent_dir}` filled in for where the agent's folder is."""
        return [part.replace("{agent_dir}", str(agent_dir)) for part in self.command]


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


def _network(path: Path, value: object) -> str:
    if value not in NETWORKS:
        raise SpecError(
            f"{path}: field 'network' must be one of {', '.join(NETWORKS)}, got {value!r}"
        )
    return str(value)


def agent_search_path(environ: Mapping[str, str] | None = None) -> list[Path]:
    environ = os.environ if environ is None else environ
    extra = [Path(p) for p in environ.get("MLERAY_AGENTS_PATH", "").split(os.pathsep) if p]
    return [BUILTIN_AGENTS_DIR, *extra]


def _agent_dirs() -> list[Path]:
    dirs: list[Path] = []
    for root in agent_search_path():
        if root.is_dir():
            dirs.extend(sorted(d for d in root.iterdir() if (d / "config.yaml").is_file()))
    return dirs


def list_agents() -> list[AgentConfig]:
    """Every agent on the search path; the first of a name wins (built-ins first)."""
    seen: dict[str, AgentConfig] = {}
    for folder in _agent_dirs():
        agent = load_agent(folder)
        seen.setdefault(agent.name, agent)
    return list(seen.values())


def get_agent(name_or_path: str | os.PathLike) -> AgentConfig:
    """A built-in or MLERAY_AGENTS_PATH agent by name, or an agent folder by path."""
    candidate = Path(name_or_path)
    if candidate.is_dir():
        return load_agent(candidate)
    for folder in _agent_dirs():
        if folder.name == str(name_or_path):
            return load_agent(folder)
    for agent in list_agents():
        if agent.name == str(name_or_path):
            return agent
    known = ", ".join(a.name for a in list_agents()) or "none"
    raise NotFoundError(
        f"unknown agent {str(name_or_path)!r} (known: {known}; or give a folder path)"
    )


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
