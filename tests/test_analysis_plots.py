"""Plots are real, non-empty PNG files, with data and without."""

from __future__ import annotations

from pathlib import Path

import pytest

from mleray.analysis import plots
from mleray.analysis.report import build_report
from tests.helpers.synthetic import synthetic_trials, write_results

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KEYS = ["agent", "model"]


def assert_png(path: Path, min_bytes: int = 5_000) -> None:
    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert len(data) >= min_bytes, f"{path} is only {len(data)} bytes"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    write_results(
        folder, synthetic_trials(competitions=6, agents=2, models=1, seeds=3), file_per_trial=False
    )
    return build_report(folder, n_boot=200)


def test_all_plots_written(report, tmp_path):
    paths = plots.write_plots(report, tmp_path / "png")
    assert [p.name for p in paths] == [plots.PASS_K_PNG, plots.TIME_PNG, plots.HEATMAP_PNG]
    for path in paths:
        assert_png(path)


def test_plots_with_data_differ_from_empty_ones(report, tmp_path):
    full = plots.plot_pass_at_k(report.pass_at_k, KEYS, tmp_path / "full.png")
    empty = plots.plot_pass_at_k([], KEYS, tmp_path / "empty.png")
    assert_png(empty, min_bytes=1_000)
    assert full.read_bytes() != empty.read_bytes()
    assert full.stat().st_size > empty.stat().st_size


def test_heatmap_and_time_plot_without_data(tmp_path):
    assert_png(plots.plot_heatmap([], KEYS, tmp_path / "h.png"), min_bytes=1_000)
    assert_png(plots.plot_time_curves([], KEYS, tmp_path / "t.png"), min_bytes=1_000)


def test_heatmap_handles_missing_scores(tmp_path):
    rows = [
        {"agent": "a", "model": "-", "competition_id": "c1", "normalised": 0.4},
        {"agent": "a", "model": "-", "competition_id": "c2", "normalised": None},
        {"agent": "b", "model": "-", "competition_id": "c1", "normalised": 3.0},
    ]
    assert_png(plots.plot_heatmap(rows, KEYS, tmp_path / "h.png"))
