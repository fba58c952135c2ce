"""An agent whose image is not built is built where it runs: by `check_ready` on the
driver's node, and by the sandbox itself on any other node (what a cluster's worker
does), once per content hash even when several trials start at once; a prebuilt `image:`
that is missing stays a clear `docker pull` error."""

from __future__ import annotations

import shutil
import threading
import uuid

import pytest

from mleray.agents import load_agent
from mleray.errors import FailureKind, InfraError, SandboxUnavailableError
from mleray.sandbox.docker import DockerSandbox
from tests.helpers.hardening import HARDENING_DIR, hardening_request

pytestmark = pytest.mark.docker


@pytest.fixture
def unbuilt(tmp_path, probe_image):
    """A copy of the hardening agent under a name no image has; its images removed after."""
    import docker

    name = f"unbuilt-{uuid.uuid4().hex[:8]}"
    folder = tmp_path / name
    shutil.copytree(HARDENING_DIR, folder)
    config = (folder / "config.yaml").read_text().replace("mleray-test-hardening", name)
    (folder / "config.yaml").write_text(config)
    yield load_agent(folder)
    client = docker.from_env()
    for image in client.images.list(name=f"mleray-agent-{name}"):
        client.images.remove(image.id, force=True)


def test_concurrent_runs_build_a_missing_image_once(tmp_path, unbuilt):
    lines: list[str] = []
    sandbox = DockerSandbox(progress=lines.append)
    requests = [hardening_request(tmp_path / str(i), "submit", agent=unbuilt) for i in range(2)]
    results = [None, None]

    def run(i):
        results[i] = sandbox.run(requests[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert [r.status for r in results] == [FailureKind.COMPLETED] * 2, [r.error for r in results]
    builds = [line for line in lines if line.startswith("building image")]
    assert len(builds) == 1, lines  # the second run waited for the first one's build
    assert any(line.startswith("Step 1/") for line in lines)  # the builder's own output
    assert sandbox.check_ready(unbuilt) == builds[0].split()[2]  # built: nothing to do now
    assert len([line for line in lines if line.startswith("building image")]) == 1


def test_a_missing_prebuilt_image_says_docker_pull(tmp_path, probe_image):
    folder = tmp_path / "prebuilt"
    folder.mkdir()
    (folder / "config.yaml").write_text(
        'name: prebuilt\nimage: "mleray-test-no-such-image:1"\ncommand: ["python3", "x.py"]\n'
    )
    agent = load_agent(folder)
    with pytest.raises(SandboxUnavailableError, match="docker pull mleray-test-no-such-image:1"):
        DockerSandbox().check_ready(agent)
    with pytest.raises(InfraError, match="docker pull mleray-test-no-such-image:1"):
        DockerSandbox().run(hardening_request(tmp_path, "submit", agent=agent))
