"""Token counts from provider answers: whole JSON bodies and server-sent event streams.

Two API shapes: OpenAI's chat completions (`usage.prompt_tokens`, `completion_tokens`,
cached prompt tokens under `prompt_tokens_details`; in a stream, a last chunk with empty
`choices` when `stream_options.include_usage` is asked) and Anthropic's messages
(`usage.input_tokens` without cache reads/writes, `output_tokens`; in a stream,
`message_start` then cumulative `message_delta` counts). Prompt tokens are recorded with
cache reads and writes included, as OpenAI counts them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

CHAT = "chat"
MESSAGES = "messages"


@dataclass(frozen=True)
class TokenCount:
    prompt: int
    completion: int
    cache_read: int = 0  # of `prompt`
    cache_write: int = 0  # of `prompt`


def _int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def chat_usage(usage) -> TokenCount | None:
    if not isinstance(usage, dict) or "prompt_tokens" not in usage:
        return None
    details = usage.get("prompt_tokens_details") or {}
    return TokenCount(
        prompt=_int(usage.get("prompt_tokens")),
        completion=_int(usage.get("completion_tokens")),
        cache_read=_int(details.get("cached_tokens")) if isinstance(details, dict) else 0,
    )


def messages_usage(usage) -> TokenCount | None:
    if not isinstance(usage, dict) or "input_tokens" not in usage:
        return None
    read = _int(usage.get("cache_read_input_tokens"))
    write = _int(usage.get("cache_creation_input_tokens"))
    return TokenCount(
        prompt=_int(usage.get("input_tokens")) + read + write,
        completion=_int(usage.get("output_tokens")),
        cache_read=read,
        cache_write=write,
    )


def body_usage(api: str, body: bytes) -> TokenCount | None:
    """The usage a whole (non-streamed) answer reports, or None when it reports none."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return (chat_usage if api == CHAT else messages_usage)(data.get("usage"))


class EventStream:
    """Follows a server-sent event stream being relayed: it hands back whole events only,
    reads the usage they report, and can drop the usage-only chunk that the gateway asked
    for on a client's behalf (a client that did not ask may expect `choices[0]` in every
    chunk)."""

    def __init__(self, api: str, drop_usage_chunk: bool = False):
        self.api = api
        self.drop_usage_chunk = drop_usage_chunk
        self.tokens: TokenCount | None = None
        self._pending = b""
        self._anthropic: dict = {}

    def feed(self, data: bytes) -> bytes:
        """Bytes to relay now: every complete event received so far."""
        self._pending += data.replace(b"\r\n", b"\n")
        cut = self._pending.rfind(b"\n\n")
        if cut < 0:
            return b""
        ready, self._pending = self._pending[: cut + 2], self._pending[cut + 2 :]
        events = ready.split(b"\n\n")[:-1]
        return b"".join(e + b"\n\n" for e in events if self._keep(e))

    def flush(self) -> bytes:
        """What is left at the end of the stream (an unterminated last event)."""
        rest, self._pending = self._pending, b""
        return rest if not rest.strip() or self._keep(rest) else b""

    def _keep(self, event: bytes) -> bool:
        payload = b"\n".join(
            line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:")
        )
        if not payload or payload == b"[DONE]":
            return True
        try:
            data = json.loads(payload)
        except ValueError:
            return True
        if not isinstance(data, dict):
            return True
        if self.api == CHAT:
            return self._chat_chunk(data)
        self._messages_event(data)
        return True

    def _chat_chunk(self, data: dict) -> bool:
        tokens = chat_usage(data.get("usage"))
        if tokens is None:
            return True
        self.tokens = tokens  # the last report is the total
        return not (self.drop_usage_chunk and not data.get("choices"))

    def _messages_event(self, data: dict) -> None:
        kind = data.get("type")
        if kind == "message_start":
            usage = (data.get("message") or {}).get("usage")
        elif kind == "message_delta":
            usage = data.get("usage")
        else:
            return
        if isinstance(usage, dict):
            self._anthropic.update({k: v for k, v in usage.items() if v is not None})
            self.tokens = messages_usage({"input_tokens": 0, **self._anthropic})
