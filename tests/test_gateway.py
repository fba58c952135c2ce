"""The gateway end to end with the stub provider, on loopback and a Unix socket: what an
agent's OpenAI client sees, what the provider sees, and what the trial's usage records."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import openai
import pytest

from mleray.gateway import FORWARDER_SCRIPT
from mleray.gateway.contract import forwarder_command
from mleray.gateway.routes import Budget, ModelRoute
from mleray.gateway.stub import StubScript, ThreadedStub
from mleray.gateway.threaded import ThreadedGateway
from mleray.gateway.upstream import RetryPolicy

REAL_KEY = "sk-real-provider-key-0123456789abcdef"
KEY_ENV = "MLERAY_TEST_STUB_KEY"
HELLO = [{"role": "user", "content": "train a model on the public data please"}]
FAST_RETRY = RetryPolicy(max_retries=4, base_delay=0.01, max_delay=0.5)


def _route(stub, name="stub-a", **fields) -> ModelRoute:
    return ModelRoute(
        name=name,
        provider=fields.pop("provider", "openai-compatible"),
        base_url=stub.base_url,
        api_key_env=KEY_ENV,
        **fields,
    )


def _client(gateway, token, **options) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.address.tcp_url, api_key=token, **options)


@pytest.fixture
def socket_dir():
    # short: a Unix socket path is at most 107 bytes, and pytest's tmp paths can be longer
    with tempfile.TemporaryDirectory(prefix="mleray-gw-") as folder:
        yield Path(folder)


def _serve(script: StubScript, socket_dir: Path, **gateway_options):
    stub = ThreadedStub(script)
    gateway = ThreadedGateway(
        unix_path=str(socket_dir / "gateway.sock"),
        tcp_port=0,
        environ={KEY_ENV: REAL_KEY},
        retry=gateway_options.pop("retry", FAST_RETRY),
        **gateway_options,
    )
    return stub, gateway


@pytest.fixture
def served(socket_dir):
    """(stub, gateway): a stub that takes only the real key, a gateway that holds it."""
    stub, gateway = _serve(StubScript(require_key=REAL_KEY), socket_dir)
    with stub, gateway:
        yield stub, gateway


def test_counts_equal_what_the_stub_served(served):
    stub, gateway = served
    token = gateway.issue("t1", [_route(stub, price_as="openai:gpt-4o-mini")])
    client = _client(gateway, token)
    replies = [
        client.chat.completions.create(model="stub-a", messages=HELLO * (n + 1)) for n in range(3)
    ]
    usage = gateway.revoke("t1")
    served_stats = stub.stats()
    assert usage.requests == 3 and usage.errors == 0 and usage.unmetered == 0
    assert (
        usage.prompt_tokens
        == served_stats["prompt_tokens"]
        == sum(r.usage.prompt_tokens for r in replies)
    )
    assert usage.completion_tokens == served_stats["completion_tokens"]
    assert usage.dollars is not None and usage.dollars > 0 and usage.latency_seconds > 0
    assert usage.models == ("stub-a",)


def test_the_provider_key_stays_in_the_gateway(socket_dir):
    stub, gateway = _serve(StubScript(require_key=REAL_KEY, echo_key=True), socket_dir)
    with stub, gateway:
        token = gateway.issue("t1", [_route(stub)])
        client = _client(gateway, token)
        whole = client.chat.completions.create(model="stub-a", messages=HELLO)
        streamed = client.chat.completions.create(model="stub-a", messages=HELLO, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in streamed)
        models = client.models.list().model_dump_json()
        seen = stub.stats()["keys_seen"]
    assert seen == [REAL_KEY]  # the provider got the real key, never the trial token
    for answer in (whole.model_dump_json(), text, models):
        assert REAL_KEY not in answer and token not in answer
    assert "[redacted]" in whole.choices[0].message.content and "[redacted]" in text


def test_tokens_are_refused_after_revoke_and_for_other_models(served):
    stub, gateway = served
    token_a = gateway.issue("a", [_route(stub, "stub-a")])
    token_b = gateway.issue("b", [_route(stub, "stub-b")])
    client_a = _client(gateway, token_a, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError, match="'stub-b' is not one of this trial"):
        client_a.chat.completions.create(model="stub-b", messages=HELLO)
    assert _client(gateway, token_b).chat.completions.create(model="stub-b", messages=HELLO)
    assert [m.id for m in client_a.models.list()] == ["stub-a"]
    odd = http.client.HTTPConnection(gateway.address.tcp_url.split("/")[2])
    odd.request(
        "POST",
        "/v1/chat/completions",
        json.dumps({"model": ["stub-a"], "messages": HELLO}),
        {"Authorization": f"Bearer {token_a}"},
    )
    assert odd.getresponse().status == 403  # a model that is no name is not one given
    usage = gateway.revoke("a")
    assert usage.refused == 2 and usage.requests == 0
    with pytest.raises(openai.AuthenticationError, match="not a live trial token"):
        client_a.chat.completions.create(model="stub-a", messages=HELLO)
    with pytest.raises(openai.AuthenticationError):
        _client(gateway, "mleray-trial-guess", max_retries=0).models.list()
    assert stub.stats()["by_model"] == {"stub-b": 1}


def test_a_budget_stops_a_trial_that_keeps_asking(served):
    stub, gateway = served
    gateway.issue("other", [_route(stub)])
    token = gateway.issue("t1", [_route(stub)], Budget(max_tokens=120))
    client = _client(gateway, token)  # its default retries must not retry a spent budget
    answered, refusal = 0, None
    for _ in range(50):
        try:
            client.chat.completions.create(model="stub-a", messages=HELLO)
            answered += 1
        except openai.RateLimitError as exc:
            refusal = exc
            break
    assert refusal is not None and refusal.code == "insufficient_quota"
    assert "token budget (120 tokens) has run out" in str(refusal)
    usage = gateway.usage("t1")
    assert usage.budget_exhausted and usage.refused == 1 and usage.requests == answered
    assert usage.total_tokens >= 120 and stub.stats()["requests"] == answered
    assert not gateway.usage("other").budget_exhausted


def test_provider_429s_are_retried_with_backoff_and_counted(socket_dir):
    stub, gateway = _serve(StubScript(fail_first=3, retry_after=0.05), socket_dir)
    with stub, gateway:
        token = gateway.issue("t1", [_route(stub)])
        client = _client(gateway, token, max_retries=0)
        client.chat.completions.create(model="stub-a", messages=HELLO)
        usage, stats = gateway.usage("t1"), stub.stats()
    assert (usage.requests, usage.errors, usage.rate_limited, usage.retries) == (1, 0, 3, 3)
    assert usage.rate_limit_wait_seconds >= 3 * 0.05
    assert stats["rate_limited"] == 3 and usage.completion_tokens > 0


def test_out_of_retries_the_429_reaches_the_agent(socket_dir):
    retry = RetryPolicy(max_retries=1, base_delay=0.01)
    stub, gateway = _serve(StubScript(fail_first=5, retry_after=0.01), socket_dir, retry=retry)
    with stub, gateway:
        token = gateway.issue("t1", [_route(stub)])
        with pytest.raises(openai.RateLimitError):
            _client(gateway, token, max_retries=0).chat.completions.create(
                model="stub-a", messages=HELLO
            )
        usage = gateway.usage("t1")
    assert (usage.requests, usage.errors, usage.rate_limited, usage.retries) == (1, 1, 2, 1)


def test_streams_are_relayed_and_counted(served):
    stub, gateway = served
    token = gateway.issue("t1", [_route(stub)])
    client = _client(gateway, token)
    whole = client.chat.completions.create(model="stub-a", messages=HELLO)
    chunks = list(client.chat.completions.create(model="stub-a", messages=HELLO, stream=True))
    # not asked for usage: the gateway asked on its behalf and dropped that chunk
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == (
        whole.choices[0].message.content
    )
    asked = list(
        client.chat.completions.create(
            model="stub-a", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    assert asked[-1].usage.completion_tokens == whole.usage.completion_tokens
    usage = gateway.usage("t1")
    assert usage.requests == 3 and usage.unmetered == 0
    assert usage.completion_tokens == 3 * whole.usage.completion_tokens
    assert usage.completion_tokens == stub.stats()["completion_tokens"]


def test_a_concurrency_cap_is_shared_fairly(socket_dir):
    stub, gateway = _serve(StubScript(delay_seconds=0.15), socket_dir)
    with stub, gateway:
        flood = _client(gateway, gateway.issue("chatty", [_route(stub, max_concurrency=1)]))
        quiet = _client(gateway, gateway.issue("quiet", [_route(stub, max_concurrency=1)]))
        finished: list[str] = []

        def ask(client, who):
            client.chat.completions.create(model="stub-a", messages=HELLO)
            finished.append(who)

        threads = [threading.Thread(target=ask, args=(flood, "chatty")) for _ in range(8)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while _queued(gateway) < 6:  # the chatty trial's requests wait for the one slot
            assert time.monotonic() < deadline, "the chatty requests never queued up"
            time.sleep(0.01)
        quiet_thread = threading.Thread(target=ask, args=(quiet, "quiet"))
        quiet_thread.start()
        for thread in [*threads, quiet_thread]:
            thread.join(30)
        stats, chatty, quiet = stub.stats(), gateway.usage("chatty"), gateway.usage("quiet")
    assert stats["max_in_flight"] == 1 and len(finished) == 9
    # served within a turn or two of arriving, not behind all of the chatty trial's queue
    assert finished.index("quiet") <= 2, finished
    assert quiet.queue_wait_seconds < 0.5 < chatty.queue_wait_seconds


def _queued(gateway) -> int:
    """Requests waiting for a provider slot (read across threads: a rough figure, for polling)."""
    return sum(limiter.waiting for limiter in list(gateway.gateway.limiters.values()))


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("gateway")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def test_over_the_unix_socket_and_through_the_forwarder(served):
    stub, gateway = served
    token = gateway.issue("t1", [_route(stub)])
    direct = _UnixConnection(gateway.address.unix_path)
    body = json.dumps({"model": "stub-a", "messages": HELLO})
    direct.request("POST", "/v1/chat/completions", body, {"Authorization": f"Bearer {token}"})
    answer = json.loads(direct.getresponse().read())
    assert answer["usage"]["completion_tokens"] > 0
    port_file = Path(gateway.address.unix_path).parent / "port"
    command = forwarder_command(str(FORWARDER_SCRIPT), gateway.address.unix_path, port=0)
    relay = subprocess.Popen(
        [sys.executable, *command[1:], "--port-file", str(port_file)], stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while not (port_file.exists() and port_file.read_text().strip()):
            assert time.monotonic() < deadline and relay.poll() is None, "forwarder did not start"
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port_file.read_text().strip()}/v1"
        client = openai.OpenAI(base_url=url, api_key=token)
        client.chat.completions.create(model="stub-a", messages=HELLO)
        text = "".join(
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(model="stub-a", messages=HELLO, stream=True)
        )
    finally:
        relay.terminate()
        relay.wait(10)
    assert text and gateway.usage("t1").requests == 3
    assert gateway.usage("t1").completion_tokens == stub.stats()["completion_tokens"]


def test_the_forwarder_says_when_the_gateway_is_gone(socket_dir):
    port_file = socket_dir / "port"
    relay = subprocess.Popen(
        [sys.executable, "-S", str(FORWARDER_SCRIPT), "--socket", str(socket_dir / "none.sock")]
        + ["--port", "0", "--port-file", str(port_file)],
        stdout=subprocess.DEVNULL,
    )
    try:
        while not (port_file.exists() and port_file.read_text().strip()):
            time.sleep(0.05)
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port_file.read_text().strip()}/v1",
            api_key="x",
            max_retries=0,
        )
        with pytest.raises(openai.APIStatusError, match="gateway at .* does not answer"):
            client.models.list()
    finally:
        relay.terminate()
        relay.wait(10)


def test_anthropic_messages_are_forwarded_and_counted(served):
    stub, gateway = served
    token = gateway.issue("t1", [_route(stub, "claude-stub", provider="anthropic")])
    conn = http.client.HTTPConnection(gateway.address.tcp_url.split("/")[2])
    body = {"model": "claude-stub", "max_tokens": 100, "messages": HELLO}
    headers = {"x-api-key": token, "anthropic-version": "2023-06-01"}
    conn.request("POST", "/v1/messages", json.dumps(body), headers)
    whole = json.loads(conn.getresponse().read())
    conn.request("POST", "/v1/messages", json.dumps({**body, "stream": True}), headers)
    events = conn.getresponse().read().decode()
    assert whole["usage"]["output_tokens"] > 0 and "event: message_delta" in events
    usage = gateway.usage("t1")
    assert usage.requests == 2 and usage.unmetered == 0
    assert usage.completion_tokens == 2 * whole["usage"]["output_tokens"]
    assert usage.prompt_tokens == stub.stats()["prompt_tokens"]
    assert stub.stats()["keys_seen"] == [REAL_KEY]


def test_an_unreachable_provider_or_a_missing_key_is_a_clear_502(socket_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    retry = RetryPolicy(max_retries=1, base_delay=0.01)
    gateway = ThreadedGateway(tcp_port=0, environ={}, retry=retry)
    with gateway:
        gone = ModelRoute("gone", "openai-compatible", base_url=closed)
        keyless = ModelRoute("keyless", "openai-compatible", base_url=closed, api_key_env="NOPE")
        client = _client(gateway, gateway.issue("t1", [gone, keyless]), max_retries=0)
        with pytest.raises(openai.InternalServerError, match="could not be reached"):
            client.chat.completions.create(model="gone", messages=HELLO)
        with pytest.raises(openai.InternalServerError, match="holds no key .*NOPE is not set"):
            client.chat.completions.create(model="keyless", messages=HELLO)
        usage = gateway.usage("t1")
    assert (usage.requests, usage.errors, usage.retries) == (2, 2, 1)
    assert os.environ.get("NOPE") is None
