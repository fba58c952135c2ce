"""A secret an agent writes into a submission cell reaches nothing: not the grading
report's error (which quotes cells), not the stored submission or snapshots. The sandbox
redacts the submission and its snapshots on the agent's node, before they leave it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mleray.errors import FailureKind
from tests.helpers.hardening import HARDENING_DIR, HARDENING_SECRET, SECRET_ENV, hardening_request

COMPETITION = "breast-cancer-auc"


def _every_byte_under(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


@pytest.mark.ray
def test_a_secret_in_a_cell_is_redacted_from_grading_and_results(
    tmp_path, builtin_data, monkeypatch
):
    from mleray.driver import run_sweep
    from mleray.results import load
    from mleray.spec import spec_from_dict

    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)  # the node's environment holds the agent's secret
    spec = spec_from_dict(
        {
            "name": "secret-cell",
            "competitions": [COMPETITION],
            "agents": [{"name": str(HARDENING_DIR), "kwargs": {"mode": "secret-cell"}}],
            "resources": {"cpus": 1, "memory": "512m"},
            "sandbox": "local",
            "results": str(tmp_path / "results"),
            "snapshot_interval": 0.2,
        },
        source="test",
    )
    summary = run_sweep(spec, num_cpus=2, progress=False)
    assert dict(summary.counts) == {FailureKind.COMPLETED: 1}
    [row] = load(tmp_path / "results").to_dict("records")
    assert not row["valid_submission"]
    assert "non-numeric value 'leak-[secret]-leak'" in row["grade_error"], row["grade_error"]
    stored = _every_byte_under(tmp_path / "results")
    assert b"leak-[secret]-leak" in stored  # the stored submission, redacted...
    assert HARDENING_SECRET.encode() not in stored  # ...and no copy of the secret anywhere
    assert HARDENING_SECRET[:12].encode() not in stored  # not even cut short


@pytest.mark.docker
def test_docker_redacts_the_submission_and_its_snapshots(tmp_path, probe_image):
    from mleray.sandbox.docker import DockerSandbox
    from tests.helpers.hardening import build_hardening_image

    build_hardening_image()
    request = hardening_request(tmp_path, "secret-cell", snapshot_interval=0.1)
    result = DockerSandbox().run(request)
    assert result.status == FailureKind.COMPLETED, result.error
    files = [result.submission_path, *(s.path for s in result.snapshots)]
    assert len(files) >= 2 and all(b"leak-[secret]-leak" in f.read_bytes() for f in files)
    assert HARDENING_SECRET.encode() not in _every_byte_under(Path(request.workdir))
