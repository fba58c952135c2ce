"""Local-sandbox specifics (the shared behaviour is in test_sandbox_conformance.py), the
building blocks both backends share (artifact collection, snapshots, usage parsing), and
the built-in agents run locally."""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path

import pytest

from mleray.agents import get_agent, load_agent
from mleray.errors import FailureKind, SpecError
from mleray.sandbox import RunRequest, ServiceSpec, artifacts, get_sandbox
from mleray.sandbox.local import LocalSandbox
from mleray.sandbox.snapshots import SnapshotTaker
from tests.helpers.sandbox import make_competition, probe_request


def test_get_sandbox_names():
    assert get_sandbox("local").name == "local" and get_sandbox("docker").name == "docker"
    with pytest.raises(SpecError, match="unknown sandbox 'podman'"):
        get_sandbox("podman")


def test_registry_takes_a_third_backend(monkeypatch):
    import mleray.sandbox as sandboxes

    class Fake(LocalSandbox):
        name = "fake"

    monkeypatch.setattr(sandboxes, "_FACTORIES", dict(sandboxes._FACTORIES))
    sandboxes.register_sandbox("fake", Fake)
    assert isinstance(get_sandbox("fake"), Fake) and sandboxes.SANDBOXES == (
        "docker",
        "local",
        "fake",
    )
    with pytest.raises(SpecError, match=r"unknown sandbox 'podman' \(known: docker, local, fake\)"):
        get_sandbox("podman")


def test_check_ready_finds_the_agent_command(tmp_path):
    from mleray.errors import SandboxUnavailableError

    assert LocalSandbox().check_ready(get_agent("noop")).endswith("python3")
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    (agent_dir / "config.yaml").write_text("name: broken\nimage: none\ncommand: [no-such-binary]\n")
    with pytest.raises(SandboxUnavailableError, match="command 'no-such-binary' .* is not found"):
        LocalSandbox().check_ready(load_agent(agent_dir))


def test_leftover_children_are_killed(tmp_path):
    result = LocalSandbox().run(probe_request(tmp_path, "orphan"))
    assert result.status == FailureKind.COMPLETED.value
    pid = json.loads((result.logs_dir / "orphan.json").read_text())["pid"]
    time.sleep(0.2)
    status = Path(f"/proc/{pid}/status")
    assert not status.exists() or "State:\tZ" in status.read_text(), (
        "the agent's child outlived the run"
    )


def test_usage_from_wait4(tmp_path):
    result = LocalSandbox().run(probe_request(tmp_path, "burn", kwargs={"seconds": 1.0}))
    assert result.status == FailureKind.COMPLETED.value
    assert 0.9 <= result.cpu_seconds < 3 and result.peak_memory_bytes > 1024**2


def test_missing_command_is_infra_error(tmp_path):
    from mleray.errors import InfraError

    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    (agent_dir / "config.yaml").write_text(
        "name: broken\nimage: none:latest\ncommand: [/no/such/binary]\n"
    )
    request = probe_request(tmp_path, "submit")
    with pytest.raises(InfraError, match="cannot start agent command"):
        LocalSandbox().run(RunRequest(**{**request.__dict__, "agent": load_agent(agent_dir)}))
    # with services the launcher execs the agent: the same fault, reported as a result
    service = ServiceSpec(name="idle", command=("python3", "-c", "import time; time.sleep(60)"))
    changed = {**request.__dict__, "agent": load_agent(agent_dir), "services": (service,)}
    result = LocalSandbox().run(RunRequest(**changed))
    assert result.status == FailureKind.INFRA_ERROR, result.error
    assert "cannot start agent command '/no/such/binary'" in result.error


def test_classification_of_how_a_run_ended(tmp_path):
    from mleray.sandbox.lifecycle import Ending, classify

    request = probe_request(tmp_path, "submit", time_limit=5, memory_bytes=1000)
    cases = [
        (Ending(FailureKind.CANCELLED, -15), "infra", (FailureKind.CANCELLED, "cancelled")),
        (Ending(FailureKind.TIMEOUT, 0), "svc down", (FailureKind.INFRA_ERROR, "svc down")),
        (
            Ending(FailureKind.TIMEOUT, 137, True),
            None,
            (FailureKind.TIMEOUT, "time limit of 5s exceeded"),
        ),
        (Ending(None, 137, True), None, (FailureKind.OOM, "out of memory (limit 1000 bytes)")),
        (Ending(None, 0, True), None, (FailureKind.COMPLETED, None)),
        (Ending(None, -9), None, (FailureKind.AGENT_ERROR, "agent killed by signal SIGKILL")),
        (Ending(None, 3), None, (FailureKind.AGENT_ERROR, "agent exited with code 3")),
    ]
    for ending, service_error, expected in cases:
        assert classify(request, ending, service_error) == expected, ending


# ------------------------------------------------------------------ shared building blocks


def _tar(entries) -> list[bytes]:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.SYMTYPE or kind == tarfile.LNKTYPE:
                info.linkname = data
                archive.addfile(info)
            elif kind == tarfile.DIRTYPE:
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    return [raw[i : i + 1000] for i in range(0, len(raw), 1000)]  # chunked, as Docker streams it


def test_extract_archive_keeps_only_safe_regular_files(tmp_path):
    chunks = _tar(
        [
            ("logs", tarfile.DIRTYPE, None),
            ("logs/ok.txt", tarfile.REGTYPE, b"fine"),
            ("logs/sub", tarfile.DIRTYPE, None),
            ("logs/sub/deep.txt", tarfile.REGTYPE, b"deep"),
            ("logs/link", tarfile.SYMTYPE, "/etc/passwd"),
            ("logs/hard", tarfile.LNKTYPE, "logs/ok.txt"),
            ("logs/../escape.txt", tarfile.REGTYPE, b"out"),
            ("/abs.txt", tarfile.REGTYPE, b"abs"),
            ("logs/fifo", tarfile.FIFOTYPE, b""),
            ("logs/big.bin", tarfile.REGTYPE, b"x" * 5000),
        ]
    )
    collected = artifacts.extract_archive(chunks, tmp_path / "out", cap_bytes=1000)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["out/ok.txt", "out/sub/deep.txt"]
    assert collected.files == 2 and collected.bytes == 8
    reasons = " ".join(collected.skipped)
    assert (
        "logs/link (not a regular file)" in reasons
        and "unsafe name" in reasons
        and "byte cap" in reasons
    )


def test_copy_file_refuses_symlinks_and_oversize(tmp_path):
    (tmp_path / "real.csv").write_text("a,b\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "real.csv")
    assert artifacts.copy_file(tmp_path / "link.csv", tmp_path / "x.csv", 100) is None
    assert artifacts.copy_file(tmp_path / "real.csv", tmp_path / "y.csv", 2) is None
    assert artifacts.copy_file(tmp_path / "real.csv", tmp_path / "z.csv", 100) == 4


def test_snapshot_taker_keeps_only_changes_at_most_every_interval(tmp_path):
    taker = SnapshotTaker(tmp_path, interval=10.0)
    contents = iter([b"v1", b"v1", b"v2"])

    def write(target: Path, max_bytes: int) -> bool:
        target.write_bytes(next(contents))
        return True

    taker.offer(0.0, write)  # v1 kept
    taker.offer(5.0, write)  # not due: not even read
    taker.offer(10.0, write)  # v1 again: unchanged, dropped
    taker.offer(20.0, write)  # v2 kept
    final = tmp_path / "final.csv"
    final.write_bytes(b"v2")
    taker.finish(25.0, final)  # same as the last: no new one
    final.write_bytes(b"v3")
    taker.finish(26.0, final)
    assert [(s.elapsed_seconds, s.path.read_bytes()) for s in taker.taken] == [
        (0.0, b"v1"),
        (20.0, b"v2"),
        (26.0, b"v3"),
    ]
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == [
        "000000.000.csv",
        "000020.000.csv",
        "000026.000.csv",
    ]


def test_snapshots_stay_within_their_byte_budget(tmp_path):
    """An agent rewriting a huge submission every interval cannot fill this node's disk
    (nor the memory the snapshots travel in): what does not fit is not taken."""
    taker = SnapshotTaker(tmp_path, interval=1.0, budget_bytes=10)
    offered: list[int] = []

    def write(data: bytes):
        def writer(target: Path, max_bytes: int) -> bool:
            offered.append(max_bytes)
            if len(data) > max_bytes:
                return False  # as the backends do: not copied at all
            target.write_bytes(data)
            return True

        return writer

    taker.offer(0.0, write(b"aaaa"))  # 4 of 10 bytes
    taker.offer(1.0, write(b"b" * 20))  # does not fit: not taken
    taker.offer(2.0, write(b"cccccc"))  # 10 of 10
    taker.offer(3.0, write(b"d"))  # nothing left
    final = tmp_path / "final.csv"
    final.write_bytes(b"e")
    taker.finish(4.0, final)
    assert [s.path.read_bytes() for s in taker.taken] == [b"aaaa", b"cccccc"]
    assert offered == [10, 6, 6, 0] and taker.remaining_bytes == 0
    assert len(list((tmp_path / "snapshots").iterdir())) == 2


def test_usage_sampler_reads_cgroup_files_then_the_stats_api(tmp_path, monkeypatch):
    from mleray.sandbox import usage

    class FakeContainer:
        id = "abc123"

        def stats(self, stream, one_shot):
            return {
                "cpu_stats": {"cpu_usage": {"total_usage": 3_000_000_000}},
                "memory_stats": {"max_usage": 700},
            }

    monkeypatch.setattr(usage, "CGROUP_ROOT", tmp_path)
    api = usage.UsageSampler(FakeContainer())
    api.sample()
    assert (api.cpu_seconds, api.peak_memory_bytes) == (3.0, 700)
    v1 = tmp_path / "cpuacct" / "docker" / "abc123"
    mem = tmp_path / "memory" / "docker" / "abc123"
    v1.mkdir(parents=True)
    mem.mkdir(parents=True)
    (v1 / "cpuacct.usage").write_text("5500000000\n")
    (mem / "memory.max_usage_in_bytes").write_text("123456\n")
    files = usage.UsageSampler(FakeContainer())
    files.sample()
    assert (files.cpu_seconds, files.peak_memory_bytes) == (5.5, 123456)


# ------------------------------------------------------------------ built-in agents, locally


def test_noop_and_sleep_locally(tmp_path):
    public = make_competition(tmp_path / "comp")
    for name, kwargs in (("noop", {}), ("sleep", {"seconds": 0.5})):
        request = RunRequest(
            trial_id=name,
            results_key="h3-test-local",
            competition_id="tiny",
            public_dir=public,
            agent=get_agent(name),
            workdir=tmp_path / name,
            kwargs=kwargs,
        )
        result = LocalSandbox().run(request)
        assert result.status == FailureKind.COMPLETED.value, result.error
        assert (
            result.submission_path.read_bytes() == (public / "sample_submission.csv").read_bytes()
        )
        if name == "sleep":
            assert result.wall_seconds >= 0.5


@pytest.mark.slow
def test_baseline_is_seed_dependent_and_valid(tmp_path):
    import numpy as np
    import pandas as pd

    public = make_competition(tmp_path / "comp")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(130, 2))
    frame = pd.DataFrame(
        {
            "id": range(130),
            "x1": x[:, 0],
            "x2": x[:, 1],
            "target": (x[:, 0] + rng.normal(size=130) > 0).astype(int),
        }
    )
    frame[:100].to_csv(public / "train.csv", index=False)
    frame[100:].drop(columns="target").to_csv(public / "test.csv", index=False)
    frame[100:][["id"]].assign(target=0.5).to_csv(public / "sample_submission.csv", index=False)
    submissions = []
    for seed in (0, 1, 0):
        request = RunRequest(
            trial_id=f"b{seed}",
            results_key="h3-test-local",
            competition_id="tiny",
            public_dir=public,
            agent=get_agent("baseline"),
            workdir=tmp_path / f"s{seed}-{len(submissions)}",
            seed=seed,
            kwargs={"n_estimators": 20},
        )
        result = LocalSandbox().run(request)
        assert result.status == FailureKind.COMPLETED.value, (
            result.logs_dir / "mleray-agent-output.log"
        ).read_text()
        assert "validate-submission: exit 0" in (result.logs_dir / "baseline.log").read_text()
        submissions.append(result.submission_path.read_text())
    assert submissions[0] == submissions[2], "same seed, same submission"
    assert submissions[0] != submissions[1], "another seed, another model"


def test_validate_wrapper_prefers_the_sample_submission(tmp_path):
    """`validate-submission` compares with sample_submission.csv even when another file
    with "sample" in its name sorts first."""
    import subprocess
    import sys

    from mleray.sandbox.contract import VALIDATE_WRAPPER, VALIDATOR

    data = tmp_path / "data"
    data.mkdir()
    (data / "sample_submission.csv").write_text("id,target\n1,0\n2,0\n")
    (data / "a_sample.csv").write_text("id,feature,other\n9,1,2\n")
    submission = tmp_path / "submission.csv"
    submission.write_text("id,target\n2,0.5\n1,0.25\n")
    env = {"MLERAY_DATA": str(data), "MLERAY_VALIDATOR": str(VALIDATOR), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, str(VALIDATE_WRAPPER), str(submission)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "Submission is valid."), result.stderr
