"""Container CPU time and peak memory, sampled while the agent runs.

The counters live in the container's cgroup and vanish with it, so they are sampled in
the poll loop and the last sample stands. Where this process sees the engine's cgroup
files (the same host; cgroup v1 with the cgroupfs or systemd driver, or cgroup v2), they
are read directly: cheap enough for every poll, so little of the run's tail is missed.
Elsewhere the Docker stats API (one-shot) is asked, at most every `stats_seconds`.
"""

from __future__ import annotations

import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _cgroup_files(container_id: str) -> tuple[Path, Path] | None:
    """(cpu usage file, memory high-water file) for the container, if visible here."""
    v1 = [("docker", container_id), ("system.slice", f"docker-{container_id}.scope")]
    for parent, name in v1:
        cpu = CGROUP_ROOT / "cpuacct" / parent / name / "cpuacct.usage"
        memory = CGROUP_ROOT / "memory" / parent / name / "memory.max_usage_in_bytes"
        if cpu.is_file() and memory.is_file():
            return cpu, memory
    for parent, name in v1:
        folder = CGROUP_ROOT / parent / name
        if (folder / "cpu.stat").is_file() and (folder / "memory.peak").is_file():
            return folder / "cpu.stat", folder / "memory.peak"
    return None


class UsageSampler:
    def __init__(self, container, stats_seconds: float = 1.0):
        self.container = container
        self.stats_seconds = stats_seconds
        self.cpu_seconds: float | None = None
        self.peak_memory_bytes: int | None = None
        self._files: tuple[Path, Path] | None = None
        self._last_api_sample = 0.0

    def sample(self) -> None:
        """Update the counters; a missed sample (the container just exited) is fine."""
        if self._files is None:
            self._files = _cgroup_files(self.container.id)
        if self._files is not None and self._read_files(*self._files):
            return
        if time.monotonic() - self._last_api_sample >= self.stats_seconds:
            self._last_api_sample = time.monotonic()
            self._read_api()

    def _read_files(self, cpu_file: Path, memory_file: Path) -> bool:
        try:
            cpu_text, memory_text = cpu_file.read_text(), memory_file.read_text()
        except OSError:
            return False
        if cpu_file.name == "cpu.stat":  # cgroup v2: usage_usec in microseconds
            usec = next(
                int(line.split()[1])
                for line in cpu_text.splitlines()
                if line.startswith("usage_usec")
            )
            self._update(usec / 1e6, int(memory_text))
        else:
            self._update(int(cpu_text) / 1e9, int(memory_text))
        return True

    def _read_api(self) -> None:
        try:
            stats = self.container.stats(stream=False, one_shot=True)
        except Exception:  # the container may exit mid-call
            return
        cpu = (stats.get("cpu_stats") or {}).get("cpu_usage", {}).get("total_usage")
        memory = stats.get("memory_stats") or {}
        peak = memory.get("max_usage") or memory.get("usage")  # cgroup v1 has max_usage
        self._update(cpu / 1e9 if cpu else None, int(peak) if peak else None)

    def _update(self, cpu: float | None, peak: int | None) -> None:
        if cpu:
            self.cpu_seconds = max(self.cpu_seconds or 0.0, cpu)
        if peak:
            self.peak_memory_bytes = max(self.peak_memory_bytes or 0, peak)
