"""The MODELS column group of a trial row: what the attempt's model-gateway token used.

Defined once here: the Arrow fields, the `ModelUsage` field each column comes from, and the
totals `mleray status` prints. A trial without a gateway model has them all null, and so do
rows written before these columns existed (the reader fills missing columns with nulls).
`dollars` is null also when a gateway trial called a model without a known price.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

if TYPE_CHECKING:  # a plain data type; importing it here would not load the server
    from mleray.gateway.usage import ModelUsage

# column -> (ModelUsage attribute, Arrow type)
_COLUMNS = {
    "model_requests": ("requests", pa.int64()),
    "prompt_tokens": ("prompt_tokens", pa.int64()),
    "completion_tokens": ("completion_tokens", pa.int64()),
    "total_tokens": ("total_tokens", pa.int64()),
    "dollars": ("dollars", pa.float64()),
    "model_latency_seconds": ("latency_seconds", pa.float64()),
    "model_errors": ("errors", pa.int64()),
    "model_refused": ("refused", pa.int64()),
    "rate_limited": ("rate_limited", pa.int64()),
    "model_retries": ("retries", pa.int64()),
    "rate_limit_wait_seconds": ("rate_limit_wait_seconds", pa.float64()),
    "queue_wait_seconds": ("queue_wait_seconds", pa.float64()),
    "unmetered": ("unmetered", pa.int64()),
    "budget_exhausted": ("budget_exhausted", pa.bool_()),
    "models_called": ("models", pa.string()),
}

MODELS = [pa.field(name, kind) for name, (_, kind) in _COLUMNS.items()]

# summed by `usage_totals`; the rest are flags, names, or derived (total_tokens)
_SUMMED = [n for n, (_, k) in _COLUMNS.items() if k != pa.string() and k != pa.bool_()]


def model_usage_columns(usage: ModelUsage | None) -> dict:
    """The MODELS columns of a row (all null without gateway usage)."""
    if usage is None:
        return {name: None for name in _COLUMNS}
    row = {name: getattr(usage, attribute) for name, (attribute, _) in _COLUMNS.items()}
    row["models_called"] = ",".join(usage.models)
    return row


def usage_totals(attempts: pd.DataFrame) -> dict | None:
    """Sums over the attempts that used the gateway (None when none did): every counted
    column, `dollars` None when any of them has no known price, how many attempts ran out
    of budget."""
    if "model_requests" not in attempts.columns:
        return None
    used = attempts.loc[attempts["model_requests"].notna()]
    if used.empty:
        return None
    totals: dict = {"attempts": int(len(used))}
    for name in _SUMMED:  # int columns with nulls arrive as floats
        value = used[name].fillna(0).sum()
        totals[name] = int(value) if _COLUMNS[name][1] == pa.int64() else float(value)
    totals["dollars"] = None if used["dollars"].isna().any() else float(used["dollars"].sum())
    totals["budget_exhausted"] = int(used["budget_exhausted"].eq(True).sum())
    return totals
