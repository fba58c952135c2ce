"""An MLE-bench-format agent folder runs in a sweep and is graded: `run_sweep` with the
Docker sandbox at `network: none`, the agents of tests/agents/mlebench-format built FROM
mleray's base in place of `mlebench-env`. Inside, the toy agent checks its submission through
/home/validate_submission.sh and http://localhost:5000/validate (answered by mleray's sidecar,
with no answers in the container) and reports what it was given."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from mleray.agents import get_agent
from mleray.driver import run_sweep
from mleray.results import load
from mleray.sandbox import mlebench_images
from mleray.sandbox.images import build_agent_image
from mleray.spec import spec_from_dict

pytestmark = [pytest.mark.docker, pytest.mark.ray, pytest.mark.slow]

FORMAT_DIR = Path(__file__).resolve().parent / "agents" / "mlebench-format"
TOKEN = "toy-token-8c1f2e"  # the secret: it must never reach the results
VALID = {"result": "Submission is valid."}


def _logs(results: Path, trial_id: str) -> dict[str, bytes]:
    (archive,) = (results / "artifacts").glob(f"{trial_id}-*.tar.gz")
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_an_mlebench_format_agent_runs_in_a_sweep_and_is_graded(
    builtin_data, tmp_path, monkeypatch
):
    monkeypatch.delenv(mlebench_images.BASE_ENV, raising=False)
    monkeypatch.setenv("MLERAY_TEST_TOY_TOKEN", TOKEN)
    secret_ref, argtoy_ref = f"{FORMAT_DIR}:toy/secret", f"{FORMAT_DIR}:argtoy"
    for reference in (secret_ref, argtoy_ref):  # FROM mleray's base: no mlebench-env here
        build_agent_image(get_agent(reference))
    results = tmp_path / "results"
    spec = spec_from_dict(
        {
            "name": "mlebench-agents",
            "competitions": ["breast-cancer-auc"],
            "agents": [{"name": secret_ref, "kwargs": {"agent.steps": 2}}, argtoy_ref],
            "seeds": 1,
            "resources": {"cpus": 1, "memory": "2g"},
            "time_limit": 300,
            "sandbox": "docker",
            "results": str(results),
        },
        source="test",
    )
    summary = run_sweep(spec, results_dir=results, progress=False, num_cpus=2)
    rows = load(results).set_index("agent")
    assert summary.attempts == 2 and len(rows) == 2
    for reference in (secret_ref, argtoy_ref):
        row = rows.loc[reference]
        assert row["status"] == "completed" and row["valid_submission"], row.to_dict()
        assert row["sandbox"] == "docker" and row["score"] is not None

    logs = _logs(results, rows.loc[secret_ref, "trial_id"])
    report = json.loads(logs["logs/toy-report.json"])
    # toy/secret's kwargs (its defaults merged in), the sweep's agent.steps in its place
    assert report["argv"] == ["agent.search.debug_prob=1", "copy_data=False", "agent.steps=2"]
    assert report["env"] == {
        "SUBMISSION_DIR": "/home/submission",
        "LOGS_DIR": "/home/logs",
        "CODE_DIR": "/home/code",
        "AGENT_DIR": "/home/agent",
        "COMPETITION_ID": "breast-cancer-auc",
        "TIME_LIMIT_SECS": "300",
        "STEP_LIMIT": "3",
        "HOME": "/home/nonroot",
    }
    assert report["uid"] == 1000 and report["cwd"] == "/home/agent" and report["home_writable"]
    assert "You are taking part in *MLE-bench*" in report["instructions"]
    assert report["script_answer"] == VALID and report["endpoint_answer"] == VALID
    assert report["broken_answer"]["result"].startswith("Submission is invalid: ")
    assert report["health"] == {"status": "running"}
    assert report["token_sha256"] == hashlib.sha256(TOKEN.encode()).hexdigest()
    assert json.loads(logs["logs/validate-script.out"]) == VALID
    assert b"toy agent done" in logs["logs/mleray-agent-output.log"]
    assert all(TOKEN.encode() not in content for content in logs.values())
    assert b"prints its token: [secret]" in logs["logs/mleray-agent-output.log"]

    args = json.loads(_logs(results, rows.loc[argtoy_ref, "trial_id"])["logs/argtoy-args.json"])
    assert args == {"llm_name": "toy-model", "max_steps": 7, "fast": "True"}


def test_the_image_is_built_from_the_folder_as_it_is(tmp_path, monkeypatch):
    """/home/agent holds the agent's folder (no file of mleray's), writable by uid 1000, and
    the image starts no entrypoint of its own."""
    import docker

    monkeypatch.delenv(mlebench_images.BASE_ENV, raising=False)
    tag = build_agent_image(get_agent(f"{FORMAT_DIR}:toy")).tag
    client = docker.from_env()
    listing = client.containers.run(
        tag,
        ["sh", "-c", "ls -A /home/agent; touch /home/agent/x /home/nonroot/y && echo writable"],
        user="1000:1000",
        network_mode="none",
        remove=True,
    ).decode()
    assert listing.split() == ["Dockerfile", "config.yaml", "solve.py", "start.sh", "writable"]
    assert not client.images.get(tag).attrs["Config"]["Entrypoint"]
