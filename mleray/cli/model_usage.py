"""`mleray status`: the model gateway's totals of a results folder, as a table."""

from __future__ import annotations

from rich.table import Table

# (label, total's key, format)
_ROWS = [
    ("attempts through the gateway", "attempts", "{:d}"),
    ("model requests", "model_requests", "{:d}"),
    ("prompt tokens", "prompt_tokens", "{:,d}"),
    ("completion tokens", "completion_tokens", "{:,d}"),
    ("total tokens", "total_tokens", "{:,d}"),
    ("dollars", "dollars", "${:.4f}"),
    ("model latency (s)", "model_latency_seconds", "{:.1f}"),
    ("model errors", "model_errors", "{:d}"),
    ("refused by the gateway", "model_refused", "{:d}"),
    ("provider 429s", "rate_limited", "{:d}"),
    ("provider retries", "model_retries", "{:d}"),
    ("waiting on rate limits (s)", "rate_limit_wait_seconds", "{:.1f}"),
    ("waiting for a provider slot (s)", "queue_wait_seconds", "{:.1f}"),
    ("answers without token counts", "unmetered", "{:d}"),
    ("attempts that spent their budget", "budget_exhausted", "{:d}"),
]


def model_usage_table(totals: dict | None) -> Table | None:
    """The totals (`Ledger.model_usage`) as a table; None when no attempt used the gateway.
    Dollars show `unknown` when a model had no known price."""
    if not totals:
        return None
    table = Table(title="models (through the gateway)", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for label, key, fmt in _ROWS:
        value = totals.get(key)
        table.add_row(label, "unknown" if value is None else fmt.format(value))
    return table
