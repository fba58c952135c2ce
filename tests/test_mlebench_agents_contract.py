"""MLE-bench's container contract for MLE-bench-format agents, without Docker: the
variables, /home/instructions.txt, /home/validate_submission.sh, the validation sidecar, and
the start command with its kwargs, as uid 1000 in /home."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from mleray.agents import get_agent
from mleray.sandbox.base import RunRequest
from mleray.sandbox.container import LAUNCH_CONFIG_PATH, create_container, runtime_archive
from mleray.sandbox.contract import (
    CONTAINER_PATHS,
    agent_environment,
    container_paths,
    instructions_text,
    with_contract_services,
)
from mleray.sandbox.mlebench_contract import CONTAINER_PATHS as MLEBENCH_PATHS
from mleray.sandbox.mlebench_contract import VALIDATION_SERVICE

FORMAT_DIR = Path(__file__).resolve().parent / "agents" / "mlebench-format"


def _request(tmp_path: Path, agent_id: str = "toy/dev", **changes) -> RunRequest:
    fields = dict(
        trial_id="t1",
        results_key="k",
        competition_id="breast-cancer-auc",
        public_dir=tmp_path,
        agent=get_agent(f"{FORMAT_DIR}:{agent_id}"),
        workdir=tmp_path / "work",
        time_limit=120,
        kwargs={"agent.steps": 2},
    )
    return RunRequest(**{**fields, **changes})


def test_the_variables_are_mlebench_s_with_mleray_s_time_limit(tmp_path):
    request = _request(tmp_path, "toy/secret", secrets={"TOY_TOKEN": "tok-1234"})
    env = agent_environment(request, container_paths(request.agent))
    assert {k: env[k] for k in ("SUBMISSION_DIR", "LOGS_DIR", "CODE_DIR", "AGENT_DIR")} == {
        "SUBMISSION_DIR": "/home/submission",
        "LOGS_DIR": "/home/logs",
        "CODE_DIR": "/home/code",
        "AGENT_DIR": "/home/agent",
    }
    assert env["HOME"] == "/home/nonroot" and env["COMPETITION_ID"] == "breast-cancer-auc"
    assert env["TIME_LIMIT_SECS"] == "120" and env["STEP_LIMIT"] == "3"
    assert env["TOY_TOKEN"] == "tok-1234"
    mleray_agent = RunRequest(**{**request.__dict__, "agent": get_agent("noop")})
    assert container_paths(mleray_agent.agent) == CONTAINER_PATHS
    assert "SUBMISSION_DIR" not in agent_environment(mleray_agent, CONTAINER_PATHS)


def test_instructions_describe_mlebench_s_contract(tmp_path):
    text = instructions_text(_request(tmp_path), MLEBENCH_PATHS)
    assert text.startswith("You are taking part in *MLE-bench*")
    for needle in (
        "`/home/data/description.md`",
        "MUST produce a submission file at `/home/submission/submission.csv`",
        "`http://localhost:5000/validate`",
        "`/home/validate_submission.sh`",
        'curl -X POST -F "file=@${SUBMISSION_FILE}"',
        "does NOT give you a score",
        "`/home/instructions.txt`",
    ):
        assert needle in text, needle


def _archive(request: RunRequest) -> dict[str, tarfile.TarInfo]:
    data = runtime_archive(with_contract_services(request))
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        members = {m.name: m for m in archive.getmembers()}
        members["launch"] = json.loads(archive.extractfile(LAUNCH_CONFIG_PATH.lstrip("/")).read())
        members["instructions"] = archive.extractfile("home/instructions.txt").read().decode()
    return members


def test_the_container_gets_the_files_and_the_validation_sidecar(tmp_path):
    members = _archive(_request(tmp_path))
    script = members["home/validate_submission.sh"]
    assert script.mode == 0o755 and "home/instructions.md" not in members
    (service,) = members["launch"]["services"]
    assert service["name"] == VALIDATION_SERVICE and service["ready_port"] == 5000
    folder = f"/opt/mleray/services/{VALIDATION_SERVICE}"
    assert service["command"] == [
        "python3",
        f"{folder}/mlebench-validation-server",
        "--port",
        "5000",
        "--checker",
        f"{folder}/validate-submission",
    ]
    assert f"opt/mleray/services/{VALIDATION_SERVICE}/validate-submission" in members
    assert "MLE-bench" in members["instructions"]


def test_services_of_the_request_follow_the_sidecar(tmp_path):
    from mleray.sandbox.base import ServiceSpec

    other = ServiceSpec(name="forwarder", command=("true",))
    services = with_contract_services(_request(tmp_path, services=(other,))).services
    assert [s.name for s in services] == [VALIDATION_SERVICE, "forwarder"]
    plain = RunRequest(**{**_request(tmp_path).__dict__, "agent": get_agent("noop")})
    assert with_contract_services(plain) is plain


class _Containers:
    def create(self, **options):
        self.options = options
        return options


class _Client:
    containers = _Containers()


def test_the_start_script_runs_with_its_kwargs_as_uid_1000_in_home(tmp_path):
    request = with_contract_services(_request(tmp_path))
    options = create_container(_Client(), request, "tag", "name", gpus=False)
    launcher = ["/opt/mleray/bin/mleray-launch", LAUNCH_CONFIG_PATH, "--"]
    assert options["command"] == [
        *launcher,
        "bash",
        "/home/agent/start.sh",
        "agent.search.debug_prob=1",
        "copy_data=False",
        "agent.steps=2",  # the sweep's kwargs override the config's
        "agent.code.model=toy-model",
    ]
    assert options["user"] == "1000:1000" and options["working_dir"] == "/home"
    assert options["network_mode"] == "none"
    assert [m["Target"] for m in options["mounts"]] == ["/home/data"]
    argtoy = with_contract_services(_request(tmp_path, "argtoy", kwargs={}))
    command = create_container(_Client(), argtoy, "tag", "name", gpus=False)["command"]
    assert command[len(launcher) :] == [
        "bash",
        "/home/agent/start.sh",
        "--llm-name",
        "toy-model",
        "--max-steps",
        "7",
        "--fast",
        "True",
    ]
