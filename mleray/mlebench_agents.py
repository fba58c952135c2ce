"""MLE-bench agent folders, read as they are.

MLE-bench's `agents/<name>/config.yaml` maps agent ids to their settings, with YAML anchors
and merge keys (`<<: *defaults`) shared between ids:

    aide/dev:
      start: aide/start.sh          # relative to the agents folder (MLE-bench's agents/)
      dockerfile: aide/Dockerfile   # built with the agent's folder as the context
      kwargs_type: omegaconf        # kwargs passed as key=value; argparse: --key value
      kwargs: {agent.steps: 8}
      env_vars: {OPENAI_API_KEY: "${{ secrets.OPENAI_API_KEY }}", STEP_LIMIT: 8}

Each id becomes an `AgentConfig` named by its id, with `mlebench` set: the sandbox runs its
start script with MLE-bench's container contract (`mleray.sandbox.mlebench_contract`), and
its image is built by `mleray.sandbox.mlebench_images`. It runs at `network: none` and the
model gateway serves the models a sweep names for it (`gateway: true`; docs/models.md).
`${{ secrets.NAME }}` becomes one of mleray's secrets (filled from the host's environment at
run time, never logged). Variables mleray sets for every run are dropped from `env_vars`, as
mleray's values hold: `TIME_LIMIT_SECS` (the sweep's time limit), `COMPETITION_ID`, GPUs,
`MLERAY_*`, and what the gateway sets (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY` and their base
URLs: the trial's token; the provider key stays with the gateway).
An entry defined with an anchor (`defaults: &defaults`) is a template: it is not listed,
but can still be asked for by its id, as in MLE-bench.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from mleray.agent_config import KWARGS_TYPES, RESERVED_ENV, AgentConfig, MlebenchStart
from mleray.bounded_yaml import parse_yaml, read_small_text
from mleray.errors import NotFoundError, SpecError
from mleray.gateway.contract import agent_model_env

_SECRET = re.compile(r"^\s*\$\{\{\s*secrets\.(\w+)\s*\}\}\s*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# what the model gateway gives a trial (its token as the key): at network none a provider key
# in the container would reach no provider, so such a secret is neither asked for nor passed
GATEWAY_ENV = frozenset(agent_model_env("", ""))
_FIELDS = {"start", "dockerfile", "kwargs", "kwargs_type", "env_vars", "privileged"}


def is_mlebench_config(raw: object) -> bool:
    """Whether a parsed config.yaml is MLE-bench's (ids mapping to start + dockerfile)
    rather than mleray's (`name`, `command`)."""
    if not isinstance(raw, dict) or "command" in raw:
        return False
    return any(isinstance(v, dict) and {"start", "dockerfile"} <= set(v) for v in raw.values())


def read_config(path: Path) -> tuple[dict, frozenset[str]]:
    """The config's content and the ids defined with an anchor (templates, not listed)."""
    text = read_small_text(path, "agent config")
    raw = parse_yaml(text, str(path))
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping of agent ids")
    return raw, _anchored_entries(text)


def _anchored_entries(text: str) -> frozenset[str]:
    """The top-level keys whose value carries an anchor (`defaults: &defaults`), read from
    the parser's events (the loaded data no longer says which values had one)."""
    anchored, depth, key, expecting_key = set(), 0, None, True
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            continue
        if depth == 1 and isinstance(event, (yaml.NodeEvent, yaml.CollectionStartEvent)):
            if expecting_key:
                key = getattr(event, "value", None)
            elif event.anchor is not None and key is not None:
                anchored.add(str(key))
            expecting_key = not expecting_key
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
    return frozenset(anchored)


def agent_ids(path: Path, raw: dict, templates: frozenset[str] = frozenset()) -> list[str]:
    """The ids a config defines (entries with `start` and `dockerfile`), templates left out."""
    return [
        str(key)
        for key, value in raw.items()
        if isinstance(value, dict) and {"start", "dockerfile"} <= set(value)
        if str(key) not in templates
    ]


def load_all(path: Path) -> list[AgentConfig]:
    """Every listed agent of one MLE-bench config.yaml."""
    raw, templates = read_config(path)
    return [mlebench_agent(path, raw, agent_id) for agent_id in agent_ids(path, raw, templates)]


def find_agent(folder: Path, agent_id: str) -> AgentConfig:
    """Agent `agent_id` from an MLE-bench agents folder (`mle-bench/agents`, searched one
    level down as MLE-bench's registry does) or from one agent's folder (`agents/aide`)."""
    folder = folder.resolve()
    own = folder / "config.yaml"
    configs = [own] if own.is_file() else sorted(folder.glob("*/config.yaml"))
    known: list[str] = []
    for path in configs:
        raw, templates = read_config(path)
        if not is_mlebench_config(raw):
            continue
        if agent_id in raw:
            return mlebench_agent(path, raw, agent_id)
        known.extend(agent_ids(path, raw, templates))
    shown = ", ".join(known[:20]) or "none"
    raise NotFoundError(f"no MLE-bench agent {agent_id!r} in {folder} (agent ids there: {shown})")


def mlebench_agent(path: Path, raw: dict, agent_id: str) -> AgentConfig:
    """The `AgentConfig` of one id; every bad field is a SpecError naming file, id and field."""
    entry = raw.get(agent_id)
    where = f"{path}: agent {agent_id!r}"
    if not isinstance(entry, dict):
        raise SpecError(f"{where} must be a mapping with 'start' and 'dockerfile'")
    unknown = sorted(str(k) for k in set(entry) - _FIELDS)
    if unknown:
        raise SpecError(
            f"{where}: unknown field {unknown[0]!r} (known: {', '.join(sorted(_FIELDS))})"
        )
    folder = path.parent.resolve()
    start = _inside(where, "start", entry.get("start"), folder)
    kwargs = _kwargs(where, entry)
    env, secret_env = _env_vars(where, entry.get("env_vars"))
    privileged = entry.get("privileged", False)
    if not isinstance(privileged, bool):
        raise SpecError(f"{where}: field 'privileged' must be true or false")
    return AgentConfig(
        name=agent_id,
        dir=folder,
        command=("bash", f"{{agent_dir}}/{start}"),
        dockerfile=_inside(where, "dockerfile", entry.get("dockerfile"), folder),
        env=env,
        secret_env=secret_env,
        kwargs=kwargs,
        # at network none the model gateway is its only way to a model: a plain name in a
        # sweep's `models:` is served by it (the key secret is then the trial's token)
        gateway=True,
        description=f"MLE-bench agent {agent_id} ({path})"
        + ("; privileged: mleray does not run it" if privileged else ""),
        mlebench=MlebenchStart(
            agent_id=agent_id,
            start=start,
            kwargs_type=entry.get("kwargs_type"),
            config=path,
            privileged=privileged,
        ),
    )


def _inside(where: str, key: str, value: object, folder: Path) -> str:
    """A file named relative to the agents folder (MLE-bench's way: `aide/start.sh`) or to
    the agent's own folder, as a path inside the agent's folder (which is the build
    context, copied to AGENT_DIR)."""
    if not isinstance(value, str) or not value:
        raise SpecError(f"{where}: field {key!r} must be a file path, got {value!r}")
    for base in (folder.parent, folder):
        target = (base / value).resolve()
        if target.is_file():
            if folder not in target.parents:
                raise SpecError(
                    f"{where}: field {key!r} names {target}, outside the agent's folder {folder}"
                )
            return target.relative_to(folder).as_posix()
    raise SpecError(f"{where}: field {key!r} names {value!r}, which is not a file")


def _kwargs(where: str, entry: dict) -> dict:
    kwargs = entry.get("kwargs") or {}
    kwargs_type = entry.get("kwargs_type")
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise SpecError(f"{where}: field 'kwargs' must be a mapping with string keys")
    if kwargs_type is not None and kwargs_type not in KWARGS_TYPES:
        raise SpecError(
            f"{where}: field 'kwargs_type' must be one of {', '.join(KWARGS_TYPES)}, "
            f"got {kwargs_type!r}"
        )
    if kwargs and kwargs_type is None:
        raise SpecError(f"{where}: has 'kwargs' but no 'kwargs_type' (omegaconf or argparse)")
    for key, value in kwargs.items():
        if isinstance(value, str) and "secrets." in value and "${{" in value:
            raise SpecError(
                f"{where}: field 'kwargs.{key}' uses a secret; mleray passes secrets only "
                "as environment variables (move it to 'env_vars')"
            )
    return dict(kwargs)


def _env_vars(where: str, value: object) -> tuple[dict[str, str], dict[str, str]]:
    """(plain variables, variable -> secret name); mleray's own variables are dropped."""
    if value is None:
        return {}, {}
    if not isinstance(value, dict):
        raise SpecError(f"{where}: field 'env_vars' must be a mapping")
    plain, secrets = {}, {}
    for key, val in value.items():
        name = str(key)
        if not _ENV_NAME.match(name):
            raise SpecError(f"{where}: field 'env_vars.{name}' is not a variable name")
        if name in RESERVED_ENV or name.startswith("MLERAY_") or name in GATEWAY_ENV:
            continue  # mleray sets it for every run (the gateway's: the trial's token)
        if not isinstance(val, (str, int, float, bool)):
            raise SpecError(f"{where}: field 'env_vars.{name}' must be a string or a number")
        text = str(val)
        secret = _SECRET.match(text)
        if secret:
            secrets[name] = secret.group(1)
        elif "${{" in text and "secrets." in text:
            raise SpecError(
                f"{where}: field 'env_vars.{name}' must be exactly '${{{{ secrets.NAME }}}}' "
                "to use a secret"
            )
        else:
            plain[name] = text
    return plain, secrets
