"""Conformance checks of services and host sockets (`RunRequest.services`,
`RunRequest.host_sockets`), with the same signature as those in `conformance`.

Two services beside the probe agent: `echo` answers on 127.0.0.1, `relay` forwards from
127.0.0.1 to a Unix socket in a host folder the request shares, served here by a thread.
All traffic stays on loopback and on that socket; the probe runs at `network: none`.
"""

from __future__ import annotations

import os
import shutil
import socket
import socketserver
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from mleray.errors import FailureKind
from mleray.sandbox.base import HostSocketDir, Sandbox, ServiceFile, ServiceSpec
from mleray.sandbox.conformance_probe import PROBE_DIR, probe_request, read_json

SERVICE_SCRIPTS = PROBE_DIR / "services"
SOCKET_ENV = "MLERAY_TEST_SOCKETS"  # relay.py reads the socket folder from it
SOCKET_TARGET = "/run/mleray-test-sockets"  # where an isolated backend mounts the folder


def free_ports(count: int) -> list[int]:
    """Distinct TCP ports free on this machine's loopback (the local backend shares it)."""
    holders = [socket.socket() for _ in range(count)]
    try:
        for holder in holders:
            holder.bind(("127.0.0.1", 0))
        return [holder.getsockname()[1] for holder in holders]
    finally:
        for holder in holders:
            holder.close()


def script_service(name: str, port: int) -> ServiceSpec:
    """A probe service script (`probe/services/<name>.py PORT`), ready once it listens."""
    script = SERVICE_SCRIPTS / f"{name}.py"
    return ServiceSpec(
        name=name,
        command=("python3", f"{{service_dir}}/{script.name}", str(port)),
        files=(ServiceFile(script.name, script.read_bytes()),),
        ready_port=port,
        ready_timeout=20.0,
    )


class HostSocketServer:
    """A Unix socket `host.sock` in a fresh short-named host folder (socket paths are
    limited to 107 bytes), answering each connection with b"host:" and what it read."""

    def __enter__(self) -> HostSocketServer:
        self.folder = Path(tempfile.mkdtemp(prefix="mleray-sock-"))
        self.folder.chmod(0o755)  # the agent's user (uid 1000) must reach the socket
        self.received: list[bytes] = []
        received = self.received

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                data = self.rfile.read()
                received.append(data)
                self.wfile.write(b"host:" + data)

        path = self.folder / "host.sock"
        self.server = socketserver.ThreadingUnixStreamServer(str(path), Handler)
        os.chmod(path, 0o777)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.folder, ignore_errors=True)


def services_and_host_sockets(make_sandbox: Callable[[], Sandbox], scratch: Path) -> None:
    echo_port, relay_port = free_ports(2)
    sandbox = make_sandbox()
    with HostSocketServer() as host:
        request = probe_request(
            scratch,
            "services",
            kwargs={"ports": {"echo": echo_port, "relay": relay_port}},
            services=(script_service("echo", echo_port), script_service("relay", relay_port)),
            host_sockets=(HostSocketDir(host.folder, SOCKET_TARGET, SOCKET_ENV),),
        )
        result = sandbox.run(request)
    assert result.status == FailureKind.COMPLETED.value, result.error
    report = read_json(result, "services.json")
    assert report["echo"] == "echo:ping from the agent to echo", report
    assert report["relay"] == "host:ping from the agent to relay", report
    # the launcher's readiness probe is a connection that sends nothing
    assert [data for data in host.received if data] == [b"ping from the agent to relay"]
    assert set(read_json(result, "mleray-services.json")["services"]) == {"echo", "relay"}
    assert (result.logs_dir / "mleray-services" / "relay.log").is_file()
    assert result.submission_path is not None
    if sandbox.isolated:  # only loopback inside: the services' traffic never left it
        assert report["interfaces"] == ["lo"], report["interfaces"]
        assert report["socket_dir"] == SOCKET_TARGET
    else:
        assert report["socket_dir"] == str(host.folder)


def _never_started(result) -> bool:
    return result.submission_path is None and (
        result.code_dir is None or not (result.code_dir / "probe.py").exists()
    )


def service_not_ready_is_infra_error(make_sandbox: Callable[[], Sandbox], scratch: Path) -> None:
    (port,) = free_ports(1)
    silent = ServiceSpec(
        name="silent",
        command=("python3", "-c", "import time; time.sleep(120)"),
        ready_port=port,
        ready_timeout=1.0,
    )
    result = make_sandbox().run(probe_request(scratch, "submit", services=(silent,)))
    assert result.status == FailureKind.INFRA_ERROR.value, (result.status, result.error)
    assert "service 'silent' did not accept connections" in result.error, result.error
    assert _never_started(result), "the agent ran although its service was not ready"


def service_that_exits_is_infra_error(make_sandbox: Callable[[], Sandbox], scratch: Path) -> None:
    (port,) = free_ports(1)
    crash = ServiceSpec(name="crash", command=("python3", "-c", "exit(3)"), ready_port=port)
    result = make_sandbox().run(probe_request(scratch, "submit", services=(crash,)))
    assert result.status == FailureKind.INFRA_ERROR.value, (result.status, result.error)
    assert "service 'crash' exited with code 3" in result.error, result.error
    assert _never_started(result), "the agent ran although its service exited"


SERVICE_CHECKS = (
    services_and_host_sockets,
    service_not_ready_is_infra_error,
    service_that_exits_is_infra_error,
)
