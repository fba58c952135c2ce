"""An aiohttp server in its own event-loop thread, driven from synchronous code.

The gateway's Ray actor and the tests are synchronous; the servers are asyncio. `LoopThread`
runs a loop in a daemon thread and runs coroutines or calls there, so the token registry
and the meters are only ever touched from that loop. `ThreadedGateway` is the gateway
behind that: start, issue and revoke tokens, read usage, stop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, TypeVar

from mleray.gateway.routes import Budget, ModelRoute
from mleray.gateway.server import Gateway, GatewayAddress
from mleray.gateway.upstream import RetryPolicy
from mleray.gateway.usage import ModelUsage

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call(self, function: Callable[..., T], *args, timeout: float | None = 60.0) -> T:
        async def call_there():
            return function(*args)

        return self.run(call_there(), timeout)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


class ThreadedGateway:
    """A `Gateway` on its own loop thread. Use as a context manager, or start()/stop()."""

    def __init__(
        self,
        unix_path: str | None = None,
        tcp_port: int | None = None,
        environ: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        node_count: int = 1,
    ):
        self.unix_path = unix_path
        self.tcp_port = tcp_port
        self.gateway = Gateway(environ=environ, retry=retry, node_count=node_count)
        self.address: GatewayAddress | None = None
        self._loop: LoopThread | None = None

    def start(self) -> GatewayAddress:
        self._loop = LoopThread("mleray-gateway")
        try:
            self.address = self._loop.run(self.gateway.start(self.unix_path, self.tcp_port))
        except BaseException:
            self._loop.close()
            raise
        return self.address

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.run(self.gateway.stop())
            self._loop.close()
            self._loop = None

    def __enter__(self) -> ThreadedGateway:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def issue(
        self, trial_id: str, routes: Iterable[ModelRoute], budget: Budget | None = None
    ) -> str:
        return self._loop.call(self.gateway.registry.issue, trial_id, tuple(routes), budget)

    def revoke(self, trial_id: str) -> ModelUsage | None:
        return self._loop.call(self.gateway.registry.revoke, trial_id)

    def usage(self, trial_id: str) -> ModelUsage | None:
        return self._loop.call(self.gateway.registry.usage, trial_id)

    def trials(self) -> list[str]:
        return self._loop.call(self.gateway.registry.trials)
