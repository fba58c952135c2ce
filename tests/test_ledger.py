"""Accounting: the ledger sums usage over attempts and compares it with declared capacity."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from mleray.ledger import declared_gpus, ledger_for, record_capacity, sweep_ledger
from mleray.results import ResultWriter, build_trial_row
from tests.helpers.results import T0, make_outcome, make_report, make_trials, write_final


def build_store(root):
    """Two trials at GPU share 0.5 on 2 declared GPUs over a 100 s span: one completed in
    100 s, one retried (an infra_error of 20 s, then an agent_error of 40 s)."""
    a, b = make_trials(2)
    write_final(root, a, make_outcome(a, "completed", wall=100.0, start=T0))
    ResultWriter(root).write_trial(
        build_trial_row(b, make_outcome(b, "infra_error", 1, wall=20.0, start=T0), None),
        final=False,
    )
    write_final(
        root,
        b,
        make_outcome(b, "agent_error", 2, wall=40.0, start=T0 + timedelta(seconds=30)),
        make_report(0.5),
    )
    record_capacity(root, gpus=1.0, cpus=4, address="local")
    record_capacity(root, gpus=2.0, cpus=4, address="local")
    with open(root / "capacity.jsonl", "a") as handle:
        handle.write('{"torn line')
    return a, b


def test_ledger_sums_every_attempt(tmp_path):
    build_store(tmp_path)
    assert declared_gpus(tmp_path) == 2.0
    ledger = ledger_for(tmp_path).to_dict()
    assert ledger["trials"] == 2 and ledger["attempts"] == 3
    assert ledger["by_status"]["completed"] == 1 and ledger["by_status"]["agent_error"] == 1
    assert ledger["by_status"]["infra_error"] == 0
    assert ledger["gpu_hours_used"] == pytest.approx(0.5 * (100 + 20 + 40) / 3600)
    assert ledger["gpu_hours_useful"] == pytest.approx(0.5 * 100 / 3600)
    assert ledger["span_seconds"] == pytest.approx(100.0)
    assert ledger["gpu_hours_capacity"] == pytest.approx(2 * 100 / 3600)
    assert ledger["capacity_used_share"] == pytest.approx(80 / 200)
    assert ledger["cpu_hours"] == pytest.approx(80 / 3600)
    assert ledger["nodes"]["10.0.0.1"]["attempts"] == 3
    json.dumps(ledger)


def test_ledger_of_one_row_per_trial_and_empty(tmp_path):
    from mleray.results import load

    build_store(tmp_path)
    per_trial = sweep_ledger(load(tmp_path)).to_dict()
    assert per_trial["attempts"] == 2 and per_trial["capacity_used_share"] is None
    empty = sweep_ledger(load(tmp_path).iloc[0:0]).to_dict()
    assert empty["trials"] == 0 and empty["gpu_hours_used"] == 0


def test_status_cli(tmp_path):
    from mleray.cli import _register_commands, app

    build_store(tmp_path)
    _register_commands()
    runner = CliRunner()
    out = runner.invoke(app, ["status", str(tmp_path), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["by_status"]["completed"] == 1
    table = runner.invoke(app, ["status", str(tmp_path)])
    assert (
        table.exit_code == 0
        and "share of capacity used" in table.stdout
        and "40.0%" in table.stdout
    )


def test_ledger_is_a_record_and_its_dict_is_plain_data(tmp_path):
    from mleray.ledger import Ledger, NodeUsage

    build_store(tmp_path)
    ledger = ledger_for(tmp_path)
    assert isinstance(ledger, Ledger) and ledger.trials == 2 and ledger.attempts == 3
    assert ledger.nodes == {"10.0.0.1": NodeUsage(3, ledger.gpu_hours_used, ledger.wall_hours)}
    assert ledger.first_start == T0 and ledger.span_seconds == pytest.approx(100.0)
    as_dict = ledger.to_dict()
    assert list(as_dict) == [
        "trials", "by_status", "attempts", "wall_hours", "gpu_hours_used", "gpu_hours_useful",
        "cpu_hours", "peak_memory_bytes", "first_start", "last_finish", "span_seconds",
        "declared_gpus", "gpu_hours_capacity", "capacity_used_share", "nodes", "model_usage",
    ]  # fmt: skip
    assert as_dict["model_usage"] is None  # no attempt used the model gateway
    assert as_dict["first_start"] == T0.isoformat() and as_dict["nodes"]["10.0.0.1"] == {
        "attempts": 3,
        "gpu_hours": ledger.gpu_hours_used,
        "wall_hours": ledger.wall_hours,
    }
    assert json.loads(json.dumps(as_dict)) == as_dict
