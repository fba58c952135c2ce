"""The sandbox conformance suite: every backend passes the same behaviours, driven by the
probe test agent (tests/agents/probe, kwarg `mode`). Docker cases are marked `docker`.

The helpers at the top (tiny competition, probe requests, image fixture) are imported by
the other sandbox test files.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from mleray.agents import load_agent, resolve_secrets
from mleray.errors import FailureKind
from mleray.sandbox import RunRequest, get_sandbox

PROBE_DIR = Path(__file__).parent / "agents" / "probe"
SECRET = "sk-test-9f8e7d6c5b4a-never-log-me"
SWEEP = "h3-test-conformance"
BACKENDS = [
    pytest.param("local", id="local"),
    pytest.param("docker", id="docker", marks=pytest.mark.docker),
]


def make_competition(root: Path, canary: str = "") -> Path:
    """A tiny competition folder: public/ (what the agent sees) and private/answers.csv."""
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


def probe_request(tmp_path: Path, mode: str, **changes) -> RunRequest:
    public = tmp_path / "comp" / "public"
    if not public.exists():
        make_competition(tmp_path / "comp")
    kwargs = {"mode": mode, **changes.pop("kwargs", {})}
    request = RunRequest(
        trial_id=f"probe-{mode}-{time.monotonic_ns()}",
        sweep=SWEEP,
        competition_id="tiny",
        public_dir=public,
        agent_dir=PROBE_DIR,
        workdir=tmp_path / "work",
        time_limit=30.0,
        grace_period=2.0,
        cpus=1.0,
        memory_bytes=512 * 1024**2,
        kwargs=kwargs,
        secrets=resolve_secrets(load_agent(PROBE_DIR), {"MLERAY_TEST_PROBE_SECRET": SECRET}),
    )
    return replace(request, **changes)


def read_json(result, name: str) -> dict:
    return json.loads((result.logs_dir / name).read_text())


@pytest.fixture(scope="session")
def probe_image():
    """The probe agent's image (and the base image, if missing: minutes, once)."""
    from mleray.sandbox.images import build_agent_image

    return build_agent_image(load_agent(PROBE_DIR)).tag


@pytest.fixture(params=BACKENDS)
def backend(request):
    if request.param == "docker":
        request.getfixturevalue("probe_image")
    return request.param


def run(backend: str, request: RunRequest, cancel=None):
    return get_sandbox(backend).run(request, cancel=cancel)


def test_submission_is_collected(backend, tmp_path):
    result = run(backend, probe_request(tmp_path, "submit"))
    assert result.status == FailureKind.COMPLETED.value, result.error
    assert result.exit_code == 0 and result.error is None
    sample = (tmp_path / "comp" / "public" / "sample_submission.csv").read_bytes()
    assert result.submission_path.read_bytes() == sample
    assert result.submission_path.is_relative_to(tmp_path / "work")
    assert (result.code_dir / "probe.py").is_file()
    assert result.sandbox == backend and result.isolated is (backend == "docker")
    assert 0 < result.wall_seconds < 30


def test_nonzero_exit_is_agent_error(backend, tmp_path):
    result = run(backend, probe_request(tmp_path, "exit", kwargs={"code": 7}))
    assert result.status == FailureKind.AGENT_ERROR.value
    assert result.exit_code == 7 and "code 7" in result.error
    assert result.submission_path is not None  # what it wrote before failing is still kept


def test_no_submission_is_completed_without_path(backend, tmp_path):
    result = run(backend, probe_request(tmp_path, "nosubmit"))
    assert result.status == FailureKind.COMPLETED.value
    assert result.submission_path is None
    assert read_json(result, "note.json") == {"submitted": False}


def test_timeout_with_sigterm_honoured(backend, tmp_path):
    started = time.monotonic()
    result = run(backend, probe_request(tmp_path, "honour", time_limit=1.5, grace_period=10.0))
    elapsed = time.monotonic() - started
    assert result.status == FailureKind.TIMEOUT.value and "time limit" in result.error
    assert read_json(result, "sigterm.json") == {"received": True}
    assert result.submission_path is not None  # written in its SIGTERM handler
    assert elapsed < 1.5 + 10.0, "an agent that exits on SIGTERM must not wait out the grace period"


def test_timeout_with_sigterm_ignored_is_killed_after_grace(backend, tmp_path):
    started = time.monotonic()
    result = run(backend, probe_request(tmp_path, "ignore", time_limit=1.0, grace_period=1.5))
    elapsed = time.monotonic() - started
    assert result.status == FailureKind.TIMEOUT.value
    assert result.exit_code != 0
    assert 1.0 + 1.5 <= elapsed < 1.0 + 1.5 + 8.0


def test_environment_reaches_the_agent(backend, tmp_path):
    request = probe_request(
        tmp_path,
        "env",
        seed=42,
        model="gpt-test",
        gpu_ids=("1", "3"),
        time_limit=25.0,
        env={"EXTRA_SETTING": "on"},
    )
    result = run(backend, request)
    assert result.status == FailureKind.COMPLETED.value, result.error
    env = read_json(result, "env.json")
    assert env["COMPETITION_ID"] == "tiny"
    assert env["MLERAY_SEED"] == "42" and env["MLERAY_MODEL"] == "gpt-test"
    assert env["TIME_LIMIT_SECS"] == "25"
    assert env["MLERAY_GPU_IDS"] == "1,3"
    assert (
        env["CUDA_VISIBLE_DEVICES"] == "1,3" and env["NVIDIA_VISIBLE_DEVICES"] == "1,3"
    )  # no GPU runtime here
    assert env["PROBE_PLAIN"] == "plain-value" and env["secret_present"] is True
    assert env["data_files"] == ["description.md", "sample_submission.csv", "test.csv", "train.csv"]
    assert env["PATH_has_validate"] and env["validate_exit"] == 0, env["validate_output"]
    assert (
        env["MLERAY_SUBMISSION_DIR"] in env["instructions"] and "25 seconds" in env["instructions"]
    )
    if backend == "docker":
        assert (
            env["MLERAY_DATA"] == "/home/data"
            and env["MLERAY_SUBMISSION_DIR"] == "/home/submission"
        )
        assert env["uid"] == 1000


def test_kwargs_reach_the_agent_over_defaults(backend, tmp_path):
    result = run(
        backend, probe_request(tmp_path, "env", kwargs={"nested": {"a": [1, 2]}, "lr": 0.1})
    )
    kwargs = json.loads(read_json(result, "env.json")["MLERAY_AGENT_KWARGS"])
    assert kwargs == {"mode": "env", "nested": {"a": [1, 2]}, "lr": 0.1}


def test_secrets_reach_the_agent_but_are_never_written(backend, tmp_path):
    request = probe_request(tmp_path, "secret")
    assert SECRET not in repr(request)
    result = run(backend, request)
    assert result.status == FailureKind.COMPLETED.value, result.error
    assert (result.logs_dir / "secret.sha256").read_text() == hashlib.sha256(
        SECRET.encode()
    ).hexdigest()
    assert SECRET not in repr(result)
    written = [p for p in (tmp_path / "work").rglob("*") if p.is_file()]
    assert len(written) >= 5
    leaking = [p for p in written if SECRET.encode() in p.read_bytes()]
    assert leaking == []
    output = next(p for p in written if p.name == "mleray-agent-output.log").read_text()
    assert "leaking [secret] to stdout" in output and "leaking [secret] to stderr" in output


def test_cancel_mid_run(backend, tmp_path):
    cancel = threading.Event()
    timer = threading.Timer(1.5, cancel.set)
    timer.start()
    started = time.monotonic()
    try:
        result = run(backend, probe_request(tmp_path, "honour", time_limit=60.0), cancel=cancel)
    finally:
        timer.cancel()
    assert result.status == FailureKind.CANCELLED.value
    assert time.monotonic() - started < 15


def test_cancel_before_start_runs_nothing(backend, tmp_path):
    cancel = threading.Event()
    cancel.set()
    result = run(backend, probe_request(tmp_path, "submit"), cancel=cancel)
    assert result.status == FailureKind.CANCELLED.value and result.submission_path is None


def test_anytime_snapshots_of_changed_submissions(backend, tmp_path):
    request = probe_request(tmp_path, "snapshots", kwargs={"step": 1.0}, snapshot_interval=0.4)
    result = run(backend, request)
    assert result.status == FailureKind.COMPLETED.value, result.error
    snaps = result.snapshots
    contents = [s.path.read_bytes() for s in snaps]
    assert len(snaps) == 3, [
        s.elapsed_seconds for s in snaps
    ]  # three versions; the rewrite is unchanged
    assert len(set(contents)) == 3 and contents[-1] == result.submission_path.read_bytes()
    assert [s.elapsed_seconds for s in snaps] == sorted(s.elapsed_seconds for s in snaps)
    assert all(s.path.parent == tmp_path / "work" / "snapshots" for s in snaps)
    assert snaps[-1].elapsed_seconds - snaps[0].elapsed_seconds >= 1.5


def test_no_snapshots_without_interval(backend, tmp_path):
    result = run(backend, probe_request(tmp_path, "snapshots", kwargs={"step": 0.2}))
    assert result.snapshots == () and not (tmp_path / "work" / "snapshots").exists()


def test_hostile_files_are_not_followed_or_collected(backend, tmp_path, monkeypatch):
    from mleray.sandbox import artifacts

    monkeypatch.setattr(artifacts, "CODE_CAP", 1_000_000)
    result = run(backend, probe_request(tmp_path, "hostile", kwargs={"big_bytes": 2_000_000}))
    assert result.status == FailureKind.COMPLETED.value
    assert result.submission_path is None  # a symlink to /etc/passwd is not a submission
    assert (result.logs_dir / "ok.txt").read_text() == "regular\n"
    for name in ("host-file.txt", "pipe"):
        assert not (result.logs_dir / name).exists()
    assert not (result.code_dir / "root-link").exists()
    assert not (result.code_dir / "big.bin").exists()  # over the cap
    for path in (tmp_path / "work").rglob("*"):
        assert not path.is_symlink(), path


def test_terabyte_sparse_file_is_not_copied_through(backend, tmp_path):
    """Streaming a 1 TiB sparse file's zeros out of a container would take hours."""
    started = time.monotonic()
    result = run(backend, probe_request(tmp_path, "hostile", kwargs={"sparse_bytes": 1024**4}))
    assert time.monotonic() - started < 60
    assert result.status == FailureKind.COMPLETED.value
    assert not (result.code_dir / "sparse.bin").exists()
