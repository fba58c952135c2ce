"""Ask the model for a script, run it, check the submission at the validation endpoint,
feed what went wrong back; at most agent.steps model calls. Standard library only."""

import glob
import json
import os
import re
import subprocess
import sys
import urllib.request

KWARGS = dict(arg.split("=", 1) for arg in sys.argv[1:])  # omegaconf key=value
MODEL, STEPS = KWARGS["agent.code.model"], int(KWARGS.get("agent.steps", 3))
SUBMISSION = os.path.join(os.environ["SUBMISSION_DIR"], "submission.csv")


def ask(messages):
    request = urllib.request.Request(
        os.environ["OPENAI_BASE_URL"].rstrip("/") + "/chat/completions",
        data=json.dumps({"model": MODEL, "messages": messages}).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {os.environ['OPENAI_API_KEY']}",
        },
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())["choices"][0]["message"]["content"]


def validate():
    run = subprocess.run(
        ["bash", "/home/validate_submission.sh", SUBMISSION], capture_output=True, text=True
    )
    return run.stdout.strip()


def main():
    task = open(os.path.join(os.environ["AGENT_DIR"], "full_instructions.txt")).read()
    files = ", ".join(sorted(os.path.basename(p) for p in glob.glob("/home/data/*")))
    messages = [
        {"role": "system", "content": "Answer with one Python script in a ```python block."},
        {"role": "user", "content": f"{task}\n\nFiles in /home/data: {files}"},
    ]
    for step in range(1, STEPS + 1):
        reply = ask(messages)
        messages.append({"role": "assistant", "content": reply})
        code = re.search(r"```python\n(.*?)```", reply, re.S)
        script = os.path.join(os.environ["CODE_DIR"], f"step_{step}.py")
        with open(script, "w") as handle:
            handle.write(code.group(1) if code else reply)
        run = subprocess.run([sys.executable, script], capture_output=True, text=True)
        answer = validate() if os.path.exists(SUBMISSION) else "no submission.csv written"
        print(f"step {step}: exit {run.returncode}, validation: {answer}", flush=True)
        if run.returncode == 0 and "Submission is valid" in answer:
            return
        feedback = f"exit {run.returncode}\n{run.stderr[-2000:]}\nvalidation: {answer}"
        messages.append({"role": "user", "content": f"That did not work:\n{feedback}"})


if __name__ == "__main__":
    main()
