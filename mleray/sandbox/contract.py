"""What every backend gives the agent: the environment variables and /home/instructions.md.

Both backends call `agent_environment` with the paths the agent sees (container paths for
docker, scratch-workspace paths for local), so agents read the same MLERAY_* variables
everywhere and never hard-code /home.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from string import Template

from mleray.sandbox.base import RunRequest

SANDBOX_DIR = Path(__file__).resolve().parent
VALIDATE_WRAPPER = SANDBOX_DIR / "bin" / "validate-submission"
VALIDATOR = SANDBOX_DIR.parent / "grading" / "validate.py"
INSTRUCTIONS_TEMPLATE = SANDBOX_DIR / "instructions.md"
OUTPUT_LOG_NAME = "mleray-agent-output.log"  # the agent's stdout+stderr, in the logs artifact


@dataclass(frozen=True)
class AgentPaths:
    """Where the agent finds things, as the agent sees them."""

    data: str
    submission: str
    logs: str
    code: str
    instructions: str
    agent_dir: str
    validator: str
    home: str


CONTAINER_PATHS = AgentPaths(
    data="/home/data",
    submission="/home/submission",
    logs="/home/logs",
    code="/home/code",
    instructions="/home/instructions.md",
    agent_dir="/opt/agent",
    validator="/opt/mleray/validate.py",
    home="/home/agent",
)


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
