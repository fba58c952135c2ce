"""What every backend gives the agent: the environment variables and /home/instructions.md.

Both backends call `agent_environment` with the paths the agent sees (container paths for
docker, scratch-workspace paths for local), so agents read the same MLERAY_* variables
everywhere and never hard-code /home.

An agent from an MLE-bench folder gets MLE-bench's contract on top (`mlebench_contract`):
its paths (`container_paths`), start command (`agent_command`), variables, instructions,
extra files (`runtime_files`) and the validation endpoint (`with_contract_services`).
"""

from __future__ import annotations

import json
from dataclasses import replace
from string import Template

from mleray.agent_config import AgentConfig
from mleray.sandbox import mlebench_contract
from mleray.sandbox.base import RunRequest
from mleray.sandbox.paths import (  # the paths and files, re-exported for the backends
    CONTAINER_PATHS,
    SANDBOX_DIR,
    VALIDATE_WRAPPER,  # noqa: F401
    VALIDATOR,  # noqa: F401
    AgentPaths,
)

INSTRUCTIONS_TEMPLATE = SANDBOX_DIR / "instructions.md"
OUTPUT_LOG_NAME = "mleray-agent-output.log"  # the agent's stdout+stderr, in the logs artifact


def container_paths(agent: AgentConfig) -> AgentPaths:
    """Where things are inside a container for this agent (MLE-bench's layout for its agents)."""
    return mlebench_contract.CONTAINER_PATHS if agent.mlebench else CONTAINER_PATHS


def agent_command(request: RunRequest, agent_dir: str) -> list[str]:
    """The agent's command, its folder at `agent_dir` (an MLE-bench agent's with its kwargs)."""
    if request.agent.mlebench:
        return mlebench_contract.start_command(request, agent_dir, agent_kwargs(request))
    return request.agent.command_for(agent_dir)


def with_contract_services(request: RunRequest) -> RunRequest:
    """The request with the services its contract needs beside the agent, first."""
    if not request.agent.mlebench:
        return request
    return replace(request, services=(mlebench_contract.validation_service(), *request.services))


def runtime_files(request: RunRequest, paths: AgentPaths) -> list[tuple[str, bytes, int]]:
    """(absolute path, bytes, mode) of the contract's files beyond mleray's own."""
    return mlebench_contract.runtime_files(paths) if request.agent.mlebench else []


def gpu_environment(gpu_ids: tuple[str, ...], devices_attached: bool) -> dict[str, str]:
    """GPU variables. With a DeviceRequest the container sees only the granted devices,
    renumbered from 0, so CUDA_VISIBLE_DEVICES must be 0..n-1 there (the host ids would
    name devices that do not exist inside); NVIDIA_VISIBLE_DEVICES keeps the host ids, as
    the NVIDIA runtime reads it on the host side. Without attached devices (GPUs only
    declared to Ray) the granted ids are passed through unchanged."""
    ids = ",".join(gpu_ids)
    if not gpu_ids:
        return {"MLERAY_GPU_IDS": "", "CUDA_VISIBLE_DEVICES": "", "NVIDIA_VISIBLE_DEVICES": "none"}
    cuda = ",".join(str(i) for i in range(len(gpu_ids))) if devices_attached else ids
    return {"MLERAY_GPU_IDS": ids, "CUDA_VISIBLE_DEVICES": cuda, "NVIDIA_VISIBLE_DEVICES": ids}


def agent_kwargs(request: RunRequest) -> dict:
    """The agent's default kwargs overridden by the request's."""
    return {**request.agent.kwargs, **request.kwargs}


def agent_environment(
    request: RunRequest, paths: AgentPaths, devices_attached: bool = False
) -> dict[str, str]:
    """Every variable the agent gets, secrets included (callers must never log this).
    The agent's own env may change HOME and the like, never mleray's variables."""
    agent = request.agent
    defaults = {"HOME": paths.home, "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
    if agent.mlebench:  # its Dockerfile's variables (mleray's values), HOME in a container
        in_container = paths == mlebench_contract.CONTAINER_PATHS
        defaults.update(mlebench_contract.environment(paths, docker=in_container))
    own = {
        "COMPETITION_ID": request.competition_id,
        "MLERAY_SEED": str(request.seed),
        "MLERAY_MODEL": request.model or "",
        "TIME_LIMIT_SECS": f"{request.time_limit:g}",
        "MLERAY_DATA": paths.data,
        "MLERAY_SUBMISSION_DIR": paths.submission,
        "MLERAY_LOGS_DIR": paths.logs,
        "MLERAY_CODE_DIR": paths.code,
        "MLERAY_INSTRUCTIONS": paths.instructions,
        "MLERAY_AGENT_DIR": paths.agent_dir,
        "MLERAY_VALIDATOR": paths.validator,
        "MLERAY_AGENT_KWARGS": json.dumps(agent_kwargs(request), sort_keys=True),
        **gpu_environment(tuple(request.gpu_ids), devices_attached),
    }
    return {**defaults, **agent.env, **request.env, **own, **request.secrets}


def instructions_text(request: RunRequest, paths: AgentPaths) -> str:
    if request.agent.mlebench:
        return mlebench_contract.instructions(paths)
    network = (
        "none: only loopback; no internet access."
        if request.agent.network == "none"
        else "bridge: outbound network access for API calls."
    )
    gpus = ", ".join(request.gpu_ids) if request.gpu_ids else "none"
    return Template(INSTRUCTIONS_TEMPLATE.read_text()).substitute(
        competition_id=request.competition_id,
        data_dir=paths.data,
        submission_dir=paths.submission,
        code_dir=paths.code,
        logs_dir=paths.logs,
        time_limit=f"{request.time_limit:g}",
        grace_period=f"{request.grace_period:g}",
        cpus=f"{request.cpus:g}",
        memory=f"{request.memory_bytes / 1024**3:.3g} GiB",
        gpus=gpus,
        network=network,
    )


def redact(text: str, secrets: dict[str, str] | None) -> str:
    """Replace every secret value (4+ characters; shorter ones would blank out noise)."""
    for value in sorted((secrets or {}).values(), key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, "[secret]")
    return text
