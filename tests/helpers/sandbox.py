"""Sandbox test helpers: the probe agent, the tiny competition and probe requests (from the
library's conformance suite, which uses them too), and building the probe's image."""

from __future__ import annotations

from mleray.sandbox.conformance_probe import (
    PROBE_DIR,
    PROBE_SECRET,
    RESULTS_KEY,
    make_competition,
    probe_agent,
    probe_request,
    read_json,
)

SWEEP = RESULTS_KEY  # the container label value of every probe run
SECRET = PROBE_SECRET


def build_probe_image() -> str:
    """The probe agent's image tag, built when missing (and the base image: minutes, once)."""
    from mleray.sandbox.images import build_agent_image

    return build_agent_image(probe_agent()).tag


__all__ = [
    "PROBE_DIR",
    "SECRET",
    "SWEEP",
    "build_probe_image",
    "make_competition",
    "probe_agent",
    "probe_request",
    "read_json",
]
