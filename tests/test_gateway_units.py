"""The gateway's parts alone: model entries, budgets, prices, the fair limiter, event streams,
retry waits, the token registry and the usage record. Loopback only, no Ray."""

from __future__ import annotations

import asyncio
import email.utils
import json
import socket
import time

import pytest

from mleray.gateway.contract import agent_model_env, forwarder_base_url
from mleray.gateway.extract import CHAT, MESSAGES, EventStream, TokenCount, body_usage
from mleray.gateway.fair import FairLimiter, node_share
from mleray.gateway.pricing import has_price, request_dollars
from mleray.gateway.routes import (
    Budget,
    GatewayConfigError,
    ModelRoute,
    check_credentials,
    check_reachable,
    parse_model_entry,
)
from mleray.gateway.tokens import TokenRegistry
from mleray.gateway.upstream import RetryPolicy, retry_after_seconds
from mleray.gateway.usage import ModelUsage, UsageMeter

STUB_URL = "http://127.0.0.1:9/v1"


def test_a_plain_name_is_an_openai_model():
    route, budget = parse_model_entry("gpt-4o-mini", "spec: models[0]")
    assert (route.provider, route.provider_model, route.key_env) == (
        "openai",
        "gpt-4o-mini",
        "OPENAI_API_KEY",
    )
    assert route.url == "https://api.openai.com/v1" and budget == Budget()


def test_a_mapping_entry_gives_route_and_budget():
    raw = {
        "name": "local-llama",
        "provider": "openai-compatible",
        "base_url": "http://127.0.0.1:11434/v1/",
        "model": "llama3.1:8b",
        "params": {"temperature": 0.2},
        "budget": {"max_tokens": 5000, "max_dollars": 2},
        "max_concurrency": 4,
    }
    route, budget = parse_model_entry(raw, "spec: models[1]")
    assert route.url == "http://127.0.0.1:11434/v1" and route.provider_model == "llama3.1:8b"
    assert route.key_env is None and route.params == {"temperature": 0.2}
    assert budget == Budget(max_tokens=5000, max_dollars=2.0)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"name": "m", "provider": "azure"}, "unknown provider 'azure'"),
        ({"name": "m", "provider": "openai-compatible"}, "needs a `base_url`"),
        ({"name": "m", "colour": 1}, "unknown field `colour`"),
        ({"name": "m", "budget": {"max_tokens": 0}}, "models[2].budget.max_tokens"),
        ({"name": "m", "budget": {"max_dollars": "lots"}}, "budget.max_dollars"),
        ({"name": "m", "price_as": "gpt-4o"}, "'provider:model'"),
        ({"name": "m", "max_concurrency": 0}, "max_concurrency"),
        (["m"], "a name or a mapping"),
    ],
)
def test_bad_entries_are_one_line_errors_naming_the_place(raw, message):
    with pytest.raises(GatewayConfigError, match="spec: models\\[2\\]") as info:
        parse_model_entry(raw, "spec: models[2]")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_missing_credentials_name_the_variable():
    route = ModelRoute(name="claude", provider="anthropic")
    with pytest.raises(GatewayConfigError, match="ANTHROPIC_API_KEY"):
        check_credentials([route], environ={})
    check_credentials([route], environ={"ANTHROPIC_API_KEY": "k"})
    check_credentials([ModelRoute("m", "openai-compatible", base_url=STUB_URL)], environ={})


def test_an_unreachable_base_url_is_an_error():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    route = ModelRoute("m", "openai-compatible", base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(GatewayConfigError, match=f"127.0.0.1:{port}/v1 does not answer"):
        check_reachable(route, timeout=2)


def test_prices_come_from_the_table_and_unknown_ones_are_none():
    tokens = TokenCount(prompt=1_000_000, completion=1_000_000)
    priced = request_dollars(ModelRoute("gpt-4o-mini"), tokens)
    assert priced is not None and priced > 0
    assert request_dollars(ModelRoute("no-such-model-xyz"), tokens) is None
    stub = ModelRoute("stub", "openai-compatible", base_url=STUB_URL)
    assert request_dollars(stub, tokens) is None and not has_price(stub)
    charged = ModelRoute(
        "stub", "openai-compatible", base_url=STUB_URL, price_as="openai:gpt-4o-mini"
    )
    assert request_dollars(charged, tokens) == priced and has_price(charged)


def test_a_dollar_budget_needs_a_price():
    registry = TokenRegistry()
    stub = ModelRoute("stub", "openai-compatible", base_url=STUB_URL)
    with pytest.raises(GatewayConfigError, match="dollar budget needs a price"):
        registry.issue("t", [stub], Budget(max_dollars=1.0))
    assert registry.issue("t", [stub], Budget(max_tokens=10)).startswith("mleray-trial-")


def test_reissuing_revokes_the_old_token():
    registry = TokenRegistry()
    route = ModelRoute("m", "openai-compatible", base_url=STUB_URL)
    first = registry.issue("t", [route])
    second = registry.issue("t", [route])
    assert first != second and registry.grant_for(first) is None
    assert registry.grant_for(second).trial_id == "t"
    assert registry.revoke("t") == ModelUsage() and registry.grant_for(second) is None
    assert registry.revoke("t") is None


def test_budget_reasons():
    assert Budget().exceeded(10**9, 10.0) is None
    assert "token budget" in Budget(max_tokens=100).exceeded(100, None)
    assert Budget(max_tokens=100).exceeded(99, None) is None
    assert "$0.5" in Budget(max_dollars=0.5).exceeded(0, 0.5)


def test_fair_limiter_serves_trials_in_turn():
    async def scenario():
        limiter = FairLimiter(1)
        order = []

        async def request(trial, n):
            async with limiter.slot(trial):
                order.append(f"{trial}{n}")
                await asyncio.sleep(0.01)

        flood = [asyncio.create_task(request("A", n)) for n in range(5)]
        await asyncio.sleep(0)  # A's first holds the slot, the rest queue
        late = asyncio.create_task(request("B", 0))
        await asyncio.gather(*flood, late)
        return order

    order = asyncio.run(scenario())
    assert order.index("B0") <= 2, order  # FIFO would serve it last


def test_fair_limiter_cancelled_waiters_give_their_turn_back():
    async def scenario():
        limiter = FairLimiter(1)
        await limiter.acquire("A")
        waiter = asyncio.create_task(limiter.acquire("B"))
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        limiter.release()
        await asyncio.wait_for(limiter.acquire("C"), 1)  # not blocked by B's dead entry
        return limiter.in_use, limiter.waiting

    assert asyncio.run(scenario()) == (1, 0)


def test_node_share_splits_a_cluster_cap():
    assert [node_share(16, n) for n in (1, 2, 3, 16, 40)] == [16, 8, 5, 1, 1]


def _sse(*payloads) -> bytes:
    return b"".join(b"data: " + json.dumps(p).encode() + b"\n\n" for p in payloads)


def test_event_stream_relays_whole_events_and_reads_usage():
    usage = {"prompt_tokens": 7, "completion_tokens": 3}
    raw = (
        _sse({"choices": [{"delta": {"content": "hi"}}]}, {"choices": [], "usage": usage})
        + b"data: [DONE]\n\n"
    )
    kept = EventStream(CHAT)
    dropped = EventStream(CHAT, drop_usage_chunk=True)
    out_kept = b"".join(kept.feed(raw[i : i + 5]) for i in range(0, len(raw), 5)) + kept.flush()
    out_dropped = b"".join(dropped.feed(raw[i : i + 5]) for i in range(0, len(raw), 5))
    assert out_kept == raw and b"usage" not in out_dropped and out_dropped.endswith(b"[DONE]\n\n")
    assert kept.tokens == dropped.tokens == TokenCount(prompt=7, completion=3)


def test_event_stream_reads_anthropic_usage():
    start = {
        "type": "message_start",
        "message": {"usage": {"input_tokens": 11, "output_tokens": 1}},
    }
    delta = {"type": "message_delta", "usage": {"output_tokens": 9}}
    stream = EventStream(MESSAGES)
    stream.feed(b"event: message_start\n" + _sse(start) + b"event: message_delta\n" + _sse(delta))
    assert stream.tokens == TokenCount(prompt=11, completion=9)
    body = json.dumps(
        {"usage": {"input_tokens": 5, "cache_read_input_tokens": 2, "output_tokens": 1}}
    )
    assert body_usage(MESSAGES, body.encode()) == TokenCount(prompt=7, completion=1, cache_read=2)
    assert body_usage(CHAT, b"not json") is None


def test_retry_after_forms():
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < retry_after_seconds({"retry-after": date}) <= 31
    assert retry_after_seconds({}) is None
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    assert policy.delay(0, 100.0) == 8.0 and 4.0 <= policy.delay(3, None) <= 8.0


def test_usage_record_and_unknown_prices():
    meter = UsageMeter()
    meter.answered("a", TokenCount(10, 5), 0.25, 1.0)
    meter.retried(429, 2.0)
    meter.retried(503, 4.0)
    assert meter.snapshot().dollars == 0.25 and meter.snapshot().rate_limit_wait_seconds == 2.0
    meter.answered("b", TokenCount(1, 1), None, 3.0)  # no price for b: the total is unknown
    meter.failed("a", 0.5)
    usage = meter.snapshot()
    assert usage.dollars is None and usage.models == ("a", "b")
    row = usage.to_dict()
    assert row["total_tokens"] == 17 and row["models"] == "a,b" and row["retries"] == 2
    assert row["latency_mean_seconds"] == pytest.approx(4.5 / 3) and row["errors"] == 1


def test_the_agent_environment_points_both_clients_at_the_gateway():
    env = agent_model_env(forwarder_base_url(4000), "mleray-trial-x")
    assert env == {
        "OPENAI_BASE_URL": "http://127.0.0.1:4000/v1",
        "OPENAI_API_KEY": "mleray-trial-x",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:4000",
        "ANTHROPIC_API_KEY": "mleray-trial-x",
    }
