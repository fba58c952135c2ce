"""Benchmark `build_report` on a 1,000,000-row results table, and the vectorised tables
against a naive per-row Python implementation on a smaller one.

    python benchmarks/bench_report.py [--rows-scale 1.0] [--repeats 5]

Prints: the table shape, the median (and min/max) wall time of `build_report` over the
repeats, and for the small table the naive and vectorised times of pass@k + medal rates,
their ratio, and a check that both give the same numbers.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd

from mleray.analysis import rates
from mleray.analysis.frame import NOT_RUN_STATUSES, final_trials, one_run_per_cell, runs_frame
from mleray.analysis.passk import pass_at_k_table
from mleray.analysis.report import build_report

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root: tests.helpers
from tests.helpers.synthetic import synthetic_trials, write_results  # noqa: E402

BIG = dict(competitions=75, agents=4, models=5, seeds=667)  # 1,000,500 rows
SMALL = [
    dict(competitions=75, agents=4, models=1, seeds=20),  # 6,000 rows
    dict(competitions=75, agents=4, models=5, seeds=100),
]  # 150,000 rows
KEYS = ["agent", "model"]


def timed(function, repeats: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return times, result


def naive_tables(trials: pd.DataFrame, ks: list[int]) -> tuple[dict, dict]:
    """pass@k (any medal) and MLE-bench mean % per group, one Python step per row."""
    per_comp: dict = defaultdict(lambda: [0, 0])
    per_seed: dict = defaultdict(lambda: [0, 0])
    competitions = set()
    columns = ["agent", "model", "competition_id", "seed", "status", "any_medal"]
    for agent, model, competition, seed, status, any_medal in trials[columns].itertuples(
        index=False
    ):
        competitions.add(competition)
        if status in NOT_RUN_STATUSES:
            continue
        won = bool(any_medal) if pd.notna(any_medal) else False  # ungraded: no medal
        per_comp[((agent, model), competition)][0] += 1
        per_comp[((agent, model), competition)][1] += won
        per_seed[((agent, model), seed)][0] += 1
        per_seed[((agent, model), seed)][1] += won
    pass_k: dict = defaultdict(list)
    for (group, _), (n, c) in per_comp.items():
        for k in ks:
            if n >= k:
                pass_k[(group, k)].append(1 - math.comb(n - c, k) / math.comb(n, k))
    by_group: dict = defaultdict(list)
    for (group, _), (run, won) in per_seed.items():
        if run == len(competitions):
            by_group[group].append(won / len(competitions) * 100)
    return (
        {key: statistics.fmean(v) for key, v in pass_k.items()},
        {group: statistics.fmean(v) for group, v in by_group.items()},
    )


def vectorised_tables(trials: pd.DataFrame, ks: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    final = final_trials(trials)
    runs, _ = one_run_per_cell(runs_frame(final), KEYS)
    seeds = pd.MultiIndex.from_frame(final[[*KEYS, "seed"]].drop_duplicates())
    expected = sorted(final["competition_id"].unique())
    seed_table = rates.seed_table(runs, KEYS, seeds, expected)
    return (pass_at_k_table(runs, KEYS, ["any_medal"], ks), rates.medal_rates(seed_table, KEYS))


def check_same(naive: tuple[dict, dict], vectorised: tuple[pd.DataFrame, pd.DataFrame]) -> float:
    passk, medal = vectorised
    worst = 0.0
    for row in passk.itertuples():
        worst = max(worst, abs(naive[0][((row.agent, row.model), row.k)] - row.pass_at_k))
    for row in medal.loc[medal["metric"] == "any_medal"].itertuples():
        worst = max(worst, abs(naive[1][(row.agent, row.model)] - row.mean_pct) / 100)
    return worst


def bench_big(folder: Path, scale: float, repeats: int) -> None:
    shape = {**BIG, "seeds": max(2, round(BIG["seeds"] * scale))}
    start = time.perf_counter()
    table = synthetic_trials(**shape)
    write_results(folder, table, file_per_trial=False)
    print(
        f"synthetic table: {table.num_rows:,} rows ({shape}), generated and written in "
        f"{time.perf_counter() - start:.1f} s"
    )
    times, report = timed(lambda: build_report(folder), repeats)
    print(
        f"build_report: median {statistics.median(times):.2f} s "
        f"(min {min(times):.2f}, max {max(times):.2f}, {repeats} runs); "
        f"k = 1..{len(report.ks)}, {len(report.pass_at_k):,} pass@k rows, "
        f"{len(report.seed_rates):,} seed rows"
    )


def bench_small(shape: dict, repeats: int) -> None:
    table = synthetic_trials(**shape, rng_seed=1)
    trials = table.to_pandas()  # both start from the DataFrame that `load()` returns
    ks = list(range(1, shape["seeds"] + 1))
    naive_times, naive = timed(lambda: naive_tables(trials, ks), repeats)
    fast_times, fast = timed(lambda: vectorised_tables(trials, ks), repeats)
    naive_s, fast_s = statistics.median(naive_times), statistics.median(fast_times)
    print(
        f"{table.num_rows:,} rows, pass@k (k = 1..{len(ks)}) + medal rates: "
        f"naive per-row Python {naive_s * 1000:.0f} ms, vectorised {fast_s * 1000:.0f} ms, "
        f"naive/vectorised = {naive_s / fast_s:.1f}x; largest difference "
        f"{check_same(naive, fast):.1e}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows-scale",
        type=float,
        default=1.0,
        help="scale the big table's seeds (1.0 = about 1,000,000 rows)",
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mleray-bench-") as folder:
        bench_big(Path(folder), args.rows_scale, args.repeats)
    for shape in SMALL:
        bench_small(shape, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
