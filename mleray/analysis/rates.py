"""Medal rates as MLE-bench aggregates them: per-seed percentages, then mean ± SEM.

MLE-bench (experiments/aggregate_grading_reports.py) computes, for each seed, the
percentage of the split's competitions that won a medal (and gold, silver, bronze, above
median, valid, submitted), then the mean across seeds with the standard error of the mean
(ddof = 1) and a 95% interval of mean ± 1.96·SEM. By default it keeps only complete seeds
(one report for every competition of the split); `--pad-missing` instead counts a missing
competition as a zero. We give both: `mean_pct`/`sem_pct` over complete seeds, and
`padded_mean_pct`/`padded_sem_pct` over every seed with missing runs as failures, and we
list each incomplete seed with what it lacks.

Where we differ: seeds are the trials' `seed` labels, not the order reports were read
in; a single seed gives SEM = None (undefined) where MLE-bench prints 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mleray.analysis.frame import SEED_METRICS

Z_95 = 1.96


def seed_table(
    runs: pd.DataFrame, keys: list[str], seeds: pd.MultiIndex, expected_competitions: list[str]
) -> pd.DataFrame:
    """One row per group × seed: competitions run, complete or not, and each metric's %.

    `runs` has one run per group × seed × competition; `seeds` lists every group × seed
    that has any trial row (run or not), so a seed whose trials all went missing shows.
    """
    expected = len(expected_competitions)
    in_split = runs.loc[runs["competition_id"].isin(expected_competitions)]
    grouped = in_split.groupby([*keys, "seed"], observed=True)
    seeds = seeds.sort_values()
    table = grouped[SEED_METRICS].sum().reindex(seeds, fill_value=0)
    table = table.astype(float) * (100.0 / expected) if expected else table.astype(float) * np.nan
    table.columns = [f"{metric}_pct" for metric in SEED_METRICS]
    run = grouped.size().reindex(seeds, fill_value=0)
    table.insert(0, "competitions_run", run.astype(int))
    table.insert(1, "competitions_expected", expected)
    table.insert(2, "complete", run.eq(expected) & (expected > 0))
    return table.reset_index()


def medal_rates(seeds: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per group × metric: mean ± SEM over complete seeds, and padded over all seeds."""
    columns = [
        *keys,
        "metric",
        "mean_pct",
        "sem_pct",
        "ci95_low_pct",
        "ci95_high_pct",
        "seeds",
        "seeds_incomplete",
        "padded_mean_pct",
        "padded_sem_pct",
        "seeds_total",
    ]
    if seeds.empty:
        return pd.DataFrame(columns=columns)
    long = seeds.melt(
        id_vars=[*keys, "seed", "complete"],
        value_vars=[f"{metric}_pct" for metric in SEED_METRICS],
        var_name="metric",
        value_name="pct",
    )
    long["metric"] = long["metric"].str.removesuffix("_pct")
    by = [*keys, "metric"]
    complete = _mean_sem(long.loc[long["complete"]], by, "")
    padded = _mean_sem(long, by, "padded_")
    table = padded.join(complete, how="left").reset_index()
    table["seeds"] = table["seeds"].fillna(0).astype(int)
    table["seeds_incomplete"] = table["padded_seeds"] - table["seeds"]
    table["seeds_total"] = table["padded_seeds"]
    table["ci95_low_pct"] = table["mean_pct"] - Z_95 * table["sem_pct"]
    table["ci95_high_pct"] = table["mean_pct"] + Z_95 * table["sem_pct"]
    table["metric"] = pd.Categorical(table["metric"], categories=SEED_METRICS, ordered=True)
    table = table.sort_values(by, kind="stable").reset_index(drop=True)
    table["metric"] = table["metric"].astype(str)
    return table[columns]


def _mean_sem(long: pd.DataFrame, by: list[str], prefix: str) -> pd.DataFrame:
    stats = long.groupby(by, observed=True)["pct"].agg(["mean", "std", "count"])
    sem = stats["std"] / np.sqrt(stats["count"])  # std has ddof=1: NaN for one seed
    return pd.DataFrame(
        {
            f"{prefix}mean_pct": stats["mean"],
            f"{prefix}sem_pct": sem,
            f"{prefix}seeds": stats["count"],
        }
    )


def incomplete_seeds(
    runs: pd.DataFrame, keys: list[str], seeds: pd.DataFrame, expected_competitions: list[str]
) -> pd.DataFrame:
    """Each incomplete group × seed with the competitions it has no run for."""
    columns = [*keys, "seed", "competitions_run", "competitions_expected", "missing"]
    lacking = seeds.loc[
        ~seeds["complete"], [*keys, "seed", "competitions_run", "competitions_expected"]
    ]
    if lacking.empty:
        return pd.DataFrame(columns=columns)
    lacking = lacking.reset_index(drop=True)
    # A presence grid, incomplete seeds × expected competitions, filled from the runs'
    # positions in both (a join of the runs against every seed × competition pair takes
    # seconds on a million runs).
    cell = [*keys, "seed"]
    row = pd.MultiIndex.from_frame(lacking[cell]).get_indexer(pd.MultiIndex.from_frame(runs[cell]))
    names = sorted(set(expected_competitions))
    column = pd.Index(names).get_indexer(runs["competition_id"])  # -1: not expected
    found = (row >= 0) & (column >= 0)
    present = np.zeros((len(lacking), len(names)), dtype=bool)
    present[row[found], column[found]] = True
    labels = np.asarray(names, dtype=object)
    table = lacking.assign(missing=[labels[~seen].tolist() for seen in present])
    return table[columns].reset_index(drop=True)
