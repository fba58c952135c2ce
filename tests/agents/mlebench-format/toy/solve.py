"""The toy MLE-bench-format agent: the sample submission as its submission, checked through
the validation endpoint; a report of what it was given (see ../README.md)."""

import glob
import hashlib
import json
import os
import subprocess
import sys
import urllib.request
import uuid

ENDPOINT = "http://localhost:5000"


def post(path):
    boundary = uuid.uuid4().hex
    with open(path, "rb") as handle:
        content = handle.read()
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="s.csv"\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{ENDPOINT}/validate",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def main():
    submission_dir = os.environ["SUBMISSION_DIR"]
    sample = sorted(glob.glob("/home/data/sample_submission*.csv"))[0]
    submission = os.path.join(submission_dir, "submission.csv")
    with open(sample) as source, open(submission, "w") as target:
        target.write(source.read())
    broken = os.path.join(os.environ["CODE_DIR"], "broken.csv")
    with open(broken, "w") as handle:
        handle.write("not,the,right,columns\n1,2,3,4\n")
    with open(os.path.join(os.environ["CODE_DIR"], "solution.py"), "w") as handle:
        handle.write("# the toy agent copies the sample submission\n")
    marker = os.path.join(os.environ["AGENT_DIR"], "agent_was_here.txt")
    with open(marker, "w") as handle:
        handle.write("yes\n")
    script = subprocess.run(
        ["bash", "/home/validate_submission.sh", submission], capture_output=True, text=True
    )
    token = os.environ.get("TOY_TOKEN", "")
    if token:
        print(f"the toy agent prints its token: {token}")  # the collected logs must not show it
    with urllib.request.urlopen(f"{ENDPOINT}/health", timeout=30) as response:
        health = json.loads(response.read())
    names = ["SUBMISSION_DIR", "LOGS_DIR", "CODE_DIR", "AGENT_DIR", "COMPETITION_ID"]
    names += ["TIME_LIMIT_SECS", "STEP_LIMIT", "HOME"]
    report = {
        "argv": sys.argv[1:],
        "env": {name: os.environ.get(name) for name in names},
        "uid": os.getuid(),
        "cwd": os.getcwd(),
        "instructions": open("/home/instructions.txt").read(),
        "script_answer": json.loads(script.stdout or "null"),
        "endpoint_answer": post(submission),
        "broken_answer": post(broken),
        "health": health,
        "home_writable": os.access(os.environ["HOME"], os.W_OK),
        "token_sha256": hashlib.sha256(token.encode()).hexdigest() if token else None,
    }
    with open(os.path.join(os.environ["LOGS_DIR"], "toy-report.json"), "w") as handle:
        json.dump(report, handle, indent=1)


if __name__ == "__main__":
    main()
