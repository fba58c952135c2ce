"""A scripted OpenAI-compatible provider on the host's loopback, standing in for a real API.

It answers chat completions (whole or streamed) and Anthropic messages with scripted
replies: the k-th reply to a conversation holding k assistant turns (the last repeats), so
an agent that feeds errors back walks through the script. It reports usage (prompt tokens:
words in the messages; completion tokens: words in the reply), and it keeps what tests
check: the API keys it saw, the tokens it served, the requests it refused with 429 (the
first `fail_first`), and the most requests it had in flight at once.

    python -m mleray.gateway.stub --port 8000 [--script FILE] [--require-key-env VAR]

A script file (YAML or JSON): `replies` (list of strings), `by_model` (model -> list),
`fail_first`, `retry_after` (seconds), `delay_seconds` (before each answer), `require_key`,
`echo_key`, `tool_arguments` (function name -> the arguments of a call answering a request
that offers that tool).
`GET /stub/stats` returns the counters as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml
from aiohttp import web

from mleray.gateway.stub_solution import REPLIES
from mleray.gateway.threaded import LoopThread

_WORD = re.compile(r"\S+\s*")


@dataclass(frozen=True)
class StubScript:
    replies: tuple[str, ...] = REPLIES
    by_model: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    fail_first: int = 0  # answer 429 to the first N completion requests
    retry_after: float = 0.05  # the Retry-After those 429s carry
    delay_seconds: float = 0.0  # wait before each answer (to keep requests in flight)
    require_key: str | None = None  # any other key gets 401
    echo_key: bool = False  # a careless provider: quote the caller's key in each reply
    # function name -> arguments: a chat request offering that tool (AIDE's `submit_review`)
    # is answered with a call of it
    tool_arguments: Mapping[str, Mapping] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: str | Path) -> StubScript:
        raw = yaml.safe_load(Path(path).read_text()) or {}
        by_model = {m: tuple(r) for m, r in (raw.pop("by_model", None) or {}).items()}
        replies = tuple(raw.pop("replies", REPLIES))
        return cls(replies=replies, by_model=by_model, **raw)


def _key(request: web.Request) -> str:
    auth = request.headers.get("Authorization", "")
    return auth[7:] if auth.startswith("Bearer ") else request.headers.get("x-api-key", "")


def _words(text: str) -> int:
    return len(text.split())


def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


class StubProvider:
    def __init__(self, script: StubScript | None = None):
        self.script = script or StubScript()
        self.keys_seen: set[str] = set()
        self.requests = 0  # completion requests received, 429s included
        self.rate_limited = 0
        self.prompt_tokens = 0  # served: what answered requests reported
        self.completion_tokens = 0
        self.by_model: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._runner: web.AppRunner | None = None

    def stats(self) -> dict:
        return {
            "keys_seen": sorted(self.keys_seen),
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "by_model": dict(self.by_model),
            "max_in_flight": self.max_in_flight,
        }

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_get("/stub/stats", self._stats)
        return app

    async def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1:`port` (0: any free port); the base URL (…/v1)."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        return f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/v1"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _models(self, request: web.Request) -> web.Response:
        names = sorted(self.by_model) or ["stub"]
        return web.json_response({"object": "list", "data": [{"id": n} for n in names]})

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    def _admit(self, request: web.Request) -> web.Response | None:
        """Record the key; a 401 or a scripted 429, or None to answer."""
        key = _key(request)
        self.keys_seen.add(key)
        self.requests += 1
        if self.script.require_key is not None and key != self.script.require_key:
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        if self.requests <= self.script.fail_first:
            self.rate_limited += 1
            return web.json_response(
                {"error": {"message": "stub: rate limited", "type": "rate_limit_error"}},
                status=429,
                headers={"Retry-After": f"{self.script.retry_after:g}"},
            )
        return None

    def _reply(self, body: dict) -> tuple[str, str, int, int]:
        model = str(body.get("model", ""))
        messages = body.get("messages") or []
        turns = sum(1 for m in messages if m.get("role") == "assistant")
        script = self.script.by_model.get(model) or self.script.replies
        reply = script[min(turns, len(script) - 1)]
        prompt = _words(_text(body.get("system"))) + sum(
            _words(_text(m.get("content"))) for m in messages
        )
        return model, reply, max(1, prompt), max(1, _words(reply))

    async def _answer(self, request: web.Request, api: str) -> web.StreamResponse:
        refusal = self._admit(request)
        if refusal is not None:
            return refusal
        body = await request.json()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.script.delay_seconds:
                await asyncio.sleep(self.script.delay_seconds)
            model, reply, prompt, completion = self._reply(body)
            if self.script.echo_key:
                reply = f"{reply}\n(called with key {_key(request)} )"
            self.by_model[model] += 1
            self.prompt_tokens += prompt
            self.completion_tokens += completion
            write = _chat if api == "chat" else _message
            tools = self.script.tool_arguments
            return await write(request, body, model, reply, prompt, completion, tools)
        finally:
            self.in_flight -= 1

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, "chat")

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, "messages")


async def _sse(request: web.Request, events: list[str]) -> web.StreamResponse:
    out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await out.prepare(request)
    for event in events:
        await out.write(event.encode())
    await out.write_eof()
    return out


def _tool_call(body: dict, tools: Mapping[str, Mapping]) -> dict | None:
    """The assistant message calling the tool the request offers or asks for, if scripted."""
    offered = [t.get("function", {}).get("name") for t in body.get("tools") or []]
    chosen = body.get("tool_choice")
    if isinstance(chosen, dict):
        offered = [chosen.get("function", {}).get("name")]
    name = next((n for n in offered if n in tools), None)
    if name is None:
        return None
    call = {"name": name, "arguments": json.dumps(dict(tools[name]))}
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "call_stub", "type": "function", "function": call}],
    }


async def _chat(request, body, model, reply, prompt, completion, tools) -> web.StreamResponse:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    usage["total_tokens"] = prompt + completion
    base = {"id": "chatcmpl-stub", "created": int(time.time()), "model": model}
    if body.get("stream") is not True:
        message = _tool_call(body, tools) or {"role": "assistant", "content": reply}
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        choice = {"index": 0, "message": message, "finish_reason": finish}
        return web.json_response(
            {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
        )
    chunk = {**base, "object": "chat.completion.chunk"}
    pieces = [{"role": "assistant", "content": ""}] + [{"content": w} for w in _WORD.findall(reply)]
    events = [
        {**chunk, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in pieces
    ]
    events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if (body.get("stream_options") or {}).get("include_usage"):
        events.append({**chunk, "choices": [], "usage": usage})
    lines = [f"data: {json.dumps(e)}\n\n" for e in events] + ["data: [DONE]\n\n"]
    return await _sse(request, lines)


async def _message(request, body, model, reply, prompt, completion, tools) -> web.StreamResponse:
    message = {"id": "msg_stub", "type": "message", "role": "assistant", "model": model}
    if body.get("stream") is not True:
        content = [{"type": "text", "text": reply}]
        usage = {"input_tokens": prompt, "output_tokens": completion}
        return web.json_response({**message, "content": content, "usage": usage})
    start = {**message, "content": [], "usage": {"input_tokens": prompt, "output_tokens": 1}}
    events = [("message_start", {"type": "message_start", "message": start})]
    block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}}
    events.append(("content_block_start", block))
    for word in _WORD.findall(reply):
        delta = {"type": "text_delta", "text": word}
        events.append(("content_block_delta", {"type": "content_block_delta", "delta": delta}))
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    end = {"stop_reason": "end_turn"}
    usage = {"output_tokens": completion}
    events.append(("message_delta", {"type": "message_delta", "delta": end, "usage": usage}))
    events.append(("message_stop", {"type": "message_stop"}))
    return await _sse(request, [f"event: {n}\ndata: {json.dumps(d)}\n\n" for n, d in events])


class ThreadedStub:
    """A StubProvider on its own loop thread (for tests): `with ThreadedStub(script) as s:`."""

    def __init__(self, script: StubScript | None = None, port: int = 0):
        self.provider = StubProvider(script)
        self.port = port
        self.base_url: str | None = None
        self._loop: LoopThread | None = None

    def __enter__(self) -> ThreadedStub:
        self._loop = LoopThread("mleray-stub-provider")
        self.base_url = self._loop.run(self.provider.start(self.port))
        return self

    def __exit__(self, *exc) -> None:
        self._loop.run(self.provider.stop())
        self._loop.close()

    def stats(self) -> dict:
        return self._loop.call(self.provider.stats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mleray.gateway.stub", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--script", help="YAML/JSON script file (default: the built-in replies)")
    parser.add_argument(
        "--require-key-env", help="refuse (401) any key but the value of this variable"
    )
    args = parser.parse_args(argv)
    script = StubScript.from_file(args.script) if args.script else StubScript()
    if args.require_key_env:
        key = os.environ.get(args.require_key_env)
        if not key:
            parser.error(f"--require-key-env {args.require_key_env}: the variable is not set")
        script = replace(script, require_key=key)
    provider = StubProvider(script)

    async def serve():
        url = await provider.start(args.port)
        print(f"stub provider on {url}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
