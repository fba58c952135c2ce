"""Sending a request on to the provider, with its real key, retrying 429s and 5xx.

Retries back off exponentially (base × 2^n, capped, with jitter) and honour the provider's
`retry-after-ms` / `Retry-After` (seconds or an HTTP date). A 429 saying the account's
quota is spent (`insufficient_quota`) is not retried: waiting would not help. A provider's
error answer is small and read whole; a successful one is handed back unread, so the
caller can stream it.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp

from mleray.gateway.routes import ModelRoute

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})  # 529: Anthropic "overloaded"
ANTHROPIC_VERSION = "2023-06-01"


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        if retry_after is not None:
            return min(max(0.0, retry_after), self.max_delay)
        backoff = min(self.max_delay, self.base_delay * 2**attempt)
        return backoff * (0.5 + random.random() / 2)


@dataclass(frozen=True)
class ErrorReply:
    """A provider's final error answer (or a lost connection, status None), read whole."""

    status: int | None
    body: bytes
    content_type: str = "application/json"


@dataclass(frozen=True)
class Sent:
    """The provider's answer: a live response (success) or an ErrorReply, and when the
    attempt that produced it began (for latency)."""

    response: aiohttp.ClientResponse | ErrorReply
    started: float


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    if headers.get("retry-after-ms"):
        try:
            return float(headers["retry-after-ms"]) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def provider_headers(route: ModelRoute, api_key: str | None, incoming: Mapping[str, str]):
    """The headers the provider gets: its key from the gateway, never the agent's token."""
    headers = {"Content-Type": "application/json", "Accept": incoming.get("Accept", "*/*")}
    if route.provider == "anthropic":
        headers["anthropic-version"] = incoming.get("anthropic-version", ANTHROPIC_VERSION)
        if incoming.get("anthropic-beta"):
            headers["anthropic-beta"] = incoming["anthropic-beta"]
        if api_key:
            headers["x-api-key"] = api_key
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def _quota_spent(body: bytes) -> bool:
    return b"insufficient_quota" in body


async def send(
    session: aiohttp.ClientSession,
    url: str,
    headers: Mapping[str, str],
    payload: bytes,
    policy: RetryPolicy,
    on_retry: Callable[[int | None, float], None],
) -> Sent:
    """POST `payload` to `url`, retrying as above; `on_retry(status, wait)` is told of each
    retry before its wait."""
    attempt = 0
    while True:
        started = time.monotonic()
        try:
            response = await session.post(url, data=payload, headers=headers)
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            if attempt >= policy.max_retries:
                message = f"the provider could not be reached: {type(exc).__name__}"
                return Sent(ErrorReply(None, message.encode()), started)
            status, retry_after = None, None
        else:
            if response.status < 400:
                return Sent(response, started)
            body = await response.read()
            response.release()
            status, retry_after = response.status, retry_after_seconds(response.headers)
            final = (
                status not in RETRY_STATUSES
                or attempt >= policy.max_retries
                or (status == 429 and _quota_spent(body))
            )
            if final:
                content_type = response.headers.get("Content-Type", "application/json")
                return Sent(ErrorReply(status, body, content_type), started)
        wait = policy.delay(attempt, retry_after)
        on_retry(status, wait)
        await asyncio.sleep(wait)
        attempt += 1
