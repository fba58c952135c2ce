"""Rendering a Report: JSON-ready records, k and time columns, Markdown sections, terminal."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from mleray.analysis.curves import display_unit
from mleray.analysis.render import shown_ks, terminal_view, to_json, to_markdown
from mleray.analysis.report import build_report, records
from tests.helpers.synthetic import synthetic_trials, write_results


def test_records_are_plain_python_with_none_for_missing():
    frame = pd.DataFrame(
        {
            "x": [1.5, np.nan, np.inf],
            "n": np.array([1, 2, 3], dtype=np.int64),
            "s": pd.array(["a", None, "c"], dtype="string"),
            "ids": [["c1"], [], ["c2", "c3"]],
        }
    )
    rows = records(frame)
    assert rows[0] == {"x": 1.5, "n": 1, "s": "a", "ids": ["c1"]}
    assert rows[1]["x"] is None and rows[1]["s"] is None
    assert rows[2]["x"] is None  # inf is not JSON
    assert type(rows[0]["n"]) is int
    json.dumps(rows, allow_nan=False)


def test_shown_ks_keeps_few_and_thins_many():
    assert shown_ks([1, 2, 3]) == [1, 2, 3]
    assert shown_ks(list(range(1, 101))) == [1, 2, 4, 8, 16, 32, 64, 100]


@pytest.mark.parametrize("hours, unit", [(24.0, "h"), (2.0, "h"), (0.5, "min"), (0.001, "s")])
def test_display_unit(hours, unit):
    assert display_unit(hours)[0] == unit


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    write_results(
        folder,
        synthetic_trials(competitions=5, agents=2, models=1, seeds=3, rng_seed=4),
        file_per_trial=False,
    )
    return build_report(folder, n_boot=100)


def test_markdown_has_every_section(report):
    text = to_markdown(report)
    for heading in (
        "## What is missing",
        "## Medal rates",
        "## pass@k",
        "### gold",
        "## 95% bootstrap intervals",
        "## Paired differences",
        "## Any-medal rate vs time budget",
        "## GPU cost",
        "## By GPU share",
        "## Best score per competition",
        "## Method",
    ):
        assert heading in text, heading
    rate = next(
        r for r in report.medal_rates if r["metric"] == "any_medal" and r["agent"] == "agent-0"
    )
    assert f"{rate['mean_pct']:.1f} ± {rate['sem_pct']:.1f}" in text


def test_json_round_trips_every_number(report):
    data = json.loads(to_json(report))
    assert data == json.loads(json.dumps(report.to_dict()))
    assert len(data["pass_at_k"]) == 2 * 4 * 3  # groups × metrics × k


def test_json_has_a_line_per_field_and_per_record(report):
    lines = to_json(report).splitlines()
    record = json.dumps(report.to_dict()["pass_at_k"][0])
    assert f"    {record}," in lines
    assert any(line.startswith('  "counts": {') for line in lines)


def test_terminal_view_names_groups_and_rates(report):
    console = Console(width=120, record=True)
    console.print(terminal_view(report))
    text = console.export_text()
    assert "agent-0 / model-0" in text and "agent-1 / model-0" in text
    assert "k=3" in text and "medal %" in text
