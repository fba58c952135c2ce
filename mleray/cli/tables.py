"""Result rows as the CLI prints them: picked by trial id, made JSON-ready."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd


def trial_ids_in(df: pd.DataFrame, ids: Iterable[str]) -> pd.DataFrame:
    """The rows of `df` for the given trial ids, in that order."""
    order = {tid: i for i, tid in enumerate(ids)}
    picked = df[df["trial_id"].isin(order)]
    return picked.iloc[picked["trial_id"].map(order).argsort()].reset_index(drop=True)


def json_records(df: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts: timestamps in ISO 8601, missing values as None."""
    return [
        {key: _json_value(value) for key, value in row.items()} for row in df.to_dict("records")
    ]


def _json_value(value):
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is not None and not isinstance(value, (str, bytes, list, dict)) and pd.isna(value):
        return None
    if hasattr(value, "item"):  # numpy scalar -> Python
        return value.item()
    return value
