"""Services beside the agent: what both backends hand `bin/mleray-launch`, and reading how
it went.

When a request has services, the backend's command becomes
`mleray-launch CONFIG -- AGENT COMMAND...`: the launcher (stdlib only, so any image with
python3 runs it) starts each service, waits for it to get ready, then execs the agent
command, so the agent is the process the backend signals and waits for. It writes
`mleray-services.json` into the logs folder; when a service fails it exits with
`SERVICE_FAILED_EXIT` instead of starting the agent, and `launch_failure` turns the file
into the run's infra_error message.

The logs folder is the agent's, so an agent could write that file and exit 86 itself to
pass its failure off as mleray's (an infra_error, retried and left out of pass@k). Each run
therefore gets a fresh launch key in a file only the launcher reads: it removes the file
before any service or the agent starts, and writes the key into the status only when it
fails, before the agent could ever run. A status without the run's key is not mleray's.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path

from mleray.sandbox.base import RunRequest, ServiceFile

LAUNCHER = Path(__file__).resolve().parent / "bin" / "mleray-launch"
SERVICE_FAILED_EXIT = 86  # the launcher's exit code when the agent was never started
STATUS_NAME = "mleray-services.json"  # in the logs folder
SERVICE_LOGS = "mleray-services"  # logs/<this>/<service>.log


def new_launch_key() -> str:
    """A run's launch key (see the module doc)."""
    return secrets.token_hex(16)


def launch_config(
    request: RunRequest, services_root: str, logs_dir: str, key_file: str | None = None
) -> str:
    """The launcher's JSON config: each service's command (its folder filled in), env and
    readiness, in start order, and where its launch key is (the key itself is not here);
    no secrets (services inherit them from the environment)."""
    services = [
        {
            "name": service.name,
            "command": service.command_for(f"{services_root}/{service.name}"),
            "cwd": f"{services_root}/{service.name}",
            "env": dict(service.env),
            "ready_port": service.ready_port,
            "ready_timeout": service.ready_timeout,
        }
        for service in request.services
    ]
    config = {"services": services, "logs_dir": logs_dir, "key_file": key_file}
    return json.dumps(config, indent=1, sort_keys=True)


def launched_command(
    request: RunRequest, agent_command: Sequence[str], launcher: Sequence[str], config: str
) -> list[str]:
    """The command the backend runs: the agent's own without services, else the launcher's."""
    if not request.services:
        return list(agent_command)
    return [*launcher, config, "--", *agent_command]


def service_files(request: RunRequest) -> Iterator[tuple[str, ServiceFile]]:
    """(path relative to the services root, file) of every file the services need."""
    for service in request.services:
        for file in service.files:
            yield f"{service.name}/{file.path}", file


def launch_failure(
    collected_logs: Path | None, exit_code: int | None, launch_key: str = ""
) -> str | None:
    """The launcher's message when it did not start the agent, else None (also for a
    status that does not hold this run's `launch_key`: the agent wrote it)."""
    if exit_code != SERVICE_FAILED_EXIT or collected_logs is None or not launch_key:
        return None
    try:
        status = json.loads((collected_logs / STATUS_NAME).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(status, dict) or status.get("key") != launch_key:
        return None
    error = status.get("error")
    return error if isinstance(error, str) and error else None
