"""pass@k: the unbiased estimator, and the per agent × model table built from it.

pass@k = 1 − C(n−c, k) / C(n, k): the chance that at least one of k runs drawn without
replacement from n runs (c of them successes) succeeds. The ratio is computed as the
product ∏_{i<c} (1 − k/(n−i)) in log space (a cumulative sum of `log1p` terms, all of one
sign, so no cancellation), then `-expm1` of it: exact to a few ulps even for n = 10,000,
where C(n, k) overflows a float and lgamma differences lose ~7 significant digits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _as_int_array(name: str, value) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise ValueError(f"pass_at_k: {name} must be whole numbers, got {value!r}")
    elif array.dtype.kind not in "iub":
        raise ValueError(f"pass_at_k: {name} must be integers, got {value!r}")
    return array.astype(np.int64)


def pass_at_k(n, c, k):
    """Unbiased pass@k for n runs with c successes; scalars or numpy-broadcastable arrays.

    Raises ValueError for k > n, k < 1, c < 0 or c > n. Returns a float for scalar
    inputs, else a float array of the broadcast shape.
    """
    n_arr, c_arr, k_arr = np.broadcast_arrays(
        _as_int_array("n", n), _as_int_array("c", c), _as_int_array("k", k))
    if np.any(k_arr < 1):
        raise ValueError(f"pass_at_k: k must be at least 1, got {k!r}")
    if np.any(k_arr > n_arr):
        raise ValueError(f"pass_at_k: k must not exceed n (k={k!r}, n={n!r})")
    if np.any(c_arr < 0) or np.any(c_arr > n_arr):
        raise ValueError(f"pass_at_k: c must be between 0 and n (c={c!r}, n={n!r})")
    result = _pass_at_k_checked(n_arr.ravel(), c_arr.ravel(), k_arr.ravel()).reshape(n_arr.shape)
    return float(result) if result.ndim == 0 else result


def _pass_at_k_checked(n: np.ndarray, c: np.ndarray, k: np.ndarray) -> np.ndarray:
    out = np.ones(n.shape, dtype=np.float64)  # n − c < k: every draw of k holds a success
    needs_ratio = (n - c) >= k
    if not needs_ratio.any():
        return out
    idx = np.flatnonzero(needs_ratio)
    n_r, c_r, k_r = n[idx], c[idx], k[idx]
    # One cumulative sum per distinct (n, k) pair; a report has few of them (n = seeds).
    pairs, inverse = np.unique(np.stack([n_r, k_r]), axis=1, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    starts = np.searchsorted(inverse[order], np.arange(pairs.shape[1]))
    ends = np.append(starts[1:], len(order))
    log_ratio = np.empty(len(idx), dtype=np.float64)
    for p, (start, end) in enumerate(zip(starts, ends)):
        members = order[start:end]
        n_p, k_p = pairs[0, p], pairs[1, p]
        c_members = c_r[members]
        i = np.arange(c_members.max(), dtype=np.float64)
        cumulative = np.concatenate(([0.0], np.cumsum(np.log1p(-k_p / (n_p - i)))))
        log_ratio[members] = cumulative[c_members]
    out[idx] = 0.0 - np.expm1(log_ratio)  # 0.0 − x, not −x: no negative zero
    return out


def pass_at_k_table(runs: pd.DataFrame, keys: list[str], metrics: list[str],
                    ks: list[int]) -> pd.DataFrame:
    """pass@k per group (keys) × metric × k, averaged over competitions.

    `runs` holds one row per trial that ran, with boolean metric columns. A competition
    enters the average at k only if it has n ≥ k runs; `competitions` says how many did,
    next to `competitions_run` (those with at least one run), so a short one is visible.
    """
    columns = [*keys, "metric", "k", "pass_at_k", "competitions", "competitions_run"]
    if runs.empty or not ks:
        return pd.DataFrame(columns=columns)
    per_comp = (runs.groupby([*keys, "competition_id"], observed=True, sort=True)[metrics]
                .agg(["size", "sum"]))
    n = per_comp[(metrics[0], "size")].to_numpy()
    k_arr = np.asarray(ks, dtype=np.int64)
    usable = n[:, None] >= k_arr[None, :]
    group_index = per_comp.index.droplevel("competition_id")
    frames = []
    for metric in metrics:
        c = per_comp[(metric, "sum")].to_numpy().astype(np.int64)
        n_b, c_b, k_b = np.broadcast_arrays(n[:, None], c[:, None], k_arr[None, :])
        values = np.full(n_b.shape, np.nan)
        values[usable] = pass_at_k(n_b[usable], c_b[usable], k_b[usable])
        wide = pd.DataFrame(values, index=group_index, columns=k_arr)
        grouped = wide.groupby(level=list(range(len(keys))), observed=True, sort=True)
        long = grouped.mean().stack(future_stack=True).rename("pass_at_k").to_frame()
        long["competitions"] = grouped.count().stack(future_stack=True)
        long["competitions_run"] = grouped.size().reindex(long.index.droplevel(-1)).to_numpy()
        long = long.reset_index()
        long.columns = [*keys, "k", "pass_at_k", "competitions", "competitions_run"]
        long.insert(len(keys), "metric", metric)
        frames.append(long)
    table = pd.concat(frames, ignore_index=True)
    table["pass_at_k"] = table["pass_at_k"].astype(float).where(table["competitions"] > 0)
    return table[columns]
