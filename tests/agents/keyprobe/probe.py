"""keyprobe: looks for the provider key wherever an agent could find it, through the gateway.

It never knows the key: it gets a piece of it reversed (kwarg `marker_reversed`), so the
piece is in no variable or file mleray gave it. It searches its environment, every process's
environment and command line it can read (the forwarder's too), every file outside the
image's own /usr (the image was built before any key existed; /proc, /sys, /dev skipped),
and every answer of the gateway (models, completions whole and streamed, refusals). As a
check that the search works, it looks for its own token the same way (in its environment,
and in a copy it writes under /tmp). It asks for models of other trials (each must be
refused), then asks until the gateway refuses (a spent budget). logs/findings.json says
what it found; logs/token.txt holds its token, for a test to try once the trial is over.
The sample submission becomes its submission, so the trial grades valid.
"""

import glob
import json
import os
import shutil
import urllib.error
import urllib.request

KWARGS = json.loads(os.environ.get("MLERAY_AGENT_KWARGS") or "{}")
MARKER = KWARGS.get("marker_reversed", "")[::-1].encode()
TOKEN = os.environ.get("OPENAI_API_KEY", "")
BASE = os.environ.get("OPENAI_BASE_URL", "").rstrip("/")
MODEL = os.environ.get("MLERAY_MODEL", "")
LOGS = os.environ["MLERAY_LOGS_DIR"]
SKIP = ("/proc", "/sys", "/dev", "/usr")
MAX_FILE = 16 * 1024**2
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
answers = []  # every byte the gateway sent back


def call(method, path, body=None, token=TOKEN):
    """(status, body text) of one gateway request."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    try:
        with OPENER.open(request, timeout=120) as response:
            status, raw, headers = response.status, response.read(), str(response.headers)
    except urllib.error.HTTPError as exc:
        status, raw, headers = exc.code, exc.read(), str(exc.headers)
    answers.append(headers.encode() + raw)
    return status, raw.decode(errors="replace")


def chat(model, stream=False):
    messages = [{"role": "user", "content": "solve the competition"}]
    return call(
        "POST", "/chat/completions", {"model": model, "messages": messages, "stream": stream}
    )


def hits_in_processes(needle):
    found = []
    for path in glob.glob("/proc/[0-9]*/environ") + glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(path, "rb") as f:
                if needle in f.read():
                    found.append(path)
        except OSError:
            continue
    return found


def hits_in_files(needles):
    """{needle: [paths]} over every readable regular file outside SKIP, and a count."""
    found, scanned = {n: [] for n in needles}, 0
    for root, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in SKIP]
        for name in files:
            path = os.path.join(root, name)
            try:
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                if os.path.getsize(path) > MAX_FILE:
                    continue
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            scanned += 1
            for needle in needles:
                if needle in data:
                    found[needle].append(path)
    return found, scanned


def main():
    findings = {"model": MODEL, "base_url": BASE}
    with open(os.path.join(LOGS, "token.txt"), "w") as f:
        f.write(TOKEN)
    findings["models_status"], _ = call("GET", "/models")
    findings["chat_status"], _ = chat(MODEL)
    findings["stream_status"], _ = chat(MODEL, stream=True)
    findings["other_models"] = {m: chat(m)[0] for m in KWARGS.get("other_models", []) if m != MODEL}
    findings["bad_token_status"], _ = call("GET", "/models", token="mleray-trial-not-a-token")
    statuses = []
    for _ in range(int(KWARGS.get("ask_until_refused", 0))):
        status, text = chat(MODEL)
        statuses.append(status)
        if status == 429 and "insufficient_quota" in text:
            break
    findings["asked"] = statuses
    env = "\0".join(f"{k}={v}" for k, v in os.environ.items()).encode()
    findings["marker_given"] = bool(MARKER)
    findings["key_in_env"] = bool(MARKER) and MARKER in env
    findings["key_in_processes"] = hits_in_processes(MARKER) if MARKER else []
    findings["key_in_answers"] = sum(MARKER in a for a in answers) if MARKER else 0
    findings["answers"] = len(answers)
    findings["token_in_env"] = bool(TOKEN) and TOKEN.encode() in env
    if KWARGS.get("scan_files", True):
        with open("/tmp/token-copy", "w") as f:  # the search must find this one
            f.write(TOKEN)
        needles = [n for n in (MARKER, TOKEN.encode()) if n]
        found, findings["files_scanned"] = hits_in_files(needles)
        findings["key_in_files"] = found.get(MARKER, []) if MARKER else []
        findings["token_in_files"] = found.get(TOKEN.encode(), [])
    with open(os.path.join(LOGS, "findings.json"), "w") as f:
        json.dump(findings, f, indent=1)
    data = os.environ["MLERAY_DATA"]
    sample = sorted(glob.glob(os.path.join(data, "sample_submission*.csv")))[0]
    shutil.copy(sample, os.path.join(os.environ["MLERAY_SUBMISSION_DIR"], "submission.csv"))


if __name__ == "__main__":
    main()
