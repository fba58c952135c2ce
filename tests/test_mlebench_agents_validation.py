"""MLE-bench's validation endpoint as mleray answers it (`mlebench-validation-server`, the
sidecar beside an MLE-bench agent): multipart uploads as `curl -F file=@...` sends them,
/health, errors as JSON; and a perfect submission is never rejected, on every built-in
competition and on MLE-bench-layout competitions of the tests' own (the answers with the
sample's columns, rows shuffled), through the endpoint as through the validator itself.

The server runs on this machine's loopback (a free port), with the variables the sandbox
gives it; no answers are ever given to it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pandas as pd
import pytest

from mleray import data, registry
from mleray.grading import validate_submission
from mleray.grading.validate import ValidationResult
from mleray.sandbox.conformance_services import free_ports
from mleray.sandbox.mlebench_contract import VALIDATE_SCRIPT, VALIDATION_SERVER
from mleray.sandbox.paths import VALIDATE_WRAPPER, VALIDATOR
from tests.helpers.mlebench_layout import write_competition, write_prepared

VALID = {"result": "Submission is valid."}


class Endpoint:
    """The validation server for one public folder, on a free loopback port."""

    def __init__(self, public_dir: Path, port: int | None = None):
        self.port = port or free_ports(1)[0]
        env = {**os.environ, "MLERAY_DATA": str(public_dir), "MLERAY_VALIDATOR": str(VALIDATOR)}
        command = [sys.executable, str(VALIDATION_SERVER), "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--checker", str(VALIDATE_WRAPPER)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.close()
        raise AssertionError("the validation server did not start")

    def close(self) -> None:
        self.process.kill()
        self.process.wait()

    def request(self, path: str, body: bytes | None = None, content_type: str = "") -> tuple:
        url = f"http://127.0.0.1:{self.port}{path}"
        headers = {"Content-Type": content_type} if content_type else {}
        try:
            with urllib.request.urlopen(
                urllib.request.Request(url, data=body, headers=headers), timeout=60
            ) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def validate(self, content: bytes, field: str = "file") -> tuple:
        boundary = uuid.uuid4().hex
        body = (
            (
                f"--{boundary}\r\nContent-Disposition: form-data; "
                f'name="{field}"; filename="submission.csv"\r\nContent-Type: text/csv\r\n\r\n'
            ).encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return self.request("/validate", body, f"multipart/form-data; boundary={boundary}")


@pytest.fixture
def endpoint(tmp_path):
    public = tmp_path / "public"
    public.mkdir()
    (public / "sample_submission.csv").write_text("id,label\n1,0\n2,0\n3,0\n")
    (public / "test.csv").write_text("id,x\n1,0.5\n2,0.1\n3,0.9\n")
    server = Endpoint(public)
    yield server
    server.close()


def test_answers_valid_and_invalid_files_as_mlebench_does(endpoint):
    assert endpoint.validate(b"id,label\n3,1\n1,0\n2,1\n") == (200, VALID)
    status, answer = endpoint.validate(b"id,label\n1,0\n2,0\n")
    assert status == 200 and answer["result"].startswith("Submission is invalid: ")
    assert answer["result"].endswith("submission.csv: has 2 rows, expected 3")  # its own name
    status, answer = endpoint.validate(b"\xff\xfe\x00garbage")
    assert status == 200 and answer["result"].startswith("Submission is invalid: ")
    assert endpoint.request("/health") == (200, {"status": "running"})


def test_requests_without_a_file_are_told_how_to_send_one(endpoint):
    status, answer = endpoint.validate(b"id,label\n1,0\n", field="submission")
    assert status == 400 and "no form field 'file'" in answer["error"]
    status, answer = endpoint.request("/validate", b"id,label\n", "text/csv")
    assert status == 400 and "file" in answer["error"]
    assert endpoint.request("/grade")[0] == 404


def test_a_public_folder_without_a_sample_is_a_server_error_not_a_verdict(tmp_path):
    server = Endpoint(tmp_path)
    try:
        status, answer = server.validate(b"id,label\n1,0\n")
    finally:
        server.close()
    assert status == 500 and "no sample submission" in answer["details"]


def test_the_script_posts_through_python_where_curl_is_missing(endpoint, tmp_path):
    """/home/validate_submission.sh names port 5000; here the same script is pointed at the
    test's port, with no curl on PATH (mleray's base image has none)."""
    script = tmp_path / "validate_submission.sh"
    text = VALIDATE_SCRIPT.read_text().replace("localhost:5000", f"localhost:{endpoint.port}")
    script.write_text(text)
    submission = tmp_path / "submission.csv"
    submission.write_text("id,label\n1,1\n2,0\n3,1\n")
    bin_dir = tmp_path / "bin"  # python3 and bash only
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    for tool in ("bash",):
        (bin_dir / tool).symlink_to(subprocess.check_output(["which", tool], text=True).strip())
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    run = subprocess.run(
        ["bash", str(script), str(submission)], capture_output=True, text=True, env=env
    )
    assert json.loads(run.stdout) == VALID, run
    missing = subprocess.run(
        ["bash", str(script), str(tmp_path / "nope.csv")], capture_output=True, text=True, env=env
    )
    assert missing.returncode == 1 and "does not exist" in missing.stdout
    usage = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env)
    assert usage.returncode == 1 and usage.stdout.startswith("Usage: ")


@pytest.mark.parametrize("competition_id", registry.load_split("builtin"))
def test_a_perfect_builtin_submission_is_valid_at_the_endpoint(builtin_data, competition_id):
    competition = registry.get_competition(competition_id, extra_paths=[])
    perfect = _perfect(competition.answers_path, competition.sample_submission_path)
    server = Endpoint(competition.public_dir)
    try:
        assert server.validate(perfect) == (200, VALID)
    finally:
        server.close()


# MLE-bench-layout competitions, written here: public files, the answers, and the columns the
# sample holds a constant in; each a layout that position or type guessing gets wrong
N = 24
COMMENTS = [f'"c, {i}"\nline' if i % 5 == 0 else f"c {i}" for i in range(N)]
DATES = ["" if i % 3 else f"2012{i % 4}" for i in range(N)]
IMAGES = [f"img_{i:04d}.jpg" for i in range(N)]
LAYOUTS = {
    "target-first": (  # the sample begins with its target, rows are matched by text
        {"test.csv": pd.DataFrame({"Date": DATES, "Comment": COMMENTS})},
        pd.DataFrame({"Insult": [i % 2 for i in range(N)], "Date": DATES, "Comment": COMMENTS}),
        ["Insult"],
    ),
    "class-probabilities": (
        {"test.csv": pd.DataFrame({"id": range(N), "f": range(N)})},
        pd.DataFrame(
            {
                "id": range(N),
                **{f"class_{k}": [float(i % 3 == k) for i in range(N)] for k in (0, 1, 2)},
            }
        ),
        ["class_0", "class_1", "class_2"],
    ),
    "text-ids-and-labels": (
        {"test.csv": pd.DataFrame({"image_name": IMAGES})},
        pd.DataFrame(
            {"image_name": IMAGES, "label": [["cat", "dog", "other"][i % 3] for i in range(N)]}
        ),
        ["label"],
    ),
    "booleans-no-test-table": (
        {"train.csv": pd.DataFrame({"PassengerId": ["x_01"], "Transported": [True]})},
        pd.DataFrame(
            {
                "PassengerId": [f"{i:04d}_01" for i in range(N)],
                "Transported": [i % 2 == 0 for i in range(N)],
            }
        ),
        ["Transported"],
    ),
    "id-last-zero-padded": (
        {"test.csv": pd.DataFrame({"row_id": [f"{i:05d}" for i in range(N)], "x": range(N)})},
        pd.DataFrame(
            {"target": [i * 0.5 for i in range(N)], "row_id": [f"{i:05d}" for i in range(N)]}
        ),
        ["target"],
    ),
}
GRADE = "def grade(submission, answers):\n    return float(len(submission) == len(answers))\n"


@pytest.fixture
def mlebench_layouts(tmp_path, monkeypatch):
    """Each layout as an MLE-bench competition folder with its data prepared."""
    reg, data_dir = tmp_path / "registry", tmp_path / "mle-data"
    monkeypatch.setenv("MLERAY_MLEBENCH_DATA_DIR", str(data_dir))
    competitions = {}
    for name, (public, answers, predicted) in LAYOUTS.items():
        sample = answers.assign(**{column: answers[column].iloc[0] for column in predicted})
        files = {file: table.to_csv(index=False) for file, table in public.items()}
        files["sample_submission.csv"] = sample.to_csv(index=False)
        write_competition(reg, name, grade=GRADE, answers="answers.csv")
        write_prepared(data_dir, name, files, {"answers.csv": answers.to_csv(index=False)})
        competitions[name] = data.ensure_prepared(registry.get_competition(name, extra_paths=[reg]))
    return competitions


def test_a_perfect_mlebench_layout_submission_is_valid_everywhere(mlebench_layouts, tmp_path):
    for name, competition in mlebench_layouts.items():
        perfect = _perfect(competition.answers_path, competition.sample_submission_path)
        path = tmp_path / f"{name}.csv"
        path.write_bytes(perfect)
        checked = validate_submission(path, competition.sample_submission_path)
        assert checked == ValidationResult(True, None, None), (name, checked)
        server = Endpoint(competition.public_dir)
        try:
            assert server.validate(perfect) == (200, VALID), name
        finally:
            server.close()


def _perfect(answers: Path, sample: Path) -> bytes:
    """The answers in the sample's columns, rows in another order, as a CSV."""
    columns = list(pd.read_csv(sample, nrows=0).columns)
    table = pd.read_csv(answers, dtype=str, keep_default_na=False)[columns]
    return table.iloc[::-1].to_csv(index=False).encode()
