"""MLE-bench's container contract, for agents from MLE-bench agent folders.

What MLE-bench's environment gives an agent, and what mleray gives it in its place:
  /home/data (read-only)        the public files and description.md (the same mount)
  /home/submission, /home/logs, /home/code   SUBMISSION_DIR, LOGS_DIR, CODE_DIR
  /home/agent                   AGENT_DIR: the agent folder, copied there by its Dockerfile
  /home/instructions.txt        MLE-bench's benchmark instructions (written by mleray)
  /home/validate_submission.sh  posts a file to http://localhost:5000/validate
  localhost:5000/validate       MLE-bench runs its grader there against answers mounted into
                                the container; mleray answers it with its label-free check
                                (a sidecar service beside the agent): no answers inside.
The agent runs `bash $AGENT_DIR/<start script>` with its kwargs as MLE-bench passes them,
as uid 1000 (MLE-bench's `nonroot`), in /home, with HOME=/home/nonroot.

Nothing here imports the rest of the contract: `mleray.sandbox.contract` dispatches here.
"""

from __future__ import annotations

from pathlib import Path
from string import Template

from mleray.agent_config import AgentConfig
from mleray.sandbox.base import RunRequest, ServiceFile, ServiceSpec
from mleray.sandbox.paths import SANDBOX_DIR, VALIDATE_WRAPPER, AgentPaths

FILES_DIR = SANDBOX_DIR / "mlebench"
INSTRUCTIONS_TEMPLATE = FILES_DIR / "instructions.txt"
VALIDATE_SCRIPT = FILES_DIR / "validate_submission.sh"
VALIDATION_SERVER = SANDBOX_DIR / "bin" / "mlebench-validation-server"
VALIDATION_SERVICE = "mlebench-validation"
VALIDATION_PORT = 5000  # MLE-bench's endpoint: http://localhost:5000/validate
HOME = "/home/nonroot"  # the HOME of MLE-bench's `nonroot` user (uid 1000)

CONTAINER_PATHS = AgentPaths(
    data="/home/data",
    submission="/home/submission",
    logs="/home/logs",
    code="/home/code",
    instructions="/home/instructions.txt",
    agent_dir="/home/agent",
    validator="/opt/mleray/validate.py",
    home="/home",  # the working directory, as in MLE-bench's image (WORKDIR /home)
)
VALIDATE_SCRIPT_PATH = "/home/validate_submission.sh"


def is_mlebench(agent: AgentConfig) -> bool:
    return agent.mlebench is not None


def start_command(request: RunRequest, agent_dir: str, kwargs: dict) -> list[str]:
    """`bash AGENT_DIR/start.sh` and the kwargs, as MLE-bench's `agents/run.py` passes them."""
    agent = request.agent
    return [*agent.command_for(agent_dir), *agent.mlebench.kwargs_args(kwargs)]


def environment(paths: AgentPaths, docker: bool) -> dict[str, str]:
    """The variables MLE-bench's agent Dockerfiles set from its build arguments."""
    env = {
        "SUBMISSION_DIR": paths.submission,
        "LOGS_DIR": paths.logs,
        "CODE_DIR": paths.code,
        "AGENT_DIR": paths.agent_dir,
    }
    if docker:
        env["HOME"] = HOME
    return env


def validate_script_path(paths: AgentPaths) -> str:
    return str(Path(paths.instructions).parent / Path(VALIDATE_SCRIPT_PATH).name)


def instructions(paths: AgentPaths) -> str:
    return Template(INSTRUCTIONS_TEMPLATE.read_text()).substitute(
        instructions=paths.instructions,
        data_dir=paths.data,
        submission_dir=paths.submission,
        validate_script=validate_script_path(paths),
    )


def validation_service(port: int = VALIDATION_PORT) -> ServiceSpec:
    """The sidecar answering localhost:PORT/validate with `validate-submission`."""
    return ServiceSpec(
        name=VALIDATION_SERVICE,
        command=(
            "python3",
            f"{{service_dir}}/{VALIDATION_SERVER.name}",
            "--port",
            str(port),
            "--checker",
            f"{{service_dir}}/{VALIDATE_WRAPPER.name}",
        ),
        files=(
            ServiceFile(VALIDATION_SERVER.name, VALIDATION_SERVER.read_bytes(), 0o755),
            ServiceFile(VALIDATE_WRAPPER.name, VALIDATE_WRAPPER.read_bytes(), 0o755),
        ),
        ready_port=port,
        ready_timeout=60.0,
    )


def runtime_files(paths: AgentPaths) -> list[tuple[str, bytes, int]]:
    """(absolute path, bytes, mode) of the files put into the container besides mleray's."""
    return [(validate_script_path(paths), VALIDATE_SCRIPT.read_bytes(), 0o755)]
