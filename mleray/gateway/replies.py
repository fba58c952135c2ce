"""The gateway's own answers, shaped as each API's errors, and scrubbing keys from relays.

An OpenAI client reads `{"error": {"message", "type", "code"}}`, an Anthropic client
`{"type": "error", "error": {"type", "message"}}`; either way the agent sees a clear message.
A spent budget is HTTP 429 with code `insufficient_quota`, as OpenAI answers a spent
account, plus `x-should-retry: false`, which the official clients obey (they would
otherwise retry a 429 on their own).
"""

from __future__ import annotations

import json

from aiohttp import web

from mleray.gateway.extract import MESSAGES

REDACTED = b"[redacted]"
# status -> (OpenAI error type, Anthropic error type)
_TYPES = {
    400: ("invalid_request_error", "invalid_request_error"),
    401: ("invalid_request_error", "authentication_error"),
    403: ("invalid_request_error", "permission_error"),
    404: ("invalid_request_error", "not_found_error"),
    429: ("insufficient_quota", "rate_limit_error"),
    502: ("api_error", "api_error"),
}


def error_reply(api: str, status: int, message: str, code: str) -> web.Response:
    openai_type, anthropic_type = _TYPES.get(status, ("api_error", "api_error"))
    if api == MESSAGES:
        body = {"type": "error", "error": {"type": anthropic_type, "message": message}}
    else:
        body = {"error": {"message": message, "type": openai_type, "code": code, "param": None}}
    headers = {"x-should-retry": "false"} if status in (401, 403, 429) else {}
    return web.json_response(body, status=status, headers=headers)


def unauthorized(api: str) -> web.Response:
    return error_reply(
        api,
        401,
        "mleray gateway: this API key is not a live trial token (unknown, or its trial ended)",
        "invalid_api_key",
    )


def model_not_granted(api: str, model: object, granted) -> web.Response:
    return error_reply(
        api,
        403,
        f"mleray gateway: model {model!r} is not one of this trial's models "
        f"({', '.join(sorted(granted))})",
        "model_not_allowed",
    )


def budget_spent(api: str, reason: str) -> web.Response:
    return error_reply(
        api, 429, f"mleray gateway: {reason}; further requests are refused", "insufficient_quota"
    )


def provider_failed(api: str, model: str, status: int | None, detail: str = "") -> web.Response:
    """The provider gave no usable answer: it refused the gateway's key, or went away."""
    if status in (401, 403):
        what = f"the provider refused the gateway's credentials (HTTP {status})"
    else:
        what = detail or f"the provider answered HTTP {status}"
    return error_reply(api, 502, f"mleray gateway: model {model}: {what}", "provider_error")


def models_list(names) -> dict:
    return {"object": "list", "data": [model_entry(n) for n in sorted(names)]}


def model_entry(name: str) -> dict:
    return {"id": name, "object": "model", "created": 0, "owned_by": "mleray-gateway"}


def redact(data: bytes, secret: str | None) -> bytes:
    """`data` without the provider key (should a provider ever echo it)."""
    if not secret or len(secret) < 4:
        return data
    return data.replace(secret.encode(), REDACTED)


def bad_json(api: str, why: str) -> web.Response:
    return error_reply(api, 400, f"mleray gateway: the request body {why}", "invalid_json")


def dumps(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
