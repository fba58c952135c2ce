"""The hardening test agent (tests/agents/hardening), requests for it, its image, and the
containers of a results folder."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from mleray.agents import load_agent, resolve_secrets
from mleray.sandbox.base import RunRequest
from mleray.sandbox.conformance_probe import probe_request

HARDENING_DIR = Path(__file__).resolve().parent.parent / "agents" / "hardening"
HARDENING_SECRET = "hs-4b1d9e77c0a2-must-never-be-stored"
SECRET_ENV = {"MLERAY_TEST_HARDENING_SECRET": HARDENING_SECRET}


def hardening_request(scratch: Path, mode: str, **changes) -> RunRequest:
    """A run of the hardening agent in `mode` on the probe's tiny competition."""
    agent = load_agent(HARDENING_DIR)
    kwargs = {"mode": mode, **changes.pop("kwargs", {})}
    request = probe_request(scratch, mode, kwargs=kwargs)
    request = replace(
        request,
        agent=agent,
        trial_id=f"hardening-{mode}-{time.monotonic_ns()}",
        secrets=resolve_secrets(agent, SECRET_ENV),
    )
    return replace(request, **changes)


def build_hardening_image() -> str:
    from mleray.sandbox.images import build_agent_image

    return build_agent_image(load_agent(HARDENING_DIR)).tag


def containers_labelled(results_key: str, running_only: bool = True) -> list:
    """The containers of a results key (the `mleray.sweep` label)."""
    import docker

    client = docker.from_env()
    return client.containers.list(
        all=not running_only, filters={"label": [f"mleray.sweep={results_key}"]}
    )


def wait_for(predicate, timeout: float, every: float = 0.5):
    """`predicate()`'s first truthy value within `timeout` seconds, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return None
