"""The sandbox conformance suite: what every backend must do, driven by the probe agent
(`mleray/sandbox/probe`, kwarg `mode` picks a behaviour).

Each check is `check(make_sandbox, scratch: Path)`: `make_sandbox()` returns a backend, `scratch`
is an empty folder the check may fill; a failed expectation raises AssertionError saying
what is wrong. `CHECKS` lists every check, so a third backend runs the suite with

    for check in conformance.CHECKS:
        check(MySandbox, fresh_folder())

Image-based backends need the probe's image first (docker:
`mleray.sandbox.images.build_agent_image(probe_agent())`). The services checks are in
`conformance_services`; `CHECKS` includes them.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

from mleray.errors import FailureKind
from mleray.sandbox import artifacts
from mleray.sandbox.base import Sandbox
from mleray.sandbox.conformance_probe import (
    PROBE_SECRET,
    probe_request,
    read_json,
)
from mleray.sandbox.conformance_services import SERVICE_CHECKS

SandboxFactory = Callable[[], Sandbox]


def submission_is_collected(make_sandbox: SandboxFactory, scratch: Path) -> None:
    sandbox = make_sandbox()
    result = sandbox.run(probe_request(scratch, "submit"))
    assert result.status == FailureKind.COMPLETED.value, result.error
    assert result.exit_code == 0 and result.error is None
    sample = (scratch / "comp" / "public" / "sample_submission.csv").read_bytes()
    assert result.submission_path.read_bytes() == sample
    assert result.submission_path.is_relative_to(scratch / "work")
    assert (result.code_dir / "probe.py").is_file()
    assert result.sandbox == sandbox.name and result.isolated is sandbox.isolated
    assert 0 < result.wall_seconds < 30


def nonzero_exit_is_agent_error(make_sandbox: SandboxFactory, scratch: Path) -> None:
    result = make_sandbox().run(probe_request(scratch, "exit", kwargs={"code": 7}))
    assert result.status == FailureKind.AGENT_ERROR.value
    assert result.exit_code == 7 and "code 7" in result.error
    assert result.submission_path is not None  # what it wrote before failing is still kept


def no_submission_is_completed_without_path(make_sandbox: SandboxFactory, scratch: Path) -> None:
    result = make_sandbox().run(probe_request(scratch, "nosubmit"))
    assert result.status == FailureKind.COMPLETED.value
    assert result.submission_path is None
    assert read_json(result, "note.json") == {"submitted": False}


def timeout_with_sigterm_honoured(make_sandbox: SandboxFactory, scratch: Path) -> None:
    started = time.monotonic()
    request = probe_request(scratch, "honour", time_limit=1.5, grace_period=10.0)
    result = make_sandbox().run(request)
    elapsed = time.monotonic() - started
    assert result.status == FailureKind.TIMEOUT.value and "time limit" in result.error
    assert read_json(result, "sigterm.json") == {"received": True}
    assert result.submission_path is not None  # written in its SIGTERM handler
    assert elapsed < 1.5 + 10.0, "an agent that exits on SIGTERM must not wait out the grace period"


def timeout_with_sigterm_ignored_is_killed_after_grace(
    make_sandbox: SandboxFactory, scratch: Path
) -> None:
    started = time.monotonic()
    request = probe_request(scratch, "ignore", time_limit=1.0, grace_period=1.5)
    result = make_sandbox().run(request)
    elapsed = time.monotonic() - started
    assert result.status == FailureKind.TIMEOUT.value
    assert result.exit_code != 0
    assert 1.0 + 1.5 <= elapsed < 1.0 + 1.5 + 8.0, f"stopped after {elapsed:.1f}s"


def environment_reaches_the_agent(make_sandbox: SandboxFactory, scratch: Path) -> None:
    """On a node without the NVIDIA runtime (GPU ids passed as variables only)."""
    request = probe_request(
        scratch,
        "env",
        seed=42,
        model="gpt-test",
        gpu_ids=("1", "3"),
        time_limit=25.0,
        env={"EXTRA_SETTING": "on"},
    )
    sandbox = make_sandbox()
    result = sandbox.run(request)
    assert result.status == FailureKind.COMPLETED.value, result.error
    env = read_json(result, "env.json")
    assert env["COMPETITION_ID"] == "tiny"
    assert env["MLERAY_SEED"] == "42" and env["MLERAY_MODEL"] == "gpt-test"
    assert env["TIME_LIMIT_SECS"] == "25"
    assert env["MLERAY_GPU_IDS"] == "1,3"
    assert env["CUDA_VISIBLE_DEVICES"] == "1,3" and env["NVIDIA_VISIBLE_DEVICES"] == "1,3"
    assert env["PROBE_PLAIN"] == "plain-value" and env["secret_present"] is True
    assert env["data_files"] == ["description.md", "sample_submission.csv", "test.csv", "train.csv"]
    assert env["PATH_has_validate"] and env["validate_exit"] == 0, env["validate_output"]
    assert (
        env["MLERAY_SUBMISSION_DIR"] in env["instructions"] and "25 seconds" in env["instructions"]
    )
    if sandbox.isolated:  # an isolated backend shows the container layout, as a non-root user
        assert (
            env["MLERAY_DATA"] == "/home/data"
            and env["MLERAY_SUBMISSION_DIR"] == "/home/submission"
        )
        assert env["uid"] == 1000


def kwargs_reach_the_agent_over_defaults(make_sandbox: SandboxFactory, scratch: Path) -> None:
    kwargs = {"nested": {"a": [1, 2]}, "lr": 0.1}
    result = make_sandbox().run(probe_request(scratch, "env", kwargs=kwargs))
    seen = read_json(result, "env.json")["MLERAY_AGENT_KWARGS"]
    assert json.loads(seen) == {"mode": "env", "nested": {"a": [1, 2]}, "lr": 0.1}


def secrets_reach_the_agent_but_are_never_written(
    make_sandbox: SandboxFactory, scratch: Path
) -> None:
    request = probe_request(scratch, "secret")
    assert PROBE_SECRET not in repr(request)
    result = make_sandbox().run(request)
    assert result.status == FailureKind.COMPLETED.value, result.error
    digest = hashlib.sha256(PROBE_SECRET.encode()).hexdigest()
    assert (result.logs_dir / "secret.sha256").read_text() == digest
    assert PROBE_SECRET not in repr(result)
    written = [p for p in (scratch / "work").rglob("*") if p.is_file()]
    assert len(written) >= 5
    leaking = [p for p in written if PROBE_SECRET.encode() in p.read_bytes()]
    assert leaking == []
    output = next(p for p in written if p.name == "mleray-agent-output.log").read_text()
    assert "leaking [secret] to stdout" in output and "leaking [secret] to stderr" in output


def cancel_mid_run(make_sandbox: SandboxFactory, scratch: Path) -> None:
    cancel = threading.Event()
    timer = threading.Timer(1.5, cancel.set)
    timer.start()
    started = time.monotonic()
    try:
        request = probe_request(scratch, "honour", time_limit=60.0)
        result = make_sandbox().run(request, cancel=cancel)
    finally:
        timer.cancel()
    assert result.status == FailureKind.CANCELLED.value
    assert time.monotonic() - started < 15


def cancel_before_start_runs_nothing(make_sandbox: SandboxFactory, scratch: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    result = make_sandbox().run(probe_request(scratch, "submit"), cancel=cancel)
    assert result.status == FailureKind.CANCELLED.value and result.submission_path is None


def anytime_snapshots_of_changed_submissions(make_sandbox: SandboxFactory, scratch: Path) -> None:
    request = probe_request(scratch, "snapshots", kwargs={"step": 1.0}, snapshot_interval=0.4)
    result = make_sandbox().run(request)
    assert result.status == FailureKind.COMPLETED.value, result.error
    snaps = result.snapshots
    contents = [s.path.read_bytes() for s in snaps]
    # three versions; the rewrite is unchanged
    assert len(snaps) == 3, [s.elapsed_seconds for s in snaps]
    assert len(set(contents)) == 3 and contents[-1] == result.submission_path.read_bytes()
    assert [s.elapsed_seconds for s in snaps] == sorted(s.elapsed_seconds for s in snaps)
    assert all(s.path.parent == scratch / "work" / "snapshots" for s in snaps)
    assert snaps[-1].elapsed_seconds - snaps[0].elapsed_seconds >= 1.5


def no_snapshots_without_interval(make_sandbox: SandboxFactory, scratch: Path) -> None:
    result = make_sandbox().run(probe_request(scratch, "snapshots", kwargs={"step": 0.2}))
    assert result.snapshots == () and not (scratch / "work" / "snapshots").exists()


def hostile_files_are_not_followed_or_collected(
    make_sandbox: SandboxFactory, scratch: Path
) -> None:
    request = probe_request(scratch, "hostile", kwargs={"big_bytes": 2_000_000})
    with mock.patch.object(artifacts, "CODE_CAP", 1_000_000):
        result = make_sandbox().run(request)
    assert result.status == FailureKind.COMPLETED.value
    assert result.submission_path is None  # a symlink to /etc/passwd is not a submission
    assert (result.logs_dir / "ok.txt").read_text() == "regular\n"
    for name in ("host-file.txt", "pipe"):
        assert not (result.logs_dir / name).exists()
    assert not (result.code_dir / "root-link").exists()
    assert not (result.code_dir / "big.bin").exists()  # over the cap
    for path in (scratch / "work").rglob("*"):
        assert not path.is_symlink(), path


def terabyte_sparse_file_is_not_copied_through(make_sandbox: SandboxFactory, scratch: Path) -> None:
    """Streaming a 1 TiB sparse file's zeros out of a container would take hours."""
    started = time.monotonic()
    request = probe_request(scratch, "hostile", kwargs={"sparse_bytes": 1024**4})
    result = make_sandbox().run(request)
    assert time.monotonic() - started < 60
    assert result.status == FailureKind.COMPLETED.value
    assert not (result.code_dir / "sparse.bin").exists()


CHECKS: tuple[Callable[[SandboxFactory, Path], None], ...] = (
    submission_is_collected,
    nonzero_exit_is_agent_error,
    no_submission_is_completed_without_path,
    timeout_with_sigterm_honoured,
    timeout_with_sigterm_ignored_is_killed_after_grace,
    environment_reaches_the_agent,
    kwargs_reach_the_agent_over_defaults,
    secrets_reach_the_agent_but_are_never_written,
    cancel_mid_run,
    cancel_before_start_runs_nothing,
    anytime_snapshots_of_changed_submissions,
    no_snapshots_without_interval,
    hostile_files_are_not_followed_or_collected,
    terabyte_sparse_file_is_not_copied_through,
    *SERVICE_CHECKS,
)
