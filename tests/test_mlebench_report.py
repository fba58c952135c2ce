"""`mleray report RESULTS --mlebench-reports DIR`: MLE-bench's grading report JSON (the keys
and totals of `mlebench.grade.aggregate_reports`, per run the keys of
`CompetitionReport.to_dict`), one per agent × model, checked against hand-made rows."""

from __future__ import annotations

import json
import math
from datetime import datetime

import pytest
from typer.testing import CliRunner

from mleray.analysis.frame import ReportError
from mleray.analysis.mlebench_json import mlebench_reports, write_mlebench_reports
from tests.helpers.cli import registered_app
from tests.helpers.synthetic import write_results

# MLE-bench's CompetitionReport.to_dict(), in its order (mlebench/grade_helpers.py)
REPORT_KEYS = [
    "competition_id",
    "score",
    "gold_threshold",
    "silver_threshold",
    "bronze_threshold",
    "median_threshold",
    "any_medal",
    "gold_medal",
    "silver_medal",
    "bronze_medal",
    "above_median",
    "submission_exists",
    "valid_submission",
    "is_lower_better",
    "created_at",
    "submission_path",
]
TOTAL_KEYS = [
    "total_runs",
    "total_runs_with_submissions",
    "total_valid_submissions",
    "total_medals",
    "total_gold_medals",
    "total_silver_medals",
    "total_bronze_medals",
    "total_above_median",
    "competition_reports",
]

AIDE = {"agent": "aide", "model": "gpt-4o"}
ROWS = [
    # comp-b first in the files: the report lists by competition, then seed
    {
        **AIDE,
        "competition_id": "comp-b",
        "seed": 1,
        "status": "agent_error",
        "submission_exists": False,
        "valid_submission": False,
        "score": None,
        "graded_at": None,
        **dict.fromkeys(
            [
                "gold_threshold",
                "silver_threshold",
                "bronze_threshold",
                "median_threshold",
                "is_lower_better",
            ]
        ),
    },
    {**AIDE, "competition_id": "comp-b", "seed": 0, "score": 0.87},  # silver (0.85)
    {**AIDE, "competition_id": "comp-b", "seed": 2, "status": "infra_error"},  # not run
    {**AIDE, "competition_id": "comp-a", "seed": 1, "score": None, "valid_submission": False},
    {**AIDE, "competition_id": "comp-a", "seed": 0, "score": 0.95},  # gold (0.9)
    {**AIDE, "competition_id": "comp-a", "seed": 2, "status": "cancelled"},  # not run
    {**AIDE, "competition_id": "comp-c", "seed": 0, "status": "timeout", "score": 0.81},
    {**AIDE, "competition_id": "comp-c", "seed": 1, "score": float("nan")},  # valid NaN
    {"agent": "noop", "competition_id": "comp-a", "seed": 0, "score": 0.5},
]


@pytest.fixture
def results(tmp_path):
    return write_results(tmp_path / "results", ROWS)


def test_one_report_per_agent_and_model_with_mlebenchs_keys_and_totals(results):
    reports = mlebench_reports(results)
    assert sorted(reports) == ["aide_gpt-4o", "noop"]
    aide = reports["aide_gpt-4o"]
    assert list(aide) == TOTAL_KEYS
    assert {k: v for k, v in aide.items() if k != "competition_reports"} == {
        "total_runs": 6,  # infra_error and cancelled were not run
        "total_runs_with_submissions": 5,
        "total_valid_submissions": 4,
        "total_medals": 3,
        "total_gold_medals": 1,
        "total_silver_medals": 1,
        "total_bronze_medals": 1,  # comp-c seed 0: 0.81, a timed-out run keeps its medal
        "total_above_median": 3,
    }
    runs = aide["competition_reports"]
    assert all(list(run) == REPORT_KEYS for run in runs)
    assert [(r["competition_id"], r["score"]) for r in runs[:4]] == [
        ("comp-a", 0.95),
        ("comp-a", None),
        ("comp-b", 0.87),
        ("comp-b", None),
    ]
    assert math.isnan(runs[5]["score"]) and runs[5]["valid_submission"]
    assert not runs[5]["above_median"] and not runs[5]["any_medal"]
    assert reports["noop"]["total_runs"] == 1 and reports["noop"]["total_medals"] == 0


def test_a_run_that_crashed_carries_its_competitions_thresholds(results):
    crashed = mlebench_reports(results)["aide_gpt-4o"]["competition_reports"][3]
    assert (crashed["competition_id"], crashed["submission_exists"]) == ("comp-b", False)
    assert crashed["gold_threshold"] == 0.9 and crashed["median_threshold"] == 0.6
    assert crashed["is_lower_better"] is False and crashed["created_at"] is not None
    datetime.fromisoformat(crashed["created_at"])  # as MLE-bench's from_dict reads it
    assert crashed["submission_path"].startswith(str(results / "submissions"))
    gold = mlebench_reports(results)["aide_gpt-4o"]["competition_reports"][0]
    assert gold["any_medal"] and gold["gold_medal"] and not gold["silver_medal"]
    assert gold["is_lower_better"] is False and isinstance(gold["gold_threshold"], float)


def test_split_keeps_only_its_competitions(results, tmp_path, monkeypatch):
    (tmp_path / "comps" / "splits").mkdir(parents=True)
    (tmp_path / "comps" / "splits" / "mine.txt").write_text("comp-a\n")
    monkeypatch.setenv("MLERAY_BUILTIN_COMPETITIONS", str(tmp_path / "comps"))
    reports = mlebench_reports(results, ["mine"])
    assert {r["competition_id"] for r in reports["aide_gpt-4o"]["competition_reports"]} == {
        "comp-a"
    }
    assert reports["aide_gpt-4o"]["total_runs"] == 2


def test_files_read_back_as_mlebenchs_aggregation_reads_them(results, tmp_path):
    """What experiments/aggregate_grading_reports.py does with each file: json.load, then
    the competition_reports sorted by id, each key read as a bool."""
    written = write_mlebench_reports(results, tmp_path / "out")
    assert [p.name for p in written] == [
        "aide_gpt-4o_grading_report.json",
        "noop_grading_report.json",
    ]
    loaded = json.loads(written[0].read_text())
    ordered = sorted(loaded["competition_reports"], key=lambda r: str(r["competition_id"]))
    seeds_of_a = [r for r in ordered if r["competition_id"] == "comp-a"]
    assert [bool(r["gold_medal"]) for r in seeds_of_a] == [True, False]  # seed 0, then seed 1


def test_the_cli_writes_them_beside_the_report(results, tmp_path):
    out = tmp_path / "mle"
    result = CliRunner().invoke(
        registered_app(), ["report", str(results), "--mlebench-reports", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results_dir"]  # stdout stays the report's JSON
    assert f"wrote {out / 'noop_grading_report.json'}" in result.stderr
    assert json.loads((out / "noop_grading_report.json").read_text())["total_runs"] == 1


def test_a_folder_with_nothing_run_is_one_line(tmp_path):
    empty = write_results(tmp_path / "r", [{"competition_id": "x", "status": "infra_error"}])
    with pytest.raises(ReportError, match="no trials that ran"):
        mlebench_reports(empty)
