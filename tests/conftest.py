"""Shared test set-up: markers that skip with a reason when a dependency is missing.

Set MLERAY_REQUIRE_DOCKER=1 (CI does) to make a missing Docker engine a failure, not a skip.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def _docker_ok() -> tuple[bool, str]:
    try:
        import docker

        docker.from_env(timeout=5).ping()
        return True, ""
    except Exception as exc:  # any failure means "no usable engine"
        return (
            False,
            f"no Docker engine answers ({type(exc).__name__}); run scripts/setup-docker.sh",
        )


def pytest_collection_modifyitems(config, items):
    if not any(item.get_closest_marker("docker") for item in items):
        return
    ok, why = _docker_ok()
    if ok:
        return
    if os.environ.get("MLERAY_REQUIRE_DOCKER") == "1":
        raise pytest.UsageError(f"MLERAY_REQUIRE_DOCKER=1 but {why}")
    skip = pytest.mark.skip(reason=why)
    for item in items:
        if item.get_closest_marker("docker"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def builtin_data(tmp_path_factory):
    """A session data dir holding every competition of the `builtin` split, prepared once.

    Sets MLERAY_DATA_DIR to it for the whole session (subprocesses and Ray workers inherit
    it), so `mleray.registry.get_competition(id)` finds the prepared data; returns the dir.
    """
    from mleray import data, registry

    root = tmp_path_factory.mktemp("mleray-data")
    previous = os.environ.get("MLERAY_DATA_DIR")
    os.environ["MLERAY_DATA_DIR"] = str(root)
    for competition_id in registry.load_split("builtin"):
        data.prepare_competition(registry.get_competition(competition_id, extra_paths=[]))
    yield root
    if previous is None:
        os.environ.pop("MLERAY_DATA_DIR", None)
    else:
        os.environ["MLERAY_DATA_DIR"] = previous


@pytest.fixture(scope="session")
def probe_image():
    """The sandbox probe agent's image tag (and the base image, if missing: minutes, once)."""
    from tests.helpers.sandbox import build_probe_image

    return build_probe_image()
