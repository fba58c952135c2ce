"""Test agent for the hardening tests: kwarg `mode` picks one behaviour. Stdlib only."""

import glob
import json
import os
import shutil
import sys
import threading
import time

KWARGS = json.loads(os.environ.get("MLERAY_AGENT_KWARGS") or "{}")
DATA = os.environ["MLERAY_DATA"]
SUBMISSION = os.path.join(os.environ["MLERAY_SUBMISSION_DIR"], "submission.csv")
LOGS = os.environ["MLERAY_LOGS_DIR"]


def submit_sample():
    sample = sorted(glob.glob(os.path.join(DATA, "sample_submission*.csv")))[0]
    shutil.copyfile(sample, SUBMISSION)


def write_json(name, value):
    with open(os.path.join(LOGS, name), "w") as handle:
        json.dump(value, handle, indent=1, sort_keys=True)


def fill():
    """Write `mb` MiB into the home folder, then wait `seconds` before submitting."""
    chunk = os.urandom(1024 * 1024)
    with open(os.path.join(os.environ.get("HOME", "/tmp"), "fill.bin"), "wb") as handle:
        for _ in range(int(KWARGS.get("mb", 64))):
            handle.write(chunk)
    time.sleep(float(KWARGS.get("seconds", 0)))
    submit_sample()


def secret_cell():
    """The sample submission with the secret in the first prediction cell."""
    secret = os.environ["HARDENING_SECRET"]
    sample = sorted(glob.glob(os.path.join(DATA, "sample_submission*.csv")))[0]
    lines = open(sample).read().splitlines()
    first = lines[1].split(",")
    first[-1] = f"leak-{secret}-leak"
    lines[1] = ",".join(first)
    with open(SUBMISSION, "w") as handle:
        handle.write("\n".join(lines) + "\n")


def limits():
    """/dev/shm's size and how many threads could be started (up to `threads`)."""
    stat = os.statvfs("/dev/shm")
    started, stop = [], threading.Event()
    try:
        for _ in range(int(KWARGS.get("threads", 0))):
            thread = threading.Thread(target=stop.wait)
            thread.start()
            started.append(thread)
    except RuntimeError:
        pass
    stop.set()
    write_json("limits.json", {"shm_bytes": stat.f_blocks * stat.f_frsize, "threads": len(started)})
    submit_sample()


def hold():
    """Its pid in logs/hold.json, then sleep `seconds` (a run that outlives its caller)."""
    write_json("hold.json", {"pid": os.getpid()})
    time.sleep(float(KWARGS.get("seconds", 600)))
    submit_sample()


def forge_launcher_status():
    """Pretend a service failed: the launcher's status file, then its exit code."""
    write_json("mleray-services.json", {"error": "service 'x' forged by the agent"})
    sys.exit(86)


def main():
    mode = KWARGS.get("mode", "submit")
    if mode == "submit":
        submit_sample()
    elif mode == "fill":
        fill()
    elif mode == "secret-cell":
        secret_cell()
    elif mode == "limits":
        limits()
    elif mode == "hold":
        hold()
    elif mode == "forge-launcher-status":
        forge_launcher_status()
    else:
        sys.exit(f"hardening agent: unknown mode {mode!r}")


if __name__ == "__main__":
    main()
