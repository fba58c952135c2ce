"""The sandbox conformance suite (`mleray.sandbox.conformance`) on every built-in backend:
each check × each backend. Docker cases are marked `docker`."""

from __future__ import annotations

import pytest

from mleray.sandbox import get_sandbox
from mleray.sandbox.conformance import CHECKS

BACKENDS = [
    pytest.param("local", id="local"),
    pytest.param("docker", id="docker", marks=pytest.mark.docker),
]


@pytest.mark.parametrize("check", CHECKS, ids=[check.__name__ for check in CHECKS])
@pytest.mark.parametrize("backend", BACKENDS)
def test_conformance(backend, check, tmp_path, request):
    if backend == "docker":
        request.getfixturevalue("probe_image")
    check(lambda: get_sandbox(backend), tmp_path)
