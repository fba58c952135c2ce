"""Sandboxes: where an agent attempt runs. `docker` (isolated, the default) or `local`
(a subprocess, isolates nothing: for agent development and fast tests)."""

from __future__ import annotations

from mleray.errors import SpecError
from mleray.sandbox.base import RunRequest, Sandbox, SandboxResult, Snapshot

SANDBOXES = ("docker", "local")


def get_sandbox(name: str) -> Sandbox:
    """A new backend by name; SpecError for any other name."""
    if name == "docker":
        from mleray.sandbox.docker import DockerSandbox

        return DockerSandbox()
    if name == "local":
        from mleray.sandbox.local import LocalSandbox

        return LocalSandbox()
    raise SpecError(f"unknown sandbox {name!r} (known: {', '.join(SANDBOXES)})")


__all__ = ["RunRequest", "Sandbox", "SandboxResult", "Snapshot", "SANDBOXES", "get_sandbox"]
