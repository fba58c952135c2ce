"""The gateway's HTTP server (aiohttp): OpenAI's chat completions and models, Anthropic's
messages, on a Unix socket (for containers) and optionally a loopback TCP port (for the
`local` sandbox).

Each request: its token (`Authorization: Bearer` or `x-api-key`) -> the trial's grant (401
if none); its `model` -> one of the trial's routes (403 if not given); the trial's budget
(429 `insufficient_quota` once spent); a fair share of the provider's concurrency; the
provider, with the gateway's key and the route's settings, retried on 429/5xx; the answer
relayed (streams event by event), with its usage added to the trial's meter.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from mleray.gateway import replies
from mleray.gateway.extract import CHAT, MESSAGES, EventStream, body_usage
from mleray.gateway.fair import FairLimiter, node_share
from mleray.gateway.pricing import load_table, request_dollars
from mleray.gateway.routes import ModelRoute
from mleray.gateway.tokens import TokenRegistry, TrialGrant
from mleray.gateway.upstream import ErrorReply, RetryPolicy, provider_headers, send

MAX_REQUEST_BYTES = 64 * 1024**2  # long contexts and images exceed aiohttp's 1 MiB default
_PATHS = {CHAT: "/chat/completions", MESSAGES: "/messages"}


@dataclass(frozen=True)
class GatewayAddress:
    unix_path: str | None  # the socket containers reach (through their forwarder)
    tcp_url: str | None  # http://127.0.0.1:PORT/v1, for the local sandbox; None if not served


class Gateway:
    """One node's gateway. `start`/`stop` and every handler run on one event loop."""

    def __init__(
        self,
        registry: TokenRegistry | None = None,
        environ: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        node_count: int = 1,
        read_timeout: float = 900.0,
    ):
        self.registry = registry or TokenRegistry()
        self.environ = environ  # None: the process environment, read at each request
        self.retry = retry or RetryPolicy()
        self.node_count = node_count
        self.read_timeout = read_timeout
        self.limiters: dict[str, FairLimiter] = {}
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_get("/health", self._health)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/v1/models/{model}", self._model)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/messages", self._messages)
        return app

    async def start(
        self, unix_path: str | None = None, tcp_port: int | None = None
    ) -> GatewayAddress:
        """Serve on `unix_path` (made reachable by any local user: the agent's uid in a
        container differs) and on 127.0.0.1:`tcp_port` when given (0: any free port)."""
        await asyncio.get_running_loop().run_in_executor(None, load_table)  # not in a request
        timeout = aiohttp.ClientTimeout(total=None, connect=30, sock_read=self.read_timeout)
        self._session = aiohttp.ClientSession(
            timeout=timeout, connector=aiohttp.TCPConnector(limit=0)
        )
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        tcp_url = None
        if unix_path:
            _clear_stale_socket(Path(unix_path))
            await web.UnixSite(self._runner, unix_path).start()
            os.chmod(unix_path, 0o666)
        if tcp_port is not None:
            site = web.TCPSite(self._runner, "127.0.0.1", tcp_port)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]
            tcp_url = f"http://127.0.0.1:{port}/v1"
        return GatewayAddress(unix_path=unix_path, tcp_url=tcp_url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def limiter(self, route: ModelRoute) -> FairLimiter:
        """The provider's pool on this node: its share of the smallest cap asked for it."""
        share = node_share(route.max_concurrency, self.node_count)
        limiter = self.limiters.get(route.provider_key)
        if limiter is None:
            limiter = self.limiters[route.provider_key] = FairLimiter(share)
        elif share < limiter.capacity:
            limiter.set_capacity(share)
        return limiter

    def _grant(self, request: web.Request) -> TrialGrant | None:
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        return self.registry.grant_for(token or request.headers.get("x-api-key"))

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _models(self, request: web.Request) -> web.Response:
        grant = self._grant(request)
        if grant is None:
            return replies.unauthorized(CHAT)
        return web.json_response(replies.models_list(grant.routes))

    async def _model(self, request: web.Request) -> web.Response:
        grant = self._grant(request)
        if grant is None:
            return replies.unauthorized(CHAT)
        name = request.match_info["model"]
        if name not in grant.routes:
            return replies.model_not_granted(CHAT, name, grant.routes)
        return web.json_response(replies.model_entry(name))

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._proxy(request, CHAT)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        return await self._proxy(request, MESSAGES)

    async def _proxy(self, request: web.Request, api: str) -> web.StreamResponse:
        grant = self._grant(request)
        if grant is None:
            return replies.unauthorized(api)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return replies.bad_json(api, "is not JSON")
        if not isinstance(body, dict):
            return replies.bad_json(api, "is not a JSON object")
        name = body.get("model")
        route = grant.routes.get(name) if isinstance(name, str) else None
        if route is None:
            grant.meter.refused()
            return replies.model_not_granted(api, name, grant.routes)
        reason = grant.budget_reason()
        if reason is not None:
            grant.meter.refused()
            grant.meter.exhausted()
            return replies.budget_spent(api, reason)
        payload, drop_usage_chunk = _provider_body(api, body, route)
        limiter = self.limiter(route)
        queued = time.monotonic()
        async with limiter.slot(grant.trial_id):
            grant.meter.queued(time.monotonic() - queued)
            return await self._forward(request, api, grant, route, payload, drop_usage_chunk)

    async def _forward(self, request, api, grant, route, payload, drop_usage_chunk):
        key = route.api_key(self.environ)
        if route.key_env is not None and key is None:
            grant.meter.failed(route.name, 0.0)
            detail = f"the gateway holds no key for it ({route.key_env} is not set)"
            return replies.provider_failed(api, route.name, None, detail)
        sent = await send(
            self._session,
            route.url + _PATHS[api],
            provider_headers(route, key, request.headers),
            replies.dumps(payload),
            self.retry,
            grant.meter.retried,
        )
        response = sent.response
        if isinstance(response, ErrorReply):
            return self._provider_error(api, grant, route, response, sent.started)
        try:
            streamed = payload.get("stream") is True and response.content_type == (
                "text/event-stream"
            )
            if streamed:
                events = EventStream(api, drop_usage_chunk=drop_usage_chunk)
                return await self._relay(request, grant, route, response, events, key, sent)
            data = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            grant.meter.failed(route.name, time.monotonic() - sent.started)
            return replies.provider_failed(api, route.name, None, f"lost: {type(exc).__name__}")
        finally:
            response.release()
        self._count(grant, route, body_usage(api, data), sent.started)
        return web.Response(
            status=response.status, body=replies.redact(data, key), content_type="application/json"
        )

    async def _relay(self, request, grant, route, response, events: EventStream, key, sent):
        out = web.StreamResponse(
            status=response.status,
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
        )
        await out.prepare(request)
        complete = False
        try:
            async for chunk in response.content.iter_any():
                ready = events.feed(chunk)
                if ready:
                    await out.write(replies.redact(ready, key))
            rest = events.flush()
            if rest:
                await out.write(replies.redact(rest, key))
            await out.write_eof()
            complete = True
        except (aiohttp.ClientError, ConnectionError, TimeoutError):
            pass  # the provider or the client went away: count what was served
        finally:
            if complete or events.tokens is not None:
                self._count(grant, route, events.tokens, sent.started)
            else:
                grant.meter.failed(route.name, time.monotonic() - sent.started)
        return out

    def _provider_error(self, api, grant, route, reply: ErrorReply, started: float):
        grant.meter.failed(route.name, time.monotonic() - started)
        if reply.status == 429:
            grant.meter.rate_limited_final()
        if reply.status is None or reply.status in (401, 403):
            return replies.provider_failed(api, route.name, reply.status, reply.body.decode())
        return web.Response(
            status=reply.status,
            body=replies.redact(reply.body, route.api_key(self.environ)),
            content_type=reply.content_type.split(";")[0],
        )

    def _count(self, grant: TrialGrant, route: ModelRoute, tokens, started: float) -> None:
        latency = time.monotonic() - started  # before pricing, which imports its table once
        dollars = request_dollars(route, tokens) if tokens is not None else None
        grant.meter.answered(route.name, tokens, dollars, latency)
        if grant.budget_reason() is not None:
            grant.meter.exhausted()


def _provider_body(api: str, body: dict, route: ModelRoute) -> tuple[dict, bool]:
    """The request as the provider gets it: the route's model id and settings; for a chat
    stream, usage asked for (and whether the client did not ask, so that chunk is dropped)."""
    payload = {**body, **route.params, "model": route.provider_model}
    drop_usage_chunk = False
    if api == CHAT and payload.get("stream") is True:
        options = dict(payload.get("stream_options") or {})
        drop_usage_chunk = options.get("include_usage") is not True
        payload["stream_options"] = {**options, "include_usage": True}
    return payload, drop_usage_chunk


def _clear_stale_socket(path: Path) -> None:
    """A socket file left by a gateway that died would make binding fail."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and stat.S_ISSOCK(path.stat().st_mode):
        path.unlink()
