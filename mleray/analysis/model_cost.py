"""What a group's models cost: tokens and dollars spent through the model gateway, and per
medal, next to GPU-hours per medal (`curves.gpu_cost`).

Every attempt counts, retried ones too (they spent the tokens), as for GPU-hours. A group
whose attempts never used the gateway has no tokens (None, not 0); its dollars are None
also when any attempt called a model without a known price.
"""

from __future__ import annotations

import pandas as pd

MODEL_COST_COLUMNS = ["tokens", "dollars", "tokens_per_medal", "dollars_per_medal"]


def model_spend(attempts: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per group (index: `keys`): `tokens` and `dollars` over every attempt."""
    if "model_requests" not in attempts.columns:  # a frame built without the MODELS group
        return pd.DataFrame(
            columns=["tokens", "dollars"], index=pd.MultiIndex.from_tuples([], names=keys)
        )
    used = attempts["model_requests"].notna()
    frame = attempts[keys].assign(
        _used=used,
        _tokens=attempts["total_tokens"].where(used).astype(float),
        _dollars=attempts["dollars"].where(used).astype(float),
        _unknown=used & attempts["dollars"].isna(),
    )
    spend = frame.groupby(keys, observed=True).agg(
        used=("_used", "sum"),
        tokens=("_tokens", "sum"),
        dollars=("_dollars", "sum"),
        unknown=("_unknown", "sum"),
    )
    spend["tokens"] = spend["tokens"].where(spend["used"] > 0)
    spend["dollars"] = spend["dollars"].where((spend["used"] > 0) & (spend["unknown"] == 0))
    return spend[["tokens", "dollars"]]


def with_model_cost(table: pd.DataFrame, attempts: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """`table` (indexed by `keys`, with `medals`) with MODEL_COST_COLUMNS added."""
    table = table.join(model_spend(attempts, keys).astype(float), how="left")
    medals = table["medals"].where(table["medals"] > 0).astype(float)  # none: no per-medal
    table["tokens_per_medal"] = table["tokens"] / medals
    table["dollars_per_medal"] = table["dollars"] / medals
    return table
