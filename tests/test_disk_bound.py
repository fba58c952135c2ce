"""The disk bound: an agent that writes more than `resources.disk` into its container's
filesystem is stopped and ends as agent_error saying so; one that writes less completes."""

from __future__ import annotations

import pytest

from mleray.errors import FailureKind
from mleray.sandbox.docker import DockerSandbox
from tests.helpers.hardening import build_hardening_image, hardening_request

pytestmark = pytest.mark.docker

MIB = 1024**2


@pytest.fixture(scope="module")
def hardening_image(probe_image):
    return build_hardening_image()


def test_writing_past_the_disk_bound_is_an_agent_error(tmp_path, hardening_image):
    request = hardening_request(
        tmp_path, "fill", kwargs={"mb": 200, "seconds": 60}, disk_bytes=64 * MIB, time_limit=120
    )
    result = DockerSandbox(disk_seconds=0.5).run(request)
    assert result.status == FailureKind.AGENT_ERROR, (result.status, result.error)
    assert "over the bound of 64.0 MiB (resources.disk)" in result.error
    assert result.wall_seconds < 50  # stopped, not left to sleep out its 60 s
    assert result.submission_path is None


def test_writing_within_the_disk_bound_completes(tmp_path, hardening_image):
    request = hardening_request(
        tmp_path, "fill", kwargs={"mb": 16, "seconds": 2}, disk_bytes=64 * MIB, time_limit=120
    )
    result = DockerSandbox(disk_seconds=0.5).run(request)
    assert result.status == FailureKind.COMPLETED, result.error
