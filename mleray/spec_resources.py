"""What one trial of a sweep asks for: `resources:` of the sweep, or of one of its agents.

    resources: {gpus: 0.25, cpus: 2, memory: 8g}      # the sweep's, for every agent
    agents:
      - {name: aide, resources: {gpus: 1}}            # this agent's: gpus 1, cpus 2, 8g

An agent's `resources` names only what differs: each key it leaves out is the sweep's.
Every value is checked as the sweep's are (`mleray.spec_limits`), and a bad one is a
`SpecError` naming the agent's field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mleray import spec_limits as limits
from mleray.errors import SpecError

RESOURCE_KEYS = {"gpus", "cpus", "memory", "pids", "shm", "disk"}


@dataclass(frozen=True)
class Resources:
    gpus: float = 0.0  # 0, a whole number, or 1/k
    cpus: float = 1.0
    memory_bytes: int = 4 * 1024**3
    # the sandbox's bounds; None: the agent's config.yaml `resources`, else mleray's defaults
    pids: int | None = None  # processes and threads
    shm_bytes: int | None = None  # /dev/shm (counts against memory)
    disk_bytes: int | None = None  # what the agent may write into its container

    def sandbox_bounds(self) -> dict:
        """`pids`, `shm` and `disk` as a spec writes them, where set."""
        named = {"pids": self.pids, "shm": self.shm_bytes, "disk": self.disk_bytes}
        return {key: value for key, value in named.items() if value is not None}

    def as_written(self) -> dict:
        """The mapping a spec writes (memory in bytes), which parses back to these."""
        return {
            "gpus": self.gpus,
            "cpus": self.cpus,
            "memory": self.memory_bytes,
            **self.sandbox_bounds(),
        }


def parse_resources(
    source: str, where: str, raw: Any, under: Mapping[str, Any] | None = None
) -> Resources:
    """`raw` is the mapping at field `where`; `under`, the sweep's mapping that an agent's
    `resources` overrides key by key (None for the sweep's own)."""
    if not isinstance(raw, dict):
        raise SpecError(
            f"{source}: field `{where}` must be a mapping (gpus, cpus, memory, pids, shm, disk)"
        )
    limits.no_unknown(source, f"{where}.", raw, RESOURCE_KEYS)
    merged = {**(under or {}), **raw}
    gpus = limits.check_gpu_share(merged.get("gpus", 0), f"{source}: field `{where}.gpus`")
    cpus = limits.number(
        source, f"{where}.cpus", merged.get("cpus", 1), 0, limits.MAX_CPUS, low_open=True
    )
    at = f"{source}: field `{where}.memory`"
    memory = limits.parse_memory(merged.get("memory", "4g"), at)
    if memory < limits.MIN_MEMORY:
        raise SpecError(f"{at}: {memory} bytes is below Docker's minimum of 6 MiB")
    pids, shm, disk = limits.sandbox_limits(source, f"{where}.", merged)
    return Resources(gpus, float(cpus), memory, pids=pids, shm_bytes=shm, disk_bytes=disk)
