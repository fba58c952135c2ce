"""Dollars per request, from Pydantic's `genai-prices` table (never from numbers written here).

`genai-prices` ships a price table for the major providers (OpenAI, Anthropic, Google,
Groq, OpenRouter, ...) as data inside a small package, kept current by its maintainers; it
was chosen over LiteLLM's model cost map because LiteLLM is a 44 MB wheel with boto3,
tokenizers and huggingface-hub among its dependencies. A model the table does not know is
priced None (unknown), never guessed: a self-hosted model behind `openai-compatible`, or a
stub, is unknown unless its route says `price_as: "provider:model"` to charge it as a
listed model.
"""

from __future__ import annotations

import functools
import warnings

from mleray.gateway.extract import TokenCount
from mleray.gateway.routes import ModelRoute


def _reference(route: ModelRoute) -> dict:
    """calc_price's keyword arguments naming the route's table entry."""
    if route.price_as:
        provider, _, model = route.price_as.partition(":")
        return {"model_ref": model, "provider_id": provider}
    if route.provider == "openai-compatible":
        # the table recognises known hosts (Groq, Together, OpenRouter, ...) by their URL
        return {"model_ref": route.provider_model, "provider_api_url": route.url}
    return {"model_ref": route.provider_model, "provider_id": route.provider}


def request_dollars(route: ModelRoute, tokens: TokenCount) -> float | None:
    """What one request cost, or None when the table has no price for the route's model."""
    return _price(tuple(sorted(_reference(route).items())), tokens)


@functools.lru_cache(maxsize=4096)
def _price(reference: tuple, tokens: TokenCount) -> float | None:
    from genai_prices import Usage, calc_price  # about 1 s to import: only when first priced

    usage = Usage(
        input_tokens=tokens.prompt,
        output_tokens=tokens.completion,
        cache_read_tokens=tokens.cache_read or None,
        cache_write_tokens=tokens.cache_write or None,
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. prices of a deprecated model
            return float(calc_price(usage, **dict(reference)).total_price)
    except LookupError:
        return None


def load_table() -> None:
    """Import the table now (about 1 s), so that no request waits for it."""
    has_price(ModelRoute("gpt-4o-mini"))


def has_price(route: ModelRoute) -> bool:
    """Whether the table prices the route's model (a dollar budget needs one)."""
    return request_dollars(route, TokenCount(prompt=1000, completion=1000)) is not None
