"""A results folder as MLE-bench's grading reports, so scripts written for MLE-bench results
(its `experiments/aggregate_grading_reports.py`, or anything reading `*_grading_report.json`)
read a mleray sweep unchanged.

One report per agent × model, as MLE-bench writes one per run group: the keys and totals
of `mlebench.grade.aggregate_reports` and, per run, the keys of `CompetitionReport.to_dict`
in that order. Runs are counted as `mleray report` counts them (`runs_frame`: infra_error
and cancelled trials were not run; one run per competition × seed), and listed by
competition, then seed, so the n-th report of a competition is its n-th seed, as MLE-bench's
aggregation pairs them.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd

from mleray import results as results_store
from mleray.analysis.frame import (
    GROUP_KEYS,
    NO_MODEL,
    ReportError,
    load_split,
    one_run_per_cell,
    runs_frame,
)
from mleray.results.layout import SUBMISSIONS, attempt_file

THRESHOLDS = ["gold_threshold", "silver_threshold", "bronze_threshold", "median_threshold"]
FLAGS = ["gold_medal", "silver_medal", "bronze_medal", "above_median"]
REPORT_SUFFIX = "_grading_report.json"


def mlebench_reports(results_dir: str | Path, splits: list[str] | None = None) -> dict[str, dict]:
    """`{run group name: MLE-bench grading report}` for every agent × model of the folder
    (only the competitions of `splits`, when given)."""
    results_dir = Path(results_dir)
    trials = results_store.load(results_dir)
    if splits:
        wanted = set().union(*(load_split(name) for name in splits))
        trials = trials[trials["competition_id"].isin(wanted)]
    trials = trials.assign(model=trials["model"].fillna(NO_MODEL))
    runs, _ = one_run_per_cell(runs_frame(trials.reset_index(drop=True)), GROUP_KEYS)
    if runs.empty:
        raise ReportError(f"{results_dir}: no trials that ran, so no MLE-bench report to write")
    runs = _fill_per_competition(runs)
    reports = {}
    for (agent, model), group in runs.groupby(GROUP_KEYS, sort=True):
        ordered = group.sort_values(["competition_id", "seed"], kind="stable")
        rows = [competition_report(row, results_dir) for row in ordered.to_dict("records")]
        reports[run_group_name(agent, model)] = aggregate(rows)
    return reports


def write_mlebench_reports(
    results_dir: str | Path, out_dir: str | Path, splits: list[str] | None = None
) -> list[Path]:
    """Write `<out_dir>/<run group>_grading_report.json` for each agent × model."""
    reports = mlebench_reports(results_dir, splits)
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name, report in reports.items():
            path = out_dir / f"{name}{REPORT_SUFFIX}"
            path.write_text(json.dumps(report, indent=2))  # NaN as MLE-bench's json.dump writes
            written.append(path)
    except OSError as exc:
        raise ReportError(f"--mlebench-reports {out_dir}: cannot write ({exc.strerror})") from None
    return written


def run_group_name(agent: str, model: str) -> str:
    """A file-name-safe run group: the agent, and the model when it has one."""
    name = agent if model == NO_MODEL else f"{agent}_{model}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)


def _fill_per_competition(runs: pd.DataFrame) -> pd.DataFrame:
    """A run without a grade (the agent crashed before submitting) still gets its
    competition's thresholds and direction, as every MLE-bench report carries them."""
    columns = [*THRESHOLDS, "is_lower_better"]
    known = runs.groupby("competition_id")[columns].transform("first")
    return runs.assign(**{c: runs[c].where(runs[c].notna(), known[c]) for c in columns})


def competition_report(row: dict, results_dir: Path) -> dict:
    """One run as MLE-bench's `CompetitionReport.to_dict()` writes it."""
    valid = bool(row["valid_submission"])
    medals = {flag: bool(row[flag]) for flag in FLAGS}
    when = _present(row.get("graded_at")) or _present(row.get("finished_at"))
    submission = attempt_file(results_dir / SUBMISSIONS, row["trial_id"], row["attempt"], ".csv")
    return {
        "competition_id": row["competition_id"],
        "score": _number(row["score"], nan_allowed=True) if valid else None,
        **{name: _number(row[name]) for name in THRESHOLDS},
        "any_medal": medals["gold_medal"] or medals["silver_medal"] or medals["bronze_medal"],
        **{flag: medals[flag] for flag in FLAGS[:3]},
        "above_median": medals["above_median"],
        "submission_exists": bool(row["submission_exists"]),
        "valid_submission": valid,
        "is_lower_better": None
        if _absent(row["is_lower_better"])
        else bool(row["is_lower_better"]),
        "created_at": when.isoformat() if when is not None else None,
        "submission_path": str(submission),
    }


def aggregate(reports: list[dict]) -> dict:
    """MLE-bench's `aggregate_reports`: its totals, then the per-run reports."""
    total = {key: sum(bool(r[key]) for r in reports) for key in FLAGS}
    return {
        "total_runs": len(reports),
        "total_runs_with_submissions": sum(r["submission_exists"] for r in reports),
        "total_valid_submissions": sum(r["valid_submission"] for r in reports),
        "total_medals": total["gold_medal"] + total["silver_medal"] + total["bronze_medal"],
        "total_gold_medals": total["gold_medal"],
        "total_silver_medals": total["silver_medal"],
        "total_bronze_medals": total["bronze_medal"],
        "total_above_median": total["above_median"],
        "competition_reports": reports,
    }


def _absent(value) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _present(value):
    return None if _absent(value) else value


def _number(value, nan_allowed: bool = False) -> float | None:
    if value is None or value is pd.NA:
        return None
    number = float(value)
    return number if nan_allowed or not math.isnan(number) else None
