"""Docker isolation: what a hostile agent tries must fail. Network checks stay on loopback.

The probe agent (mode `isolation`) greps the whole container filesystem (minus /proc,
/sys, /dev) for a canary planted in the private answers and, as a positive control, for
another planted in the public data; tries to write /home/data; lists network interfaces
and connects over loopback; looks for a Docker socket; tries to become root.
"""

from __future__ import annotations

import json
import uuid

import pytest

from mleray.errors import FailureKind
from mleray.sandbox import get_sandbox
from tests.helpers.sandbox import SWEEP, make_competition, probe_request

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def isolation_report(tmp_path_factory, probe_image):
    tmp = tmp_path_factory.mktemp("isolation")
    private_canary = f"PRIVATE-CANARY-{uuid.uuid4().hex}"
    public_canary = f"PUBLIC-CANARY-{uuid.uuid4().hex}"
    public = make_competition(tmp / "comp", canary=private_canary)
    (public / "notes.txt").write_text(f"{public_canary}\n")
    assert private_canary in (tmp / "comp" / "private" / "answers.csv").read_text()
    request = probe_request(
        tmp,
        "isolation",
        time_limit=120.0,
        kwargs={"private_canary": private_canary, "public_canary": public_canary},
    )
    result = get_sandbox("docker").run(request)
    assert result.status == FailureKind.COMPLETED.value, result.error
    return json.loads((result.logs_dir / "isolation.json").read_text()), tmp


def test_private_answers_are_unreachable(isolation_report):
    report, _ = isolation_report
    assert report["public_canary_found"] == ["/home/data/notes.txt"]  # the search works...
    assert report["private_canary_found"] == []  # ...and the answers are nowhere


def test_data_is_read_only(isolation_report):
    report, tmp = isolation_report
    assert report["data_write"].startswith("refused"), report["data_write"]
    assert not (tmp / "comp" / "public" / "planted.txt").exists()


def test_no_network_but_loopback(isolation_report):
    report, _ = isolation_report
    assert report["interfaces"] == ["lo"]
    assert report["loopback_works"] is True


def test_no_docker_socket(isolation_report):
    report, _ = isolation_report
    assert report["docker_sockets"] == []


def test_not_root_and_cannot_become_root(isolation_report):
    report, _ = isolation_report
    assert report["uid"] == 1000 and report["euid"] == 1000
    assert report["setuid_root"].startswith("refused")


def test_memory_limit_gives_oom(tmp_path, probe_image):
    request = probe_request(tmp_path, "oom", memory_bytes=128 * 1024**2, kwargs={"mb": 1024})
    result = get_sandbox("docker").run(request)
    assert result.status == FailureKind.OOM.value, (result.status, result.error)
    assert result.exit_code != 0 and "out of memory" in result.error
    assert result.submission_path is None


def test_no_labelled_container_is_left(probe_image):
    """Runs after the others in this file: nothing of this suite's sweep remains."""
    import docker

    client = docker.from_env()
    left = client.containers.list(all=True, filters={"label": [f"mleray.sweep={SWEEP}"]})
    assert left == []
