"""A Docker engine of a test's own (its own socket, data root, exec root and containerd, its
own bridge interface, no iptables rules), so a test can stop and restart it without
touching the engine that other tests share. Its data root is kept between sessions under
/tmp, so the base image is loaded into it once.

Never `--bridge=none`: a dockerd started so deletes the host's `docker0` interface, which
the shared engine's bridge containers and image builds need."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(os.environ.get("MLERAY_TEST_DOCKERD_ROOT", "/tmp/mleray-test-dockerd"))
BRIDGE, BRIDGE_ADDRESS = "mlrtest0", "10.213.213.1/24"  # this engine's own, not docker0


class PrivateDockerd:
    def __init__(self, root: Path = ROOT):
        self.root = root
        self.socket = root / "docker.sock"
        self.host = f"unix://{self.socket}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _own_bridge()
        log = open(self.root / "dockerd.log", "ab")
        self.process = subprocess.Popen(
            [
                "dockerd",
                f"--host={self.host}",
                f"--data-root={self.root / 'data'}",
                f"--exec-root={self.root / 'exec'}",
                f"--pidfile={self.root / 'docker.pid'}",
                f"--bridge={BRIDGE}",
                "--iptables=false",
                "--ip-masq=false",
                "--ip-forward=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not self.answers():
            assert self.process.poll() is None, (self.root / "dockerd.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the private dockerd did not answer"
            time.sleep(0.5)

    def answers(self) -> bool:
        import docker

        try:
            docker.DockerClient(base_url=self.host, timeout=5).ping()
            return True
        except Exception:
            return False

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM to this engine (its pid, no other), as a daemon restart begins."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def remove_bridge(self) -> None:
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)

    def client(self):
        import docker

        return docker.DockerClient(base_url=self.host, timeout=120)

    def load_image(self, tag: str) -> None:
        """Copy `tag` from the shared engine into this one, unless it is there."""
        import docker

        if any(tag in image.tags for image in self.client().images.list()):
            return
        shared = docker.from_env(timeout=600)
        self.client().images.load(b"".join(shared.images.get(tag).save(named=True)))


def _own_bridge() -> None:
    """The bridge interface this engine uses (dockerd needs a `--bridge` to exist)."""
    if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode == 0:
        return
    for command in (
        ["ip", "link", "add", BRIDGE, "type", "bridge"],
        ["ip", "addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE],
        ["ip", "link", "set", BRIDGE, "up"],
    ):
        subprocess.run(command, check=True, capture_output=True)
