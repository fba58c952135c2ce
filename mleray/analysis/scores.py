"""Per-competition best scores, normalised so that the median is 0 and gold is 1.

(score − median) / (gold − median) is direction-aware by itself: when lower is better,
gold < median and a better score is lower, so the ratio still grows with quality. It is
undefined (None) where gold equals the median; only valid, completed runs count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def normalised_best_scores(runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per group × competition: runs, valid runs, best raw score and its normalised value."""
    columns = [
        *keys,
        "competition_id",
        "runs",
        "valid_runs",
        "best_score",
        "normalised",
        "is_lower_better",
    ]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    score = runs["score"].astype(float)
    span = runs["gold_threshold"].astype(float) - runs["median_threshold"].astype(float)
    valid = runs["valid_submission"].to_numpy(dtype=bool)
    usable = valid & np.isfinite(score.to_numpy())  # a valid submission may score NaN
    normalised = (score - runs["median_threshold"].astype(float)) / span.where(span != 0)
    frame = runs[[*keys, "competition_id"]].assign(
        _valid=valid,
        _norm=normalised.where(usable),
        _signed=score.where(usable) * np.where(runs["is_lower_better"].to_numpy(dtype=bool), -1, 1),
        _lower=runs["is_lower_better"].to_numpy(dtype=bool),
    )
    grouped = frame.groupby([*keys, "competition_id"], observed=True, sort=True)
    table = grouped.agg(
        runs=("_valid", "size"),
        valid_runs=("_valid", "sum"),
        best_signed=("_signed", "max"),
        normalised=("_norm", "max"),
        is_lower_better=("_lower", "max"),
    )
    table["best_score"] = table["best_signed"] * np.where(table["is_lower_better"], -1, 1)
    table["valid_runs"] = table["valid_runs"].astype(int)
    return table.reset_index()[columns]


def competitions_without_valid(best: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per group: the competitions it ran where no run produced a valid submission."""
    lacking = best.loc[best["valid_runs"] == 0]
    names = lacking.groupby(keys, observed=True)["competition_id"].agg(lambda ids: sorted(ids))
    return names.rename("competitions").reset_index()
