"""An agent cannot pass its own failure off as mleray's: writing the launcher's status file
(logs/mleray-services.json) and exiting 86 is an agent_error, in both backends; a service
that really fails is still an infra_error (the conformance suite checks that)."""

from __future__ import annotations

import pytest

from mleray.errors import FailureKind
from mleray.sandbox import ServiceSpec, get_sandbox
from tests.helpers.hardening import build_hardening_image, hardening_request

IDLE = ServiceSpec(name="idle", command=("python3", "-c", "import time; time.sleep(120)"))


@pytest.mark.parametrize("backend", ["local", pytest.param("docker", marks=pytest.mark.docker)])
@pytest.mark.parametrize("services", [(IDLE,), ()], ids=["with-services", "without"])
def test_a_forged_launcher_status_is_the_agents_error(tmp_path, backend, services, request):
    if backend == "docker":
        request.getfixturevalue("probe_image")
        build_hardening_image()
    run = hardening_request(tmp_path, "forge-launcher-status", services=services)
    result = get_sandbox(backend).run(run)
    assert result.status == FailureKind.AGENT_ERROR, (result.status, result.error)
    assert result.error == "agent exited with code 86"
    assert "forged" in (result.logs_dir / "mleray-services.json").read_text()
