"""`AgentConfig`: one agent, parsed, as plain data (loaded by `mleray.agents` from mleray's
own `config.yaml`, or by `mleray.mlebench_agents` from an MLE-bench agent folder).

It travels inside `RunRequest` to whichever node runs the trial, so it holds no handles.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

CONTAINER_AGENT_DIR = "/opt/agent"
# Set by mleray for every run (GPU grant, identity, time limit): an agent's env may not
# override them, or a config line could take every GPU of a node.
RESERVED_ENV = frozenset(
    {"COMPETITION_ID", "TIME_LIMIT_SECS", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"}
)
KWARGS_TYPES = ("omegaconf", "argparse")  # how MLE-bench passes kwargs to a start script


@dataclass(frozen=True)
class MlebenchStart:
    """What makes an agent an MLE-bench one: it runs with MLE-bench's container contract
    (`mleray.sandbox.mlebench_contract`) and its image is built by
    `mleray.sandbox.mlebench_images`."""

    agent_id: str  # the key in config.yaml, like "aide/dev"
    start: str  # the start script, relative to the agent folder (copied to AGENT_DIR)
    kwargs_type: str | None = None  # one of KWARGS_TYPES, or None when there are no kwargs
    config: Path | None = None  # the config.yaml it came from, for messages
    privileged: bool = False  # MLE-bench's `privileged: true`: mleray refuses to run it

    def kwargs_args(self, kwargs: Mapping[str, object]) -> list[str]:
        """The start script's arguments, as MLE-bench's `agents/run.py` builds them."""
        if self.kwargs_type == "argparse":
            return [part for key, value in kwargs.items() for part in (f"--{key}", str(value))]
        if self.kwargs_type == "omegaconf":
            return [f"{key}={value}" for key, value in kwargs.items()]
        return []


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
    # config.yaml `resources` (a sweep's `resources` wins): None takes mleray's defaults
    pids_limit: int | None = None
    shm_bytes: int | None = None
    disk_bytes: int | None = None
    gateway: bool = False  # plain model names are served by the model gateway (mleray.gateway)
    description: str = ""
    mlebench: MlebenchStart | None = None  # set for an agent from an MLE-bench folder

    @property
    def secrets(self) -> tuple[str, ...]:
        """Names of the host secrets this agent needs."""
        return tuple(sorted(set(self.secret_env.values())))

    def command_for(self, agent_dir: str | os.PathLike) -> list[str]:
        """The command with `{agent_dir}` filled in for where the agent's folder is."""
        return [part.replace("{agent_dir}", str(agent_dir)) for part in self.command]
