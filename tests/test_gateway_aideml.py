"""AIDE (`agents/aideml`) through the model gateway against the stub provider.

AIDE asks for a plan and code (plain chat completions: the stub's working script), runs it,
and reviews the run with a forced `submit_review` tool call, which the stub answers with
scripted arguments. The Docker test needs the optional aideml image (8.8 GB), so it is
skipped until it exists:

    mleray agents build aideml
    python -m pytest tests/test_gateway_aideml.py -m aideml
"""

from __future__ import annotations

import pytest

from mleray.errors import FailureKind
from mleray.gateway.routes import ModelRoute
from mleray.gateway.stub import StubScript, ThreadedStub
from mleray.gateway.stub_solution import WORKING
from mleray.gateway.threaded import ThreadedGateway

KEY_ENV = "GATEWAY_AIDEML_TEST_KEY"
REAL_KEY = "sk-aideml-test-key-5566778899"
REVIEW = {  # AIDE's review function's fields: it ran, wrote a submission, scored 0.9
    "is_bug": False,
    "has_csv_submission": True,
    "summary": "The random forest trained and wrote a submission.",
    "metric": 0.9,
    "lower_is_better": False,
}
AIDE_SCRIPT = StubScript(
    replies=(WORKING,), tool_arguments={"submit_review": REVIEW}, require_key=REAL_KEY
)


def test_the_stub_answers_aides_review_call_through_the_gateway():
    import json

    import openai

    with (
        ThreadedStub(AIDE_SCRIPT) as stub,
        ThreadedGateway(tcp_port=0, environ={KEY_ENV: REAL_KEY}) as gateway,
    ):
        route = ModelRoute(
            "gpt-4o-mini", "openai-compatible", base_url=stub.base_url, api_key_env=KEY_ENV
        )
        token = gateway.issue("t", [route])
        client = openai.OpenAI(base_url=gateway.address.tcp_url, api_key=token, max_retries=0)
        tool = {"type": "function", "function": {"name": "submit_review", "parameters": {}}}
        reply = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "system", "content": "review the run"}],
            tools=[tool],
            tool_choice={"type": "function", "function": {"name": "submit_review"}},
        )
        (call,) = reply.choices[0].message.tool_calls
        assert call.function.name == "submit_review"
        assert json.loads(call.function.arguments) == REVIEW
        usage = gateway.revoke("t")
    assert usage.requests == 1 and usage.completion_tokens == reply.usage.completion_tokens


@pytest.mark.docker
@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.aideml
@pytest.mark.timeout(1800)
def test_aideml_submits_through_the_gateway_in_docker(tmp_path, builtin_data, monkeypatch):
    from mleray.agents import get_agent
    from mleray.driver import run_sweep
    from mleray.errors import SandboxUnavailableError
    from mleray.results import load
    from mleray.sandbox.docker import DockerSandbox
    from mleray.spec import spec_from_dict

    try:
        DockerSandbox(build_missing=False).check_ready(get_agent("aideml"))  # no 8.8 GB build
    except SandboxUnavailableError as exc:
        pytest.skip(f"the optional aideml image is not built ({exc}): mleray agents build aideml")
    monkeypatch.setenv(KEY_ENV, REAL_KEY)
    with ThreadedStub(AIDE_SCRIPT) as stub:
        model = {
            "name": "gpt-4o-mini",  # what AIDE is told to ask for (its OpenAI backend)
            "provider": "openai-compatible",
            "base_url": stub.base_url,
            "api_key_env": KEY_ENV,
        }
        spec = spec_from_dict(
            {
                "name": "aideml-gateway",
                "competitions": ["breast-cancer-auc"],
                "agents": [{"name": "aideml", "models": [model], "kwargs": {"steps": 2}}],
                "sandbox": "docker",
                "time_limit": 900,
                "resources": {"cpus": 2, "memory": "4g"},
                "results": str(tmp_path / "results"),
                "max_attempts": 1,
            },
            source="test",
        )
        summary = run_sweep(spec, num_cpus=2, progress=False)
        stats = stub.stats()
    (row,) = load(tmp_path / "results").to_dict("records")
    assert summary.counts == {FailureKind.COMPLETED: 1}, row["error"]
    assert row["valid_submission"] and row["score"] is not None, row["grade_error"]
    assert row["model_requests"] >= 2 and row["prompt_tokens"] == stats["prompt_tokens"]
    assert row["completion_tokens"] == stats["completion_tokens"]
    assert stats["keys_seen"] == [REAL_KEY]
