"""The model gateway wired end to end: sweeps (`run_sweep`) whose agents reach a stub provider
on 127.0.0.1 only through their node's gateway, in Docker at `network: none`.

One sweep runs `llm-loop` (fixes the stub's broken first script, submits, grades) and the
`keyprobe` test agent (tests/agents/keyprobe: searches its environment, every process it can
see, its files and the gateway's answers for the provider key; asks for another trial's
model; asks until its budget runs out). The stub requires the real key, quotes the caller's
key in every reply, and answers 429 to the first two requests.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from mleray.agents import load_agent
from mleray.errors import FailureKind
from mleray.gateway.audit import find_secret
from mleray.gateway.stub import StubScript, ThreadedStub
from mleray.results import load
from mleray.spec import spec_from_dict

ROOT = Path(__file__).resolve().parent.parent
KEYPROBE = ROOT / "tests" / "agents" / "keyprobe"
KEY_ENV = "GATEWAY_SWEEP_TEST_KEY"  # not MLERAY_*: those are handed to Ray's workers
MARKER = "c4n4ry-5f1e9b07d2"  # a piece of the key, searched for by the probe
REAL_KEY = f"sk-sweep-test-{MARKER}-77aa"
COMPETITION = "breast-cancer-auc"


def stub_model(name: str, base_url: str, **extra) -> dict:
    return {
        "name": name,
        "provider": "openai-compatible",
        "base_url": base_url,
        "api_key_env": KEY_ENV,
        **extra,
    }


def sweep(tmp_path: Path, agents: list, sandbox: str = "docker"):
    return spec_from_dict(
        {
            "name": "gateway-sweep",
            "competitions": [COMPETITION],
            "agents": agents,
            "sandbox": sandbox,
            "time_limit": 300,
            "resources": {"cpus": 1, "memory": "2g"},
            "results": str(tmp_path / "results"),
            "max_attempts": 1,
        },
        source="test",
    )


def probe_agent(base_url: str, budget_tokens: int, scan_files: bool = True) -> dict:
    budget = {"max_tokens": budget_tokens}
    return {
        "name": str(KEYPROBE),
        "models": [stub_model(m, base_url, budget=budget) for m in ("stub-a", "stub-b")],
        "kwargs": {
            "marker_reversed": MARKER[::-1],
            "other_models": ["stub-a", "stub-b"],
            "ask_until_refused": 40,
            "scan_files": scan_files,
        },
    }


def artifact(results: Path, trial_id: str, name: str) -> bytes:
    (path,) = (results / "artifacts").glob(f"{trial_id}-*.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(path.read_bytes())) as archive:
        return archive.extractfile(f"logs/{name}").read()


@pytest.fixture(scope="module")
def images():
    from mleray.agents import get_agent
    from mleray.sandbox.images import build_agent_image

    for agent in (get_agent("llm-loop"), load_agent(KEYPROBE)):
        build_agent_image(agent)


@pytest.mark.docker
@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_llm_loop_and_keyprobe_through_the_gateway_in_docker(
    tmp_path, builtin_data, images, monkeypatch
):
    from mleray.driver import run_sweep

    monkeypatch.setenv(KEY_ENV, REAL_KEY)  # the gateway's environment: the embedded Ray's
    script = StubScript(require_key=REAL_KEY, echo_key=True, fail_first=2, retry_after=0.2)
    with ThreadedStub(script) as stub:
        llm_loop = {
            "name": "llm-loop",
            "models": [stub_model("stub-a", stub.base_url, price_as="openai:gpt-4o-mini")],
            "kwargs": {"max_steps": 4},
        }
        spec = sweep(tmp_path, [llm_loop, probe_agent(stub.base_url, budget_tokens=300)])
        summary = run_sweep(spec, num_cpus=2, progress=False)
        stats = stub.stats()
    results = tmp_path / "results"
    rows = load(results).set_index("agent")
    assert summary.counts == {FailureKind.COMPLETED: 3}, rows[["status", "error"]]
    assert rows["valid_submission"].all() and rows["score"].notna().all()

    # what the stub served is what the rows say, 429s retried and counted
    assert rows["prompt_tokens"].sum() == stats["prompt_tokens"]
    assert rows["completion_tokens"].sum() == stats["completion_tokens"]
    assert (rows["total_tokens"] == rows["prompt_tokens"] + rows["completion_tokens"]).all()
    assert rows["model_requests"].sum() + rows["rate_limited"].sum() == stats["requests"]
    assert rows["rate_limited"].sum() == stats["rate_limited"] == 2
    assert rows["model_retries"].sum() >= 2 and rows["rate_limit_wait_seconds"].sum() > 0
    loop = rows.loc["llm-loop"]
    assert loop["model_requests"] == 2 and loop["models_called"] == "stub-a"
    assert loop["dollars"] > 0 and not loop["budget_exhausted"]  # priced as gpt-4o-mini

    probes = rows.loc[[str(KEYPROBE)]]
    shown = probes[["model", "model_requests", "total_tokens", "model_refused", "budget_exhausted"]]
    assert probes["budget_exhausted"].all() and probes["dollars"].isna().all(), shown  # no price
    assert (probes["model_refused"] >= 2).all()  # another trial's model, then the budget
    for trial_id, model in zip(probes["trial_id"], probes["model"]):
        found = json.loads(artifact(results, trial_id, "findings.json"))
        other = "stub-b" if model == "stub-a" else "stub-a"
        assert found["other_models"] == {other: 403}, found
        assert found["chat_status"] == found["stream_status"] == found["models_status"] == 200
        assert found["bad_token_status"] == 401 and found["asked"][-1] == 429
        # the search works: it finds the trial's own token where it is
        assert found["token_in_env"] and "/tmp/token-copy" in found["token_in_files"]
        assert found["files_scanned"] > 100 and found["answers"] > 5
        # and the provider key is nowhere the agent can look
        assert found["marker_given"] and not found["key_in_env"], found
        assert found["key_in_processes"] == [] and found["key_in_files"] == [], found
        assert found["key_in_answers"] == 0, found
    assert stats["keys_seen"] == [REAL_KEY]  # the stub saw the real key, every time
    places, searched = find_secret([results], REAL_KEY)
    assert places == [] and searched > 5


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_token_is_refused_once_its_trial_has_ended(tmp_path, builtin_data, monkeypatch):
    """The trial actor issues the token on its node and revokes it when the sandbox ends;
    the gateway (kept running here) refuses it from then on. Local sandbox: the agent gets
    the gateway's loopback address."""
    import openai
    import ray

    from mleray.actors.gateway_actor import gateway_socket_root, start_gateways, stop_gateways
    from mleray.actors.trial_actor import TrialActor
    from mleray.plan import plan_trials

    monkeypatch.setenv(KEY_ENV, REAL_KEY)
    with ThreadedStub(StubScript(require_key=REAL_KEY)) as stub:
        agent = probe_agent(stub.base_url, budget_tokens=10**6, scan_files=False)
        agent["models"] = agent["models"][:1]
        agent["kwargs"]["ask_until_refused"] = 0
        (trial,) = plan_trials(sweep(tmp_path, [agent], sandbox="local"))
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            (gateway,) = start_gateways(gateway_socket_root(trial.results_key)).values()
            outcome = ray.get(TrialActor.remote(trial, 1).outcome.remote(), timeout=240)
            address = ray.get(gateway.address.remote())
            assert outcome.status == FailureKind.COMPLETED, outcome.error
            with tarfile.open(fileobj=io.BytesIO(outcome.artifacts)) as archive:
                token = archive.extractfile("logs/token.txt").read().decode()
                found = json.loads(archive.extractfile("logs/findings.json").read())
            assert found["base_url"] == address.tcp_url.rstrip("/") and found["chat_status"] == 200
            client = openai.OpenAI(base_url=address.tcp_url, api_key=token, max_retries=0)
            with pytest.raises(openai.AuthenticationError):
                client.chat.completions.create(
                    model="stub-a", messages=[{"role": "user", "content": "still there?"}]
                )
            assert ray.get(gateway.trials.remote()) == []
            usage = outcome.model_usage
            assert usage.requests == stub.stats()["requests"] == 2  # chat, stream
            assert usage.refused == 1  # stub-b: another trial's model
        finally:
            stop_gateways()
            ray.shutdown()
