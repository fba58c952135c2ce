"""The container of one trial attempt: its settings, the files mleray puts into it, its
name and labels, and removing it.

Settings: the agent's image, the competition's public folder bind-mounted read-only at
/home/data and the request's host socket folders read-only at their paths (nothing else of
the host is mounted: no private answers, never the Docker socket), user 1000:1000, all
capabilities dropped, no-new-privileges, `network_mode="none"` unless the agent config
asks for `bridge`, CPU, memory (= memory+swap, so OOM is real), pids and shm limits, capped
json logs, and docker-init as PID 1 so SIGTERM reaches the agent (PID 1 ignores signals it
has no handler for).

Labels `mleray.managed=1`, `mleray.sweep` and `mleray.trial_id` let `reap` remove orphans
of dead actors. `mleray.sweep` holds the trial's results key (see `mleray.plan`), not the
sweep's name; the label keeps its name so that containers of running sweeps and users'
`docker ps --filter label=mleray.sweep=...` keep working.

The runtime files (instructions.md, validate-submission and its validator, and for
services the launcher, its config and the services' files) are put into the created
container before it starts, so any image works and grading changes need no rebuild.
"""

from __future__ import annotations

import io
import tarfile
import time
import uuid
from pathlib import Path

from mleray.sandbox.base import RunRequest
from mleray.sandbox.contract import (
    VALIDATE_WRAPPER,
    VALIDATOR,
    agent_command,
    agent_environment,
    container_paths,
    instructions_text,
    runtime_files,
)
from mleray.sandbox.services import LAUNCHER, launch_config, launched_command, service_files

LABEL_MANAGED = "mleray.managed"
LABEL_RESULTS_KEY = "mleray.sweep"  # holds the results key; named so since the first release
LABEL_TRIAL = "mleray.trial_id"
AGENT_UID = 1000
OUTPUT_LOG_CAP = "10m"  # json-file max-size: the agent's stdout cannot fill the host disk
LAUNCHER_PATH = "/opt/mleray/bin/mleray-launch"
LAUNCH_CONFIG_PATH = "/opt/mleray/launch.json"
LAUNCH_KEY_PATH = "/opt/mleray/run/launch-key"  # in a folder of the agent user's: unlinkable
SERVICES_ROOT = "/opt/mleray/services"


def container_name(request: RunRequest) -> str:
    def safe(text: str, size: int) -> str:
        return "".join(c if c.isalnum() or c in "_.-" else "-" for c in text)[:size]

    key, trial = safe(request.results_key, 24), safe(request.trial_id, 24)
    return f"mleray-{key}-{trial}-{uuid.uuid4().hex[:6]}"


def container_environment(request: RunRequest, devices_attached: bool) -> dict[str, str]:
    env = agent_environment(request, container_paths(request.agent), devices_attached)
    env.update({sockets.env_var: sockets.container_dir for sockets in request.host_sockets})
    return env


def create_container(client, request: RunRequest, tag: str, name: str, gpus: bool):
    """The created (not started) container; `gpus`: attach the granted GPUs as devices."""
    from docker.types import DeviceRequest, LogConfig, Mount

    attach = bool(request.gpu_ids) and gpus
    devices = [
        DeviceRequest(driver="nvidia", device_ids=list(request.gpu_ids), capabilities=[["gpu"]])
    ]
    paths = container_paths(request.agent)
    data = Mount(
        target=paths.data,
        source=str(Path(request.public_dir).resolve()),
        type="bind",
        read_only=True,
    )
    sockets = [
        Mount(
            target=s.container_dir,
            source=str(Path(s.host_dir).resolve()),
            type="bind",
            read_only=True,
        )
        for s in request.host_sockets
    ]
    command = agent_command(request, paths.agent_dir)
    limits = request.limits()
    return client.containers.create(
        image=tag,
        command=launched_command(request, command, [LAUNCHER_PATH], LAUNCH_CONFIG_PATH),
        name=name,
        labels={
            LABEL_MANAGED: "1",
            LABEL_RESULTS_KEY: request.results_key,
            LABEL_TRIAL: request.trial_id,
        },
        environment=container_environment(request, devices_attached=attach),
        user=f"{AGENT_UID}:{AGENT_UID}",
        working_dir=paths.home,
        mounts=[data, *sockets],
        network_mode=request.agent.network,
        nano_cpus=int(request.cpus * 1e9),
        mem_limit=request.memory_bytes,
        memswap_limit=request.memory_bytes,
        pids_limit=limits.pids,
        shm_size=limits.shm_bytes,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        init=True,
        device_requests=devices if attach else [],
        log_config=LogConfig(
            type="json-file", config={"max-size": OUTPUT_LOG_CAP, "max-file": "1"}
        ),
        detach=True,
    )


def runtime_archive(request: RunRequest, launch_key: str = "") -> bytes:
    """The files every run adds to the container: the agent's home layout (owned by the
    agent user, in case the image lacks it), instructions.md and validate-submission; with
    services, the launcher, its config and the services' files (owned by root), and the
    run's launch key (the agent user's: the launcher removes it before anything starts)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for folder in ("home/submission", "home/logs", "home/code", "home/agent"):
            _add(archive, folder, None, 0o755, AGENT_UID)
        for folder in ("opt/mleray", "opt/mleray/bin"):
            _add(archive, folder, None, 0o755, 0)
        paths = container_paths(request.agent)
        instructions = instructions_text(request, paths)
        _add(archive, paths.instructions.lstrip("/"), instructions.encode(), 0o644, 0)
        for path, data, mode in runtime_files(request, paths):  # the agent's contract's own
            _add(archive, path.lstrip("/"), data, mode, 0)
        _add(archive, "opt/mleray/bin/validate-submission", VALIDATE_WRAPPER.read_bytes(), 0o755, 0)
        if VALIDATOR.is_file():
            _add(archive, "opt/mleray/validate.py", VALIDATOR.read_bytes(), 0o644, 0)
        if request.services:
            _add_services(archive, request, launch_key)
    return buffer.getvalue()


def _add_services(archive: tarfile.TarFile, request: RunRequest, launch_key: str) -> None:
    root = SERVICES_ROOT.lstrip("/")
    key_file = LAUNCH_KEY_PATH if launch_key else None
    logs = container_paths(request.agent).logs
    config = launch_config(request, SERVICES_ROOT, logs, key_file)
    if launch_key:
        _add(archive, LAUNCH_KEY_PATH.rsplit("/", 1)[0].lstrip("/"), None, 0o700, AGENT_UID)
        _add(archive, LAUNCH_KEY_PATH.lstrip("/"), launch_key.encode(), 0o600, AGENT_UID)
    _add(archive, LAUNCHER_PATH.lstrip("/"), LAUNCHER.read_bytes(), 0o755, 0)
    _add(archive, LAUNCH_CONFIG_PATH.lstrip("/"), config.encode(), 0o644, 0)
    folders = {root} | {f"{root}/{service.name}" for service in request.services}
    files = list(service_files(request))
    for relative, _ in files:
        parent = Path(relative).parent
        folders.update(f"{root}/{p.as_posix()}" for p in (parent, *parent.parents) if str(p) != ".")
    for folder in sorted(folders):
        _add(archive, folder, None, 0o755, 0)
    for relative, file in files:
        _add(archive, f"{root}/{relative}", file.data, file.mode, 0)


def _add(archive: tarfile.TarFile, name: str, data: bytes | None, mode: int, owner: int) -> None:
    info = tarfile.TarInfo(name)
    info.mode, info.uid, info.gid, info.mtime = mode, owner, owner, int(time.time())
    if data is None:
        info.type = tarfile.DIRTYPE
        archive.addfile(info)
    else:
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))


class NamedContainer:
    """A container known only by name, for removal (`create` may not have returned)."""

    def __init__(self, client, name: str):
        self.client, self.name = client, name

    def remove(self, **options) -> None:
        if self.client is not None:
            self.client.api.remove_container(self.name, **options)


def remove_container(container) -> bool:
    """Remove a container; never raises for the engine's sake: a result in hand must not
    be lost to a failed clean-up, and the reaper removes what is left by label."""
    import docker
    import requests

    try:
        container.remove(force=True, v=True)
        return True
    except docker.errors.NotFound:
        return False
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return False  # removal already in progress, or the engine is gone
