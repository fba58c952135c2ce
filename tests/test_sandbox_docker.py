"""Docker-only sandbox behaviour: container settings, labels, usage, missing images,
daemon errors, GPU device requests, reaping, and the built-in agents on every built-in
competition (the baseline must beat the sample submission under mleray's grading)."""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from mleray.agents import get_agent, load_agent
from mleray.errors import FailureKind, InfraError, SandboxUnavailableError
from mleray.sandbox import RunRequest
from mleray.sandbox.docker import DockerSandbox
from tests.helpers.sandbox import PROBE_DIR, SWEEP, probe_request

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def client():
    import docker

    return docker.from_env()


def _find_running(client, trial_id: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = client.containers.list(filters={"label": f"mleray.trial_id={trial_id}"})
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no running container labelled {trial_id}")


def test_container_settings_labels_and_removal(tmp_path, client, probe_image):
    request = probe_request(
        tmp_path, "honour", time_limit=60.0, cpus=0.5, pids_limit=64, shm_bytes=64 * 1024**2
    )
    cancel, results = threading.Event(), []
    worker = threading.Thread(target=lambda: results.append(DockerSandbox().run(request, cancel)))
    worker.start()
    try:
        container = _find_running(client, request.trial_id)
        config, host = container.attrs["Config"], container.attrs["HostConfig"]
    finally:
        cancel.set()
        worker.join(30)
    labels = {"mleray.managed": "1", "mleray.sweep": SWEEP, "mleray.trial_id": request.trial_id}
    assert labels.items() <= config["Labels"].items()
    assert config["User"] == "1000:1000" and config["Image"] == probe_image
    assert (
        host["NanoCpus"] == 500_000_000
        and host["PidsLimit"] == 64
        and host["ShmSize"] == 64 * 1024**2
    )
    assert host["Memory"] == host["MemorySwap"] == 512 * 1024**2
    assert host["CapDrop"] == ["ALL"] and host["SecurityOpt"] == ["no-new-privileges"]
    assert host["NetworkMode"] == "none" and host["Init"] is True and not host.get("Privileged")
    mounts = container.attrs["Mounts"]
    assert [(m["Destination"], m["RW"]) for m in mounts] == [("/home/data", False)]
    assert mounts[0]["Source"] == str(request.public_dir.resolve())
    assert not any("docker.sock" in str(m) for m in mounts + (host.get("Binds") or []))
    assert results and results[0].status == FailureKind.CANCELLED.value
    assert (
        client.containers.list(all=True, filters={"label": f"mleray.trial_id={request.trial_id}"})
        == []
    )


def test_usage_is_sampled(tmp_path, probe_image):
    result = DockerSandbox().run(probe_request(tmp_path, "burn", kwargs={"seconds": 2.0}))
    assert result.status == FailureKind.COMPLETED.value, result.error
    # the agent burns 2 s of CPU; samples every poll may miss only the last moments
    assert result.cpu_seconds is not None and 1.5 < result.cpu_seconds < 4
    assert result.peak_memory_bytes is not None and result.peak_memory_bytes > 1024**2
    assert result.wall_seconds >= 2.0
    assert result.image_id and result.image_id.startswith("sha256:")


def _unbuilt_agent(tmp_path: Path) -> Path:
    folder = tmp_path / "unbuilt-agent"
    shutil.copytree(PROBE_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    config = (
        (folder / "config.yaml")
        .read_text()
        .replace("mleray-test-probe", f"unbuilt-{uuid.uuid4().hex[:8]}")
    )
    (folder / "config.yaml").write_text(config)
    return folder


def test_missing_image_fails_fast_and_clearly(tmp_path):
    """With building turned off (by default a missing image is built: test_autobuild)."""
    folder = _unbuilt_agent(tmp_path)
    agent = load_agent(folder)
    sandbox = DockerSandbox(build_missing=False)
    with pytest.raises(
        SandboxUnavailableError, match=rf"is not built: run `mleray agents build {agent.name}`"
    ):
        sandbox.check_ready(agent)
    request = dataclasses.replace(probe_request(tmp_path, "submit"), agent=agent)
    with pytest.raises(InfraError, match="is not built"):
        sandbox.run(request)


def test_check_ready_returns_the_tag(probe_image):
    assert DockerSandbox().check_ready(load_agent(PROBE_DIR)) == probe_image


def test_daemon_error_is_infra_error(tmp_path):
    import docker

    broken = docker.DockerClient(
        base_url=f"unix://{tmp_path}/no-such-docker.sock", version="1.41", timeout=2
    )
    with pytest.raises(InfraError, match="docker error for trial"):
        DockerSandbox(client=broken).run(probe_request(tmp_path, "submit"))


def test_gpu_ids_become_a_device_request(tmp_path, client, probe_image, monkeypatch):
    monkeypatch.setenv("MLERAY_DOCKER_GPUS", "1")
    sandbox = DockerSandbox()
    request = probe_request(tmp_path, "env", gpu_ids=("1", "3"))
    container = sandbox._create(request, probe_image)
    try:
        host, env = container.attrs["HostConfig"], container.attrs["Config"]["Env"]
    finally:
        container.remove(force=True)
    assert host["DeviceRequests"] == [
        {
            "Driver": "nvidia",
            "Count": 0,
            "DeviceIDs": ["1", "3"],
            "Capabilities": [["gpu"]],
            "Options": {},
        }
    ]
    # inside, the two granted devices are numbered 0 and 1; the runtime reads the host ids
    assert (
        "CUDA_VISIBLE_DEVICES=0,1" in env
        and "NVIDIA_VISIBLE_DEVICES=1,3" in env
        and "MLERAY_GPU_IDS=1,3" in env
    )
    if "nvidia" not in (client.info().get("Runtimes") or {}):
        with pytest.raises(
            InfraError
        ):  # this engine cannot attach GPUs: an infra fault, and cleaned up
            sandbox.run(request)
        assert (
            client.containers.list(
                all=True, filters={"label": f"mleray.trial_id={request.trial_id}"}
            )
            == []
        )


class _InterruptedCreate:
    """A Docker client whose `containers.create` is interrupted (Ctrl-C, a client timeout)
    just after the engine made the container, before the call returned it."""

    def __init__(self, client, error: BaseException):
        self._client, self._error = client, error
        self.api, self.images = client.api, client.images

    @property
    def containers(self):
        outer = self

        class Containers:
            def create(self, **options):
                outer._client.containers.create(**options)
                raise outer._error

        return Containers()


@pytest.mark.parametrize(
    "error, raised",
    [
        (KeyboardInterrupt(), KeyboardInterrupt),
        (requests.exceptions.ReadTimeout("read timed out"), InfraError),
    ],
    ids=["interrupt", "client-timeout"],
)
def test_container_is_removed_when_create_is_interrupted(
    tmp_path, client, probe_image, error, raised
):
    request = probe_request(tmp_path, "submit")
    with pytest.raises(raised):
        DockerSandbox(client=_InterruptedCreate(client, error)).run(request)
    assert (
        client.containers.list(all=True, filters={"label": f"mleray.trial_id={request.trial_id}"})
        == []
    )


def test_bridge_network_only_when_the_agent_asks(tmp_path, probe_image):
    agent = dataclasses.replace(load_agent(PROBE_DIR), network="bridge")
    request = dataclasses.replace(probe_request(tmp_path, "submit"), agent=agent)
    container = DockerSandbox()._create(request, probe_image)
    try:
        assert container.attrs["HostConfig"]["NetworkMode"] == "bridge"
    finally:
        container.remove(force=True)


def test_reap_removes_labelled_containers_of_one_sweep(client, probe_image):
    sweep = f"h3-test-reap-{uuid.uuid4().hex[:8]}"
    other = f"h3-test-reap-other-{uuid.uuid4().hex[:8]}"
    made = [
        client.containers.create(
            probe_image,
            ["sleep", "60"],
            network_mode="none",
            labels={"mleray.managed": "1", "mleray.sweep": name, "mleray.trial_id": "t"},
        )
        for name in (sweep, sweep, other)
    ]
    made[0].start()
    try:
        assert DockerSandbox().reap(sweep) == 2
        left = {
            c.id for c in client.containers.list(all=True, filters={"label": "mleray.managed=1"})
        }
        assert made[0].id not in left and made[1].id not in left and made[2].id in left
    finally:
        for container in made:
            try:
                container.remove(force=True)
            except Exception:
                pass


# --------------------------------------------------------------- built-in agents × competitions


def _builtin_ids() -> list[str]:
    from mleray.registry import load_split

    return load_split("builtin")


@pytest.fixture(scope="module")
def prepared(builtin_data):
    from mleray.data import ensure_prepared
    from mleray.registry import get_competition

    return {comp_id: ensure_prepared(get_competition(comp_id)) for comp_id in _builtin_ids()}


@pytest.fixture(scope="module")
def builtin_images():
    from mleray.sandbox.images import build_agent_image

    return {name: build_agent_image(get_agent(name)).tag for name in ("noop", "sleep", "baseline")}


@pytest.mark.parametrize("competition_id", _builtin_ids())
@pytest.mark.parametrize("agent_name", ["noop", "sleep", "baseline"])
def test_builtin_agent_on_builtin_competition(
    agent_name, competition_id, prepared, builtin_images, tmp_path
):
    from mleray.grading import grade_submission

    comp = prepared[competition_id]
    request = RunRequest(
        trial_id=f"{agent_name}-{competition_id}",
        results_key="h3-test-builtin",
        competition_id=comp.id,
        public_dir=comp.public_dir,
        agent=get_agent(agent_name),
        workdir=tmp_path,
        time_limit=120,
        seed=3,
        cpus=2,
        kwargs={"seconds": 1},
    )
    result = DockerSandbox().run(request)
    assert result.status == FailureKind.COMPLETED.value, result.error
    report = grade_submission(comp, result.submission_path)
    assert report.valid_submission, report.error
    sample = grade_submission(comp, comp.sample_submission_path)
    if agent_name != "baseline":
        assert report.score == sample.score
        return
    better = report.score < sample.score if report.is_lower_better else report.score > sample.score
    assert better, f"baseline {report.score} does not beat the sample submission's {sample.score}"
    assert (result.code_dir / "baseline.py").is_file()
    assert "validate-submission: exit 0" in (result.logs_dir / "baseline.log").read_text()
