"""Sandboxes: where an agent attempt runs, chosen by name from a registry. Built in:
`docker` (isolated, the default) and `local` (a subprocess, isolates nothing: for agent
development and fast tests). A third backend implements `Sandbox` (see `base`), registers
a factory with `register_sandbox`, and runs `mleray.sandbox.conformance`."""

from __future__ import annotations

from collections.abc import Callable

from mleray.errors import SpecError
from mleray.sandbox.base import (
    HostSocketDir,
    RunRequest,
    Sandbox,
    SandboxResult,
    ServiceFile,
    ServiceSpec,
    Snapshot,
)

SandboxFactory = Callable[[], Sandbox]
_FACTORIES: dict[str, SandboxFactory] = {}


def register_sandbox(name: str, factory: SandboxFactory) -> None:
    """Make `get_sandbox(name)` call `factory()`; a later registration of a name wins."""
    _FACTORIES[name] = factory


def get_sandbox(name: str) -> Sandbox:
    """A new backend by name; SpecError naming the known ones for any other name."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise SpecError(f"unknown sandbox {name!r} (known: {', '.join(_FACTORIES)})")
    return factory()


def __getattr__(name: str):
    if name == "SANDBOXES":  # the registered names, as they are when asked
        return tuple(_FACTORIES)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _docker() -> Sandbox:
    from mleray.sandbox.docker import DockerSandbox  # imports the docker SDK: only on use

    return DockerSandbox()


def _local() -> Sandbox:
    from mleray.sandbox.local import LocalSandbox

    return LocalSandbox()


register_sandbox("docker", _docker)
register_sandbox("local", _local)

__all__ = [
    "HostSocketDir",
    "RunRequest",
    "Sandbox",
    "SandboxResult",
    "ServiceFile",
    "ServiceSpec",
    "Snapshot",
    "SANDBOXES",
    "get_sandbox",
    "register_sandbox",
]
