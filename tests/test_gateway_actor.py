"""The gateway as a Ray actor pinned to its node: started by name on every node, found by
node id, serving a trial through its loopback port and its Unix socket, revoking it."""

from __future__ import annotations

import os
import tempfile

import openai
import pytest

from mleray.gateway.routes import ModelRoute
from mleray.gateway.stub import StubScript, ThreadedStub

pytestmark = [pytest.mark.ray, pytest.mark.slow]

KEY_ENV = "MLERAY_TEST_ACTOR_STUB_KEY"
REAL_KEY = "sk-actor-test-key-9876543210"


@pytest.fixture
def local_ray(monkeypatch):
    import ray

    # the gateway reads keys from its node's environment: the driver's, for an embedded Ray
    monkeypatch.setenv(KEY_ENV, REAL_KEY)
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_one_gateway_per_node_serves_and_revokes(local_ray):
    from mleray.actors.gateway_actor import gateway_for_node, start_gateways, stop_gateways
    from mleray.gateway.contract import SOCKET_NAME

    ray = local_ray
    with (
        tempfile.TemporaryDirectory(prefix="mleray-gwa-") as root,
        ThreadedStub(StubScript(require_key=REAL_KEY)) as stub,
    ):
        handles = start_gateways(root)
        (node_id,) = handles
        assert node_id == ray.get_runtime_context().get_node_id()
        gateway = gateway_for_node(node_id)
        address = ray.get(gateway.address.remote())
        assert address.unix_path.startswith(root) and address.unix_path.endswith(SOCKET_NAME)
        assert oct(os.stat(address.unix_path).st_mode & 0o777) == "0o666"
        assert ray.get(gateway.node_id.remote()) == node_id
        route = ModelRoute(
            "stub-a", "openai-compatible", base_url=stub.base_url, api_key_env=KEY_ENV
        )
        token = ray.get(gateway.issue.remote("trial-1", [route]))
        client = openai.OpenAI(base_url=address.tcp_url, api_key=token, max_retries=0)
        reply = client.chat.completions.create(
            model="stub-a", messages=[{"role": "user", "content": "hi"}]
        )
        assert ray.get(gateway.trials.remote()) == ["trial-1"]
        usage = ray.get(gateway.revoke.remote("trial-1"))
        assert usage.requests == 1 and usage.completion_tokens == reply.usage.completion_tokens
        assert stub.stats()["keys_seen"] == [REAL_KEY]
        with pytest.raises(openai.AuthenticationError):
            client.models.list()
        assert start_gateways(root)[node_id]._actor_id == gateway._actor_id  # reused by name
        stop_gateways(handles)
        with pytest.raises(ValueError):
            gateway_for_node(node_id)
