"""The llm-loop agent on the host (a local process, as the `local` sandbox runs it) against
the gateway and the stub provider: the stub's first script fails, the agent feeds the error
back, the second one writes a submission that is valid and grades."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mleray import registry
from mleray.gateway.routes import Budget, ModelRoute
from mleray.gateway.stub import StubScript, ThreadedStub
from mleray.gateway.threaded import ThreadedGateway
from mleray.grading import grade_submission

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
AGENT = ROOT / "agents" / "llm-loop" / "run.py"
KEY_ENV = "MLERAY_TEST_LLM_LOOP_KEY"
REAL_KEY = "sk-llm-loop-test-key-24680"


def _agent_env(tmp_path: Path, public: Path, base_url: str, token: str) -> dict[str, str]:
    folders = {name: tmp_path / name for name in ("submission", "logs", "code", "home")}
    for folder in folders.values():
        folder.mkdir()
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV and not k.startswith("OPENAI_")}
    return {
        **env,
        "PATH": os.pathsep.join([str(ROOT / "mleray" / "sandbox" / "bin"), env["PATH"]]),
        "HOME": str(folders["home"]),
        "MLERAY_DATA": str(public),
        "MLERAY_SUBMISSION_DIR": str(folders["submission"]),
        "MLERAY_LOGS_DIR": str(folders["logs"]),
        "MLERAY_CODE_DIR": str(folders["code"]),
        "MLERAY_VALIDATOR": str(ROOT / "mleray" / "grading" / "validate.py"),
        "MLERAY_AGENT_KWARGS": '{"max_steps": 4}',
        "MLERAY_MODEL": "stub-a",
        "COMPETITION_ID": "breast-cancer-auc",
        "TIME_LIMIT_SECS": "300",
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_KEY": token,
    }


def test_llm_loop_fixes_its_script_and_submits(builtin_data, tmp_path):
    competition = registry.get_competition("breast-cancer-auc")
    with (
        ThreadedStub(StubScript(require_key=REAL_KEY)) as stub,
        ThreadedGateway(tcp_port=0, environ={KEY_ENV: REAL_KEY}) as gateway,
    ):
        route = ModelRoute(
            "stub-a", "openai-compatible", base_url=stub.base_url, api_key_env=KEY_ENV
        )
        token = gateway.issue("t1", [route], Budget(max_tokens=100_000))
        env = _agent_env(tmp_path, competition.public_dir, gateway.address.tcp_url, token)
        proc = subprocess.run(
            [sys.executable, str(AGENT)], env=env, capture_output=True, text=True, timeout=280
        )
        usage, stats = gateway.revoke("t1"), stub.stats()
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    code = tmp_path / "code"
    assert sorted(p.name for p in code.iterdir()) == ["solution.py", "step_1.py", "step_2.py"]
    report = grade_submission(competition, tmp_path / "submission" / "submission.csv")
    assert report.valid_submission and report.score is not None, report.error
    assert usage.requests == stats["requests"] == 2
    assert usage.prompt_tokens == stats["prompt_tokens"]
    assert usage.completion_tokens == stats["completion_tokens"]
    assert stats["keys_seen"] == [REAL_KEY]
    logs = "".join(p.read_text() for p in (tmp_path / "logs").iterdir())
    assert "FileNotFoundError" in logs and REAL_KEY not in logs  # the error went back
