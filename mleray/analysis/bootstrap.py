"""Bootstrap intervals clustered by competition, and paired differences between groups.

Runs of one competition are correlated (same data, same difficulty), so the unit we
resample is the competition: draw the competitions with replacement, keep all runs of
each, recompute the rate. The statistic is the mean over competitions of each
competition's success fraction (over its runs), which equals the mean of per-seed rates
when seeds are complete. Resampling is vectorised (one index matrix of n_boot × C) and
seeded, so the same data and seed give the same interval. MLE-bench reports no bootstrap;
this is in addition to its mean ± SEM.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from mleray.analysis.frame import group_label

DEFAULT_BOOTSTRAP = 2000
DEFAULT_SEED = 0
DEFAULT_LEVEL = 0.95
MAX_ALL_PAIRS_GROUPS = 6  # beyond this, compare each group with the best one only


def competition_rates(runs: pd.DataFrame, keys: list[str], metrics: list[str]) -> pd.DataFrame:
    """Per group × competition: the fraction of runs that succeeded, for each metric."""
    return runs.groupby([*keys, "competition_id"], observed=True, sort=True)[metrics].mean()


def bootstrap_ci(
    per_competition: np.ndarray,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
):
    """Percentile interval of the mean of `per_competition` under competition resampling.

    A 1-d array gives (low, high); a 2-d array (competitions × metrics) gives two arrays,
    one bound per metric, all from the same resampled competitions.
    """
    values = np.asarray(per_competition, dtype=float)
    if values.shape[0] == 0:
        nan = np.full(values.shape[1:], np.nan)
        return (float("nan"), float("nan")) if values.ndim == 1 else (nan, nan)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, values.shape[0], size=(n_boot, values.shape[0]))
    means = values[draws].mean(axis=1)  # n_boot (× metrics)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail], axis=0)
    return (float(low), float(high)) if values.ndim == 1 else (low, high)


def bootstrap_table(
    runs: pd.DataFrame,
    keys: list[str],
    metrics: list[str],
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
) -> pd.DataFrame:
    """Per group × metric: rate % over competitions and its clustered bootstrap interval."""
    columns = [
        *keys,
        "metric",
        "rate_pct",
        "ci_low_pct",
        "ci_high_pct",
        "competitions",
        "n_boot",
        "level",
        "seed",
    ]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    rates = competition_rates(runs, keys, metrics)
    rows = []
    for group, block in rates.groupby(level=list(range(len(keys))), observed=True, sort=True):
        group = group if isinstance(group, tuple) else (group,)
        values = block[metrics].to_numpy(dtype=float)  # competitions × metrics
        low, high = bootstrap_ci(values, n_boot, seed, level)
        rows += [
            (
                *group,
                metric,
                values[:, m].mean() * 100,
                low[m] * 100,
                high[m] * 100,
                len(values),
                n_boot,
                level,
                seed,
            )
            for m, metric in enumerate(metrics)
        ]
    return pd.DataFrame(rows, columns=columns)


def paired_difference(
    rates_a: pd.Series,
    rates_b: pd.Series,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
) -> dict:
    """A − B on the competitions both ran (per-competition success fractions)."""
    both = pd.concat([rates_a.rename("a"), rates_b.rename("b")], axis=1, join="inner").dropna()
    diff = (both["a"] - both["b"]).to_numpy()
    low, high = bootstrap_ci(diff, n_boot, seed, level)
    return {
        "difference_pct": float(diff.mean() * 100) if diff.size else float("nan"),
        "ci_low_pct": low * 100,
        "ci_high_pct": high * 100,
        "competitions": int(diff.size),
        "a_better": int((diff > 0).sum()),
        "b_better": int((diff < 0).sum()),
        "ties": int((diff == 0).sum()),
    }


def paired_table(
    runs: pd.DataFrame,
    keys: list[str],
    metric: str,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
) -> pd.DataFrame:
    """Paired differences between groups on `metric`: every pair for a few groups, else
    each group against the one with the highest rate."""
    columns = [
        "a",
        "b",
        "metric",
        "difference_pct",
        "ci_low_pct",
        "ci_high_pct",
        "competitions",
        "a_better",
        "b_better",
        "ties",
    ]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    wide = competition_rates(runs, keys, [metric])[metric].unstack("competition_id")
    labels = [group_label(g) for g in wide.index]
    if len(labels) < 2:
        return pd.DataFrame(columns=columns)
    if len(labels) <= MAX_ALL_PAIRS_GROUPS:
        pairs = list(combinations(range(len(labels)), 2))
    else:
        best = int(np.nanargmax(wide.mean(axis=1, skipna=True).to_numpy()))
        pairs = [(best, other) for other in range(len(labels)) if other != best]
    rows = []
    for i, j in pairs:
        result = paired_difference(wide.iloc[i], wide.iloc[j], n_boot, seed, level)
        rows.append({"a": labels[i], "b": labels[j], "metric": metric, **result})
    return pd.DataFrame(rows, columns=columns)
