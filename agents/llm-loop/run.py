"""llm-loop: ask a model for a solution script, run it, validate the submission, feed errors
back, and repeat within the time limit.

It uses only the `openai` client, configured as any OpenAI client is: OPENAI_BASE_URL and
OPENAI_API_KEY (under mleray, the model gateway's address and a per-trial token), and the
model from MLERAY_MODEL. It stops at the first script that writes a submission which
`validate-submission` accepts, when the model stops answering (a spent budget, say), after
`max_steps` model calls, or when the time left is too short for another try.

Everything it does is logged to $MLERAY_LOGS_DIR/llm-loop.log, each script it got is kept
in $MLERAY_CODE_DIR (step_N.py; solution.py is the one that worked), and the conversation in
$MLERAY_LOGS_DIR/conversation.json.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

import openai

START = time.monotonic()
TIME_LIMIT = float(os.environ.get("TIME_LIMIT_SECS", "600"))
DATA = os.environ["MLERAY_DATA"]
SUBMISSION = os.path.join(os.environ["MLERAY_SUBMISSION_DIR"], "submission.csv")
LOGS = os.environ["MLERAY_LOGS_DIR"]
CODE = os.environ["MLERAY_CODE_DIR"]
KWARGS = json.loads(os.environ.get("MLERAY_AGENT_KWARGS") or "{}")
MAX_STEPS = int(KWARGS.get("max_steps", 8))
STEP_TIMEOUT = float(KWARGS.get("step_timeout", 900))
FEEDBACK_CHARS = 4000  # of a failed script's output, the tail shown to the model
MIN_TRY_SECONDS = 20  # do not start a model call or a script with less time left
LOG = open(os.path.join(LOGS, "llm-loop.log"), "a")

SYSTEM = """You are an expert machine-learning engineer solving a Kaggle-style competition.
Answer with one complete Python 3 script in a single ```python code block. The script must:
- read the competition's files from the folder named by the environment variable
  MLERAY_DATA (default /home/data);
- write predictions for every test row to submission.csv in the folder named by the
  environment variable MLERAY_SUBMISSION_DIR, in exactly the sample submission's format;
- use only the standard library, numpy, pandas and scikit-learn (no internet, no installs);
- finish within {seconds} seconds."""


class Stop(Exception):
    """The model will not answer any more (budget spent, no access)."""


def log(message):
    line = f"[{time.strftime('%H:%M:%S')}] {message}"
    print(line, flush=True)
    LOG.write(line + "\n")
    LOG.flush()


def remaining():
    return TIME_LIMIT - (time.monotonic() - START)


def head(path, lines=4, width=300):
    with open(path, errors="replace") as f:
        return "".join(f.readline()[:width] for _ in range(lines))


def task_prompt():
    """The description, the file list and the first lines of each CSV."""
    parts = [f"# Competition {os.environ.get('COMPETITION_ID', '')}\n"]
    description = os.path.join(DATA, "description.md")
    if os.path.exists(description):
        parts.append(open(description, errors="replace").read()[:8000])
    parts.append("\n# Files in MLERAY_DATA\n")
    for path in sorted(glob.glob(os.path.join(DATA, "*"))):
        name = os.path.basename(path)
        if name == "description.md" or not os.path.isfile(path):
            continue
        parts.append(f"- {name} ({os.path.getsize(path)} bytes)")
        if name.endswith(".csv"):
            parts.append("```\n" + head(path) + "```")
    return "\n".join(parts)


def ask(client, model, messages):
    """The model's answer, or None after an error worth retrying; Stop when it is final."""
    try:
        response = client.chat.completions.create(
            model=model, messages=messages, timeout=max(10.0, min(600.0, remaining() - 5))
        )
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        raise Stop(f"no access to {model}: {exc}") from exc
    except openai.RateLimitError as exc:
        if getattr(exc, "code", None) == "insufficient_quota":
            raise Stop(f"the budget is spent: {exc}") from exc
        log(f"rate limited: {exc}")
        return None
    except openai.APIError as exc:
        log(f"model call failed: {type(exc).__name__}: {exc}")
        return None
    usage = response.usage
    if usage is not None:
        log(f"model answered: {usage.prompt_tokens}+{usage.completion_tokens} tokens")
    return response.choices[0].message.content or ""


def extract_code(text):
    """The last ```python block (or the last ``` block), or None."""
    blocks = re.findall(r"```(?:python|py)[^\n]*\n(.*?)```", text, re.S)
    blocks = blocks or re.findall(r"```[^\n]*\n(.*?)```", text, re.S)
    return blocks[-1] if blocks else None


def run_script(path, workdir):
    """(succeeded, output tail) of running the script with the time that is left."""
    timeout = min(STEP_TIMEOUT, remaining() - 5)
    try:
        proc = subprocess.run(
            [sys.executable, path], cwd=workdir, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or "") + (exc.stderr or "")
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        return False, f"the script was stopped after {timeout:.0f} s\n{output[-FEEDBACK_CHARS:]}"
    output = (proc.stdout + proc.stderr)[-FEEDBACK_CHARS:]
    if proc.returncode != 0:
        return False, f"the script exited with status {proc.returncode}\n{output}"
    return True, output


def validate():
    """(valid, what validate-submission said)."""
    if not os.path.exists(SUBMISSION):
        return False, f"the script did not write {SUBMISSION}"
    try:
        proc = subprocess.run(["validate-submission"], capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        return True, "validate-submission is not installed here; the file exists"
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()[-FEEDBACK_CHARS:]


def save_conversation(messages):
    with open(os.path.join(LOGS, "conversation.json"), "w") as f:
        json.dump(messages, f, indent=1)


def attempt(step, answer, workdir):
    """(valid, feedback for the model) for one answer."""
    code = extract_code(answer)
    if code is None:
        return False, "Your answer had no ```python code block. Answer with one complete script."
    path = os.path.join(CODE, f"step_{step}.py")
    with open(path, "w") as f:
        f.write(code)
    if os.path.exists(SUBMISSION):
        os.remove(SUBMISSION)  # judge this script by what it writes, not an older file
    ok, output = run_script(path, workdir)
    valid, verdict = validate() if ok else (False, "")
    log(f"step {step}: script {'ran' if ok else 'failed'}; submission valid: {valid}")
    if valid:
        shutil.copyfile(path, os.path.join(CODE, "solution.py"))
        return True, f"Valid submission. {verdict}"
    if not ok:
        return False, f"The script failed.\n```\n{output}\n```\nPlease answer with a fixed script."
    return False, (
        f"The script ran, but the submission is not valid:\n```\n{verdict}\n```\n"
        "Please answer with a fixed script."
    )


def solve(client, model, messages):
    workdir = os.path.join(os.environ.get("HOME", "/tmp"), "llm-loop")
    os.makedirs(workdir, exist_ok=True)
    for step in range(1, MAX_STEPS + 1):
        if remaining() < MIN_TRY_SECONDS:
            log(f"{remaining():.0f} s left: stopping")
            return False
        log(f"step {step}: asking {model}")
        answer = ask(client, model, messages)
        if answer is None:
            time.sleep(min(10, max(0, remaining() - MIN_TRY_SECONDS)))
            continue
        messages.append({"role": "assistant", "content": answer})
        valid, feedback = attempt(step, answer, workdir)
        messages.append({"role": "user", "content": feedback})
        save_conversation(messages)
        if valid:
            return True
    return False


def main():
    model = os.environ.get("MLERAY_MODEL") or KWARGS.get("model")
    if not model:
        log("no model: set MLERAY_MODEL (the sweep's agent models)")
        return 2
    try:
        client = openai.OpenAI(max_retries=2)  # OPENAI_BASE_URL and OPENAI_API_KEY from the env
    except openai.OpenAIError as exc:
        log(f"no model client: {exc}")
        return 2
    system = SYSTEM.format(seconds=int(min(STEP_TIMEOUT, TIME_LIMIT)))
    messages = [{"role": "system", "content": system}, {"role": "user", "content": task_prompt()}]
    try:
        solved = solve(client, model, messages)
    except Stop as stop:
        log(f"stopping: {stop}")
        solved = False
    save_conversation(messages)
    log("a valid submission was written" if solved else "no valid submission")
    return 0 if solved else 1


if __name__ == "__main__":
    sys.exit(main())
