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
        _as_int_array("n", n), _as_int_array("c", c), _as_int_array("k", k)
    )
    if np.any(k_arr < 1):
        raise ValueError(f"pass_at_k: k must be at least 1, got {k!r}")
    if np.any(k_arr > n_arr):
        raise ValueError(f"pass_at_k: k must not exceed n (k={k!r}, n={n!r})")
    if np.any(c_arr < 0) or np.any(c_arr > n_arr):
        raise ValueError(f"pass_at_k: c must be between 0 and n (c={c!r}, n={n!r})")
    result = _pass_at_k_checked(n_arr.ravel(), c_arr.ravel(), k_arr.ravel()).reshape(n_arr.shape)
    return float(result) if result.ndim == 0 else result


TABLE_CELLS = 4_000_000  # bound on one (k × c) block of values, ~32 MB


def pass_at_k_grid(n: int, ks: np.ndarray, c_max: int) -> np.ndarray:
    """pass@k for one n: a row per k in `ks` (each ≤ n), a column per c in 0..c_max.

    log C(n−c,k)/C(n,k) = Σ_{i<c} log1p(−k/(n−i)) is a running sum along each row.
    """
    i = np.arange(c_max, dtype=np.float64)
    k = np.asarray(ks, dtype=np.float64)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):  # i ≥ n − k: overwritten below
        terms = np.log1p(-k / (n - i[None, :]))
    log_ratio = np.concatenate([np.zeros((k.shape[0], 1)), np.cumsum(terms, axis=1)], axis=1)
    log_ratio[np.arange(c_max + 1)[None, :] > n - k] = -np.inf  # n − c < k: ratio 0, pass 1
    return 0.0 - np.expm1(log_ratio)  # 0.0 − x, not −x: no negative zero


def _grid_blocks(n: int, ks: np.ndarray, c_max: int):
    """(first row, grid) for consecutive blocks of `ks`, each block under TABLE_CELLS."""
    rows = max(1, TABLE_CELLS // (c_max + 1))
    for first in range(0, len(ks), rows):
        yield first, pass_at_k_grid(n, ks[first : first + rows], c_max)


def _pass_at_k_checked(n: np.ndarray, c: np.ndarray, k: np.ndarray) -> np.ndarray:
    out = np.empty(n.shape, dtype=np.float64)
    order = np.argsort(n, kind="stable")
    n_values, starts = np.unique(n[order], return_index=True)
    for n_value, members in zip(n_values, np.split(order, starts[1:])):
        k_values, k_row = np.unique(k[members], return_inverse=True)
        c_members = c[members]
        for first, grid in _grid_blocks(int(n_value), k_values, int(c_members.max())):
            inside = (k_row >= first) & (k_row < first + grid.shape[0])
            out[members[inside]] = grid[k_row[inside] - first, c_members[inside]]
    return out


def _table_values(n: np.ndarray, c: np.ndarray, ks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pass@k for each competition (n runs, c successes per metric) at each sorted k;
    0 where k > n, with a mask of where k ≤ n. One grid per distinct n, no sorting of
    the (competitions × metrics × ks) values themselves."""
    values = np.zeros((len(n), c.shape[1], len(ks)))
    usable = np.broadcast_to(n[:, None, None] >= ks[None, None, :], values.shape)
    for n_value in np.unique(n):
        rows = np.flatnonzero(n == n_value)
        fits = int(np.searchsorted(ks, n_value, side="right"))  # ks[:fits] ≤ n
        if fits == 0:
            continue
        c_rows = c[rows]  # rows × metrics
        for first, grid in _grid_blocks(int(n_value), ks[:fits], int(c_rows.max())):
            # grid[k, c_rows] is (block ks) × rows × metrics
            values[rows, :, first : first + grid.shape[0]] = np.moveaxis(grid[:, c_rows], 0, -1)
    return values, usable


def pass_at_k_table(
    runs: pd.DataFrame, keys: list[str], metrics: list[str], ks: list[int]
) -> pd.DataFrame:
    """pass@k per group (keys) × metric × k, averaged over competitions.

    `runs` holds one row per trial that ran, with boolean metric columns. A competition
    enters the average at k only if it has n ≥ k runs; `competitions` says how many did,
    next to `competitions_run` (those with at least one run), so a short one is visible.
    """
    columns = [*keys, "metric", "k", "pass_at_k", "competitions", "competitions_run"]
    if runs.empty or not ks:
        return pd.DataFrame(columns=columns)
    per_comp = runs.groupby([*keys, "competition_id"], observed=True, sort=True)
    n = per_comp.size()
    c = per_comp[metrics].sum().to_numpy().astype(np.int64)  # competitions × metrics
    k_arr = np.unique(np.asarray(ks, dtype=np.int64))
    values, usable = _table_values(n.to_numpy(), c, k_arr)  # competitions × metrics × ks
    # Competitions come sorted by group: sum each group's block of rows at once.
    groups = n.index.droplevel("competition_id").drop_duplicates()
    starts = np.flatnonzero(~n.index.droplevel("competition_id").duplicated())
    totals = np.add.reduceat(values, starts, axis=0)  # groups × metrics × ks
    counts = np.add.reduceat(usable.astype(np.int64), starts, axis=0)
    sizes = np.diff(np.append(starts, len(n)))
    repeat = len(metrics) * k_arr.size
    table = groups.to_frame(index=False).loc[np.repeat(np.arange(len(groups)), repeat)]
    table = table.reset_index(drop=True)
    table["metric"] = np.tile(np.repeat(metrics, k_arr.size), len(groups))
    table["k"] = np.tile(k_arr, len(groups) * len(metrics))
    with np.errstate(invalid="ignore", divide="ignore"):  # no competition with n ≥ k: NaN
        table["pass_at_k"] = (totals / counts).ravel()
    table["competitions"] = counts.ravel()
    table["competitions_run"] = np.repeat(sizes, repeat)
    return table[columns]
