"""What the conformance checks run: the probe agent, a tiny competition and requests for
them. Shared with mleray's own sandbox tests."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

from mleray.agents import AgentConfig, load_agent, resolve_secrets
from mleray.sandbox.base import RunRequest, SandboxResult

PROBE_DIR = Path(__file__).resolve().parent / "probe"
PROBE_SECRET = "sk-test-9f8e7d6c5b4a-never-log-me"  # reaches the agent, must never be written
RESULTS_KEY = "h3-test-conformance"  # the results key (container label) of every probe run


def probe_agent() -> AgentConfig:
    return load_agent(PROBE_DIR)


def make_competition(root: Path, canary: str = "") -> Path:
    """A tiny competition folder: public/ (what the agent sees) and private/answers.csv;
    returns public/."""
    public, private = root / "public", root / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    (public / "train.csv").write_text(
        "id,x,target\n" + "".join(f"{i},{i * 0.5},{i % 2}\n" for i in range(20))
    )
    (public / "test.csv").write_text("id,x\n" + "".join(f"{i},{i * 0.5}\n" for i in range(20, 30)))
    (public / "sample_submission.csv").write_text(
        "id,target\n" + "".join(f"{i},0\n" for i in range(20, 30))
    )
    (public / "description.md").write_text("# Tiny\nPredict `target` (0 or 1). Metric: accuracy.\n")
    (private / "answers.csv").write_text(
        "id,target\n"
        + "".join(f"{i},{i % 2}\n" for i in range(20, 30))
        + (f"# {canary}\n" if canary else "")
    )
    return public


def probe_request(scratch: Path, mode: str, **changes) -> RunRequest:
    """A run of the probe in `mode` on the tiny competition under scratch/comp (made when
    missing), its artifacts in scratch/work; `changes` replace request fields (`kwargs` are
    added to the mode)."""
    public = scratch / "comp" / "public"
    if not public.exists():
        make_competition(scratch / "comp")
    kwargs = {"mode": mode, **changes.pop("kwargs", {})}
    agent = probe_agent()
    request = RunRequest(
        trial_id=f"probe-{mode}-{time.monotonic_ns()}",
        results_key=RESULTS_KEY,
        competition_id="tiny",
        public_dir=public,
        agent=agent,
        workdir=scratch / "work",
        time_limit=30.0,
        grace_period=2.0,
        cpus=1.0,
        memory_bytes=512 * 1024**2,
        kwargs=kwargs,
        secrets=resolve_secrets(agent, {"MLERAY_TEST_PROBE_SECRET": PROBE_SECRET}),
    )
    return replace(request, **changes)


def read_json(result: SandboxResult, name: str) -> dict:
    """A JSON file the probe wrote into its logs folder."""
    return json.loads((result.logs_dir / name).read_text())
