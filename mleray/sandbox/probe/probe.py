"""Test agent: kwarg `mode` picks one behaviour the sandbox suites check.

Written for Debian's python3 and the host's: stdlib only.
"""

import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

KWARGS = json.loads(os.environ.get("MLERAY_AGENT_KWARGS") or "{}")
DATA = os.environ["MLERAY_DATA"]
SUBMISSION = os.path.join(os.environ["MLERAY_SUBMISSION_DIR"], "submission.csv")
LOGS = os.environ["MLERAY_LOGS_DIR"]
CODE = os.environ["MLERAY_CODE_DIR"]
ENV_NAMES = [
    "COMPETITION_ID",
    "MLERAY_SEED",
    "MLERAY_MODEL",
    "TIME_LIMIT_SECS",
    "MLERAY_GPU_IDS",
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "MLERAY_DATA",
    "MLERAY_SUBMISSION_DIR",
    "MLERAY_LOGS_DIR",
    "MLERAY_CODE_DIR",
    "MLERAY_INSTRUCTIONS",
    "MLERAY_AGENT_KWARGS",
    "MLERAY_AGENT_DIR",
    "PROBE_PLAIN",
    "HOME",
]


def write_json(name, value):
    with open(os.path.join(LOGS, name), "w") as handle:
        json.dump(value, handle, indent=1, sort_keys=True)


def submit(text=None):
    if text is None:
        shutil.copyfile(
            sorted(glob.glob(os.path.join(DATA, "sample_submission*.csv")))[0], SUBMISSION
        )
    else:
        with open(SUBMISSION + ".tmp", "w") as handle:
            handle.write(text)
        os.replace(SUBMISSION + ".tmp", SUBMISSION)


def sleep_forever(on_term):
    def handler(signum, frame):
        if on_term == "honour":
            write_json("sigterm.json", {"received": True})
            submit()
            sys.exit(0)

    signal.signal(signal.SIGTERM, handler if on_term == "honour" else signal.SIG_IGN)
    print("probe: sleeping", flush=True)
    while True:
        time.sleep(0.05)


def env_report():
    report = {name: os.environ.get(name) for name in ENV_NAMES}
    report["PATH_has_validate"] = shutil.which("validate-submission") is not None
    report["instructions"] = open(os.environ["MLERAY_INSTRUCTIONS"]).read()
    report["secret_present"] = bool(os.environ.get("PROBE_SECRET"))
    report["data_files"] = sorted(os.listdir(DATA))
    report["uid"] = os.getuid()
    submit()
    check = subprocess.run(
        ["validate-submission"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    report["validate_exit"] = check.returncode
    report["validate_output"] = check.stdout.decode(errors="replace").strip()
    write_json("env.json", report)


def secret_report():
    secret = os.environ.get("PROBE_SECRET", "")
    with open(os.path.join(LOGS, "secret.sha256"), "w") as handle:
        handle.write(hashlib.sha256(secret.encode()).hexdigest())
    print(f"probe: leaking {secret} to stdout", flush=True)
    print(f"probe: leaking {secret} to stderr", file=sys.stderr, flush=True)
    with open(os.path.join(LOGS, "leak.txt"), "w") as handle:
        handle.write(f"key={secret}\n")
    with open(os.path.join(CODE, "leak.py"), "w") as handle:
        handle.write(f"KEY = {secret!r}\n")
    submit()


def snapshots():
    base = open(sorted(glob.glob(os.path.join(DATA, "sample_submission*.csv")))[0]).read()
    step = float(KWARGS.get("step", 1.0))
    for version in range(3):
        submit(base + f"# version {version}\n" if version else base)
        time.sleep(step)
    submit(base + "# version 2\n")  # unchanged content: no new snapshot
    time.sleep(step / 2)


def hostile():
    """Plant things a careless collector would follow or choke on."""
    os.symlink("/etc/passwd", SUBMISSION)
    os.symlink("/etc/hostname", os.path.join(LOGS, "host-file.txt"))
    os.symlink("/", os.path.join(CODE, "root-link"))
    os.mkfifo(os.path.join(LOGS, "pipe"))
    with open(os.path.join(LOGS, "ok.txt"), "w") as handle:
        handle.write("regular\n")
    with open(os.path.join(CODE, "big.bin"), "wb") as handle:
        handle.write(b"x" * int(KWARGS.get("big_bytes", 0)))
    if KWARGS.get("sparse_bytes"):  # no disk used, but an archive of it streams every zero
        with open(os.path.join(CODE, "sparse.bin"), "wb") as handle:
            handle.truncate(int(KWARGS["sparse_bytes"]))


def services_report():
    """Talk to each service on loopback (kwarg `ports`: name -> port), as an agent would."""
    report = {}
    for name, port in sorted(KWARGS.get("ports", {}).items()):
        try:
            with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as conn:
                conn.sendall(f"ping from the agent to {name}".encode())
                conn.shutdown(socket.SHUT_WR)
                reply = b""
                while chunk := conn.recv(65536):
                    reply += chunk
            report[name] = reply.decode()
        except OSError as exc:
            report[name] = f"error: {exc}"
    report["interfaces"] = sorted(os.listdir("/sys/class/net"))
    report["socket_dir"] = os.environ.get("MLERAY_TEST_SOCKETS")
    write_json("services.json", report)
    submit()


def oom():
    blocks = []
    for _ in range(int(KWARGS.get("mb", 1024)) // 16):
        blocks.append(bytearray(16 * 1024 * 1024))  # bytearray pages are touched: real RSS
    submit()


def main():
    mode = KWARGS.get("mode", "submit")
    with open(os.path.join(CODE, "probe.py"), "w") as handle:
        handle.write(open(os.path.abspath(__file__)).read())
    if mode == "submit":
        submit()
    elif mode == "exit":
        submit()
        sys.exit(int(KWARGS.get("code", 3)))
    elif mode in ("honour", "ignore"):
        sleep_forever(mode)
    elif mode == "nosubmit":
        write_json("note.json", {"submitted": False})
    elif mode == "env":
        env_report()
    elif mode == "secret":
        secret_report()
    elif mode == "snapshots":
        snapshots()
    elif mode == "hostile":
        hostile()
    elif mode == "oom":
        oom()
    elif mode == "services":
        services_report()
    elif mode == "orphan":  # leaves a child behind: the sandbox must not
        child = subprocess.Popen(["sleep", "300"])
        write_json("orphan.json", {"pid": child.pid})
        submit()
    elif mode == "burn":  # a known amount of CPU time for the usage counters
        while time.process_time() < float(KWARGS.get("seconds", 1.5)):
            sum(i * i for i in range(10000))
        submit()
    elif mode == "isolation":
        import isolation_checks  # next to this file

        write_json("isolation.json", isolation_checks.run(KWARGS))
        submit()
    else:
        sys.exit(f"probe: unknown mode {mode!r}")


if __name__ == "__main__":
    main()
