"""What a hostile agent would try; each check records what happened, the test judges.

Network checks touch loopback only: interfaces are listed from /sys/class/net and a
socket is connected to 127.0.0.1. No traffic is ever sent to another address.
"""

import os
import socket
import stat

SKIP_TOP = {"/proc", "/sys", "/dev"}
MAX_FILE = 64 * 1024 * 1024


def walk_files():
    """(path, lstat) of every file-like entry outside /proc, /sys and /dev."""
    for root, dirs, files in os.walk("/", followlinks=False):
        if root == "/":
            dirs[:] = [d for d in dirs if "/" + d not in SKIP_TOP]
        for name in files:
            path = os.path.join(root, name)
            try:
                yield path, os.lstat(path)
            except OSError:
                continue


def find_canary(canary):
    """Every readable regular file containing `canary`."""
    needle = canary.encode()
    found = []
    for path, info in walk_files():
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE:
            continue
        try:
            with open(path, "rb") as handle:
                if needle in handle.read():
                    found.append(path)
        except OSError:
            continue
    return found


def try_write_data():
    target = os.path.join(os.environ["MLERAY_DATA"], "planted.txt")
    try:
        with open(target, "w") as handle:
            handle.write("x")
        return "written"
    except OSError as exc:
        return f"refused: {exc.strerror}"


def loopback_works():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        client = socket.create_connection(server.getsockname(), timeout=2)
        client.close()
        return True
    except OSError:
        return False
    finally:
        server.close()


def docker_sockets():
    candidates = [
        "/var/run/docker.sock",
        "/run/docker.sock",
        "/var/run/containerd/containerd.sock",
        "/run/containerd/containerd.sock",
    ]
    found = [p for p in candidates if os.path.exists(p)]
    found += [path for path, info in walk_files() if stat.S_ISSOCK(info.st_mode)]
    return sorted(set(found))


def try_become_root():
    try:
        os.setuid(0)
        return "became root"
    except OSError as exc:
        return f"refused: {exc.strerror}"


def run(kwargs):
    return {
        "private_canary_found": find_canary(kwargs["private_canary"]),
        "public_canary_found": find_canary(kwargs["public_canary"]),
        "data_write": try_write_data(),
        "interfaces": sorted(os.listdir("/sys/class/net")),
        "loopback_works": loopback_works(),
        "docker_sockets": docker_sockets(),
        "uid": os.getuid(),
        "euid": os.geteuid(),
        "setuid_root": try_become_root(),
    }
