"""build_report and `mleray report`: empty and partly failed sweeps, splits, the CLI."""

from __future__ import annotations

import json
from datetime import UTC

import pytest
from typer.testing import CliRunner

from mleray.analysis.render import to_markdown, write_report
from mleray.analysis.report import build_report
from mleray.errors import MlerayError, NotFoundError
from tests.helpers.synthetic import write_results

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(comp, seed, won=False, agent="aide", **extra):
    return {
        "competition_id": comp,
        "seed": seed,
        "agent": agent,
        "model": "gpt",
        "any_medal": won,
        "bronze_medal": won,
        "wall_seconds": 600.0,
        **extra,
    }


@pytest.fixture
def partial_sweep(tmp_path):
    """Three competitions × three seeds, with the usual ways a sweep goes wrong."""
    rows = [run(c, s, won=(c == "comp-a")) for c in ("comp-a", "comp-b") for s in range(3)]
    rows += [
        run("comp-c", 0, valid_submission=False, score=None),
        run("comp-c", 1, status="agent_error", valid_submission=False),
        run("comp-c", 2, status="infra_error", error="node lost"),
    ]
    rows[1]["status"] = "cancelled"  # comp-a seed 1
    return write_results(tmp_path / "results", rows)


def test_missing_folder_is_a_one_line_not_found(tmp_path):
    with pytest.raises(NotFoundError) as info:
        build_report(tmp_path / "nope")
    assert "\n" not in str(info.value) and "nope" in str(info.value)


def test_empty_folder_says_there_are_no_trials(tmp_path):
    (tmp_path / "results").mkdir()
    report = build_report(tmp_path / "results")
    assert report.counts["trials"] == 0 and report.ks == []
    assert any("no trials" in line for line in report.missing)
    paths = write_report(report, tmp_path / "out")
    assert "no trials" in (tmp_path / "out" / "report.md").read_text()
    assert json.loads((tmp_path / "out" / "report.json").read_text())["medal_rates"] == []
    for png in [p for p in paths if p.suffix == ".png"]:
        assert png.read_bytes()[:8] == PNG_SIGNATURE


def test_partial_sweep_says_what_is_missing(partial_sweep):
    report = build_report(partial_sweep, n_boot=200)
    text = "\n".join(report.missing)
    assert "2 trials not run (1 cancelled, 1 infra_error; aide / gpt: 2)" in text
    assert "seed 1: incomplete, 1 of 3 competitions missing (comp-a)" in text
    assert "seed 2: incomplete, 1 of 3 competitions missing (comp-c)" in text
    assert "no valid submission in 1 competitions (comp-c)" in text
    assert report.counts["runs"] == 7 and report.counts["not_run"] == 2
    rates = {row["metric"]: row for row in report.medal_rates}
    # The only complete seed is 0: comp-a medal, comp-b and comp-c not → 1/3.
    assert rates["any_medal"]["mean_pct"] == pytest.approx(100 / 3)
    assert rates["any_medal"]["seeds"] == 1 and rates["any_medal"]["seeds_incomplete"] == 2
    assert rates["any_medal"]["sem_pct"] is None
    assert "What is missing" in to_markdown(report)


def test_report_is_json_serialisable_plain_data(partial_sweep):
    report = build_report(partial_sweep, ks=[1, 2], n_boot=200)
    text = json.dumps(report.to_dict(), allow_nan=False)
    data = json.loads(text)
    assert data["ks"] == [1, 2]
    assert {row["k"] for row in data["pass_at_k"]} == {1, 2}
    assert data["time_curves"] and data["competition_scores"] and data["gpu_cost"]


def test_k_larger_than_runs_is_an_error(partial_sweep):
    with pytest.raises(MlerayError, match="k=4 exceeds"):
        build_report(partial_sweep, ks=[1, 4])


def test_split_restricts_competitions_and_names_absent_ones(partial_sweep, tmp_path, monkeypatch):
    builtin = tmp_path / "competitions"
    (builtin / "splits").mkdir(parents=True)
    (builtin / "splits" / "pair.txt").write_text("comp-a\ncomp-q  # never run\n")
    monkeypatch.setenv("MLERAY_BUILTIN_COMPETITIONS", str(builtin))
    report = build_report(partial_sweep, split="pair", n_boot=200)
    assert report.counts["competitions_expected"] == 2
    assert {row["split"] for row in report.medal_rates} == {"pair"}
    text = "\n".join(report.missing)
    assert "split pair: 1 competitions have no run at all: comp-q" in text
    assert "trial rows of competitions outside split pair ignored" in text
    with pytest.raises(NotFoundError):
        build_report(partial_sweep, split="no-such-split")


@pytest.fixture
def two_splits(tmp_path, monkeypatch):
    builtin = tmp_path / "competitions"
    (builtin / "splits").mkdir(parents=True)
    (builtin / "splits" / "ab.txt").write_text("comp-a\ncomp-b\n")
    (builtin / "splits" / "all.txt").write_text("comp-a\ncomp-b\ncomp-c\n")
    monkeypatch.setenv("MLERAY_BUILTIN_COMPETITIONS", str(builtin))


def test_several_splits_are_aggregated_each_over_its_own_competitions(partial_sweep, two_splits):
    report = build_report(partial_sweep, split=["ab", "all"], n_boot=200)
    assert report.splits == ["ab", "all"] and report.group_keys[-1] == "split"
    rate = {row["split"]: row for row in report.medal_rates if row["metric"] == "any_medal"}
    # ab: seeds 0 and 2 complete, comp-a medals in both → 50% ± 0; seed 1 lacks comp-a
    assert (rate["ab"]["mean_pct"], rate["ab"]["sem_pct"], rate["ab"]["seeds"]) == (50.0, 0.0, 2)
    # all: only seed 0 is complete → 1 of 3
    assert rate["all"]["mean_pct"] == pytest.approx(100 / 3) and rate["all"]["seeds"] == 1
    pass1 = {
        row["split"]: row["pass_at_k"]
        for row in report.pass_at_k
        if row["metric"] == "any_medal" and row["k"] == 1
    }
    assert pass1 == pytest.approx({"ab": 0.5, "all": 1 / 3})
    assert report.counts["trials"] == 9  # counted once, not once per split


@pytest.fixture(scope="module")
def cli():
    import mleray.cli

    mleray.cli._register_commands()
    return mleray.cli.app


def test_cli_table_and_files(cli, partial_sweep, tmp_path):
    result = CliRunner().invoke(cli, ["report", str(partial_sweep), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "aide / gpt" in result.output and "missing:" in result.output
    for name in (
        "report.md",
        "report.json",
        "pass_at_k.png",
        "medal_rate_vs_time.png",
        "competition_heatmap.png",
    ):
        assert (tmp_path / "o" / name).stat().st_size > 0


def test_cli_several_splits(cli, partial_sweep, two_splits):
    result = CliRunner().invoke(cli, ["report", str(partial_sweep), "--split", "ab, all", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["splits"] == ["ab", "all"]
    assert {row["split"] for row in data["medal_rates"]} == {"ab", "all"}


def test_cli_json_is_the_only_stdout(cli, partial_sweep, tmp_path):
    result = CliRunner().invoke(
        cli, ["report", str(partial_sweep), "--json", "--k", "1,2", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ks"] == [1, 2] and data["counts"]["runs"] == 7
    assert "wrote" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--k", "1,x"], "--k: 'x' is not a positive whole number"),
        (["--k", "0"], "--k: '0' is not a positive whole number"),
        (["--k", "9"], "k=9 exceeds the most runs any competition has (n=3)"),
        (["--split", "no-such-split"], "no-such-split"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(cli, partial_sweep, args, message):
    result = CliRunner().invoke(cli, ["report", str(partial_sweep), *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_cli_missing_folder(cli, tmp_path):
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: results folder {tmp_path / 'none'} does not exist"


def test_retried_attempts_count_towards_gpu_hours_only(tmp_path):
    final = [
        run("comp-a", 0, won=True, trial_id="t1", attempt=2, gpu_seconds=3600.0),
        run("comp-b", 0, trial_id="t2", gpu_seconds=3600.0),
    ]
    retried = [run("comp-a", 0, trial_id="t1", attempt=1, status="infra_error", gpu_seconds=7200.0)]
    folder = write_results(tmp_path / "results", final, attempts=retried)
    report = build_report(folder, n_boot=100)
    assert report.counts["attempts"] == 3 and report.counts["trials"] == 2
    assert report.counts["not_run"] == 0
    cost = report.gpu_cost[0]
    assert (cost["trials"], cost["runs"], cost["medals"]) == (2, 2, 1)
    assert cost["gpu_hours"] == pytest.approx(4.0)
    assert cost["gpu_hours_per_medal"] == pytest.approx(4.0)
    assert any("1 earlier attempts (retried or abandoned)" in line for line in report.missing)


@pytest.mark.ray
@pytest.mark.slow
def test_report_on_a_real_sweep(tmp_path, monkeypatch):
    """A real (tiny) sweep through Ray and the local sandbox, then `mleray report --json`."""
    import subprocess
    import sys

    from mleray.data import prepare_competition
    from mleray.driver import run_sweep
    from mleray.registry import get_competition
    from mleray.spec import spec_from_dict

    monkeypatch.setenv("MLERAY_DATA_DIR", str(tmp_path / "data"))
    prepare_competition(get_competition("breast-cancer-auc"))
    spec = spec_from_dict(
        {
            "name": "report-e2e",
            "competitions": ["breast-cancer-auc"],
            "agents": [{"name": "noop"}],
            "seeds": 2,
            "sandbox": "local",
            "time_limit": 60,
            "results": str(tmp_path / "results"),
            "resources": {"cpus": 0.5, "memory": "256m"},
        },
        source="test",
    )
    run_sweep(spec, num_cpus=2, progress=False)
    result = subprocess.run(
        [sys.executable, "-m", "mleray", "report", str(tmp_path / "results"), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["counts"]["runs"] == 2 and data["ks"] == [1, 2]
    rates = {row["metric"]: row for row in data["medal_rates"]}
    # noop copies the sample submission: valid, never a medal
    assert rates["valid_submission"]["mean_pct"] == 100.0
    assert rates["any_medal"]["mean_pct"] == 0.0
    assert data["missing"] == []


@pytest.mark.parametrize("where", ["a-file", "a-file/below"])
def test_cli_out_that_cannot_be_written_is_one_line(cli, partial_sweep, tmp_path, where):
    (tmp_path / "a-file").write_text("in the way")
    out = tmp_path / where
    result = CliRunner().invoke(cli, ["report", str(partial_sweep), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: --out {out}: cannot write the report there")
    assert len(result.stderr.strip().splitlines()) == 1


def test_hardware_table_compares_gpu_shares_swept_on_the_same_seeds(tmp_path):
    """Two sweeps of one agent, at GPU share 0.5 then 1, on the same competitions and
    seeds: the medal rates count each cell once (the later run), but the hardware table,
    which exists to compare shares, keeps both."""
    from datetime import datetime, timedelta

    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        run(
            comp,
            seed,
            won=(share == 1.0),
            sweep=f"share-{share}",
            gpu_share=share,
            gpu_seconds=share * 600,
            trial_id=f"{share}-{comp}-{seed}",
            finished_at=start + timedelta(hours=share),
        )
        for share in (0.5, 1.0)
        for comp in ("comp-a", "comp-b")
        for seed in range(2)
    ]
    report = build_report(write_results(tmp_path / "results", rows))
    by_share = {row["gpu_share"]: row for row in report.hardware}
    assert sorted(by_share) == [0.5, 1.0]
    assert (by_share[0.5]["runs"], by_share[0.5]["any_medal_pct"]) == (4, 0.0)
    assert (by_share[1.0]["runs"], by_share[1.0]["any_medal_pct"]) == (4, 100.0)
    rate = next(r for r in report.medal_rates if r["metric"] == "any_medal")
    assert rate["mean_pct"] == 100.0 and rate["seeds"] == 2
    assert any("only the latest is counted" in line for line in report.missing)


def test_report_does_not_depend_on_the_order_rows_were_written(tmp_path):
    """Group keys are read as categoricals; their categories are sorted, so groups,
    competitions and the bootstrap's resampled competitions come out as from strings."""
    rows = [
        run(comp, seed, won=(seed + len(comp) + len(agent)) % 3 == 0, agent=agent, model=model)
        for comp in ("comp-zeta", "comp-alpha", "comp-mid", "comp-beta")
        for agent in ("zed", "aide")
        for model in ("gpt", None, "claude")
        for seed in range(3)
    ]
    forward = build_report(write_results(tmp_path / "forward", rows), n_boot=200)
    backward = build_report(write_results(tmp_path / "backward", rows[::-1]), n_boot=200)
    ignore = {"results_dir", "generated_at"}
    assert {k: v for k, v in forward.to_dict().items() if k not in ignore} == {
        k: v for k, v in backward.to_dict().items() if k not in ignore
    }
    groups = [(r["agent"], r["model"]) for r in forward.gpu_cost]
    assert groups == sorted(groups) and ("aide", "-") in groups
    assert [r["competition_id"] for r in forward.competition_scores[:4]] == sorted(
        ["comp-zeta", "comp-alpha", "comp-mid", "comp-beta"]
    )
