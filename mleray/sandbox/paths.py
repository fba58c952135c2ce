"""`AgentPaths`: where the agent finds things, as the agent sees them (container paths for
docker, scratch-workspace paths for local). Both contracts (mleray's and MLE-bench's) say
where each thing is through one of these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# host files the sandbox puts into every run
SANDBOX_DIR = Path(__file__).resolve().parent
VALIDATE_WRAPPER = SANDBOX_DIR / "bin" / "validate-submission"
VALIDATOR = SANDBOX_DIR.parent / "grading" / "validate.py"


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
    home: str  # HOME and the working directory


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
