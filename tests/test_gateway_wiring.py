"""The model gateway's wiring, without Ray or Docker: `models:` mappings in a spec, trial
ids, which trials use the gateway, preflight's model checks, the usage columns of a row, and
their sums in `mleray status` and `mleray report`."""

from __future__ import annotations

import json
import socket
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from mleray.analysis.render import terminal_view, to_markdown
from mleray.analysis.report import build_report
from mleray.driver.models import check_models, gateway_trials
from mleray.errors import SpecError
from mleray.gateway import GatewayConfigError, ModelUsage
from mleray.gateway.stub import ThreadedStub
from mleray.ledger import ledger_for
from mleray.plan import plan_trials, trial_id_for
from mleray.results import load
from mleray.results.model_columns import MODELS
from mleray.spec import spec_from_dict
from tests.helpers.cli import registered_app
from tests.helpers.results import make_outcome, make_report, write_final

KEY_ENV = "GATEWAY_WIRING_TEST_KEY"


def spec(models, agent="noop", **extra):
    raw = {
        "name": "w",
        "competitions": ["breast-cancer-auc"],
        "agents": [{"name": agent, "models": models}],
        "sandbox": "local",
        **extra,
    }
    return spec_from_dict(raw, source="s.yaml", check=False)


def stub_entry(name="stub-a", base_url="http://127.0.0.1:9/v1", **extra):
    return {"name": name, "provider": "openai-compatible", "base_url": base_url, **extra}


def test_plain_names_keep_their_trial_ids_and_use_no_gateway():
    (trial,) = plan_trials(spec(["gpt-4o"]))
    same = trial_id_for(
        "breast-cancer-auc", "noop", "gpt-4o", 0, "{}", 600.0, "local", 0, 1, 4 * 1024**3
    )
    assert trial.trial_id == same and trial.route is None and trial.budget is None


def test_a_mapping_routes_its_model_and_its_settings_make_the_trial():
    entry = stub_entry(params={"temperature": 0.2}, budget={"max_tokens": 1000})
    (trial,) = plan_trials(spec([entry]))
    assert trial.model == "stub-a" and trial.route.provider == "openai-compatible"
    assert trial.route.params == {"temperature": 0.2} and trial.budget.max_tokens == 1000

    def trial_id(**changes):
        return plan_trials(spec([{**entry, **changes}]))[0].trial_id

    assert trial.trial_id != plan_trials(spec(["stub-a"]))[0].trial_id
    assert trial_id(budget={"max_tokens": 2000}) != trial.trial_id  # changes the run
    assert trial_id(params={"temperature": 0.9}) != trial.trial_id
    assert trial_id(model="other-model") != trial.trial_id
    # pacing and accounting do not
    assert trial_id(max_concurrency=2, price_as="openai:gpt-4o", api_key_env="K") == trial.trial_id


def test_sweep_yaml_keeps_the_mappings():
    entry = stub_entry(budget={"max_dollars": 2})
    first = spec(["gpt-4o", entry])
    again = spec_from_dict(first.to_dict(), source="again", check=False)
    assert again.to_dict()["agents"][0]["models"] == ["gpt-4o", entry]
    assert [t.trial_id for t in plan_trials(again)] == [t.trial_id for t in plan_trials(first)]


@pytest.mark.parametrize(
    "models, message",
    [
        ([{"name": "x", "provider": "azure"}], r"s\.yaml: field agents\[0\]\.models\[0\]: .*azure"),
        ([{"provider": "openai"}], r"`agents\[0\]\.models\[0\]\.name`"),
        ([{"name": "x", "budget": {"max_tokens": -1}}], r"models\[0\]\.budget\.max_tokens"),
        ([{"name": "x", "temperature": 1}], r"unknown field `temperature`"),
        ([{"name": "x", "api_key_env": "MLERAY_KEY"}], r"MLERAY_KEY starts with MLERAY_"),
        (["x", {"name": "x"}], r"lists 'x' twice \(agents\[0\]\.models\[0\] and .*\[1\]\)"),
        ([stub_entry(base_url="ftp://host")], r"must start with http"),
    ],
)
def test_bad_model_entries_are_one_line_naming_the_field(models, message):
    with pytest.raises(SpecError, match=message) as caught:
        spec(models)
    assert "\n" not in str(caught.value)


def test_gateway_agents_get_plain_names_routed():
    from mleray.agents import get_agent

    trials = plan_trials(spec(["gpt-4o-mini"], agent="llm-loop")) + plan_trials(spec(["gpt-4o"]))
    agents = {"llm-loop": get_agent("llm-loop"), "noop": get_agent("noop")}
    routed, plain = gateway_trials(trials, agents)
    assert routed.route.name == "gpt-4o-mini" and routed.route.provider == "openai"
    assert routed.trial_id == trials[0].trial_id  # the id does not move
    assert plain.route is None  # noop takes no gateway: its model is a label


def test_preflight_checks_keys_endpoints_and_prices(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with ThreadedStub() as stub:
        (trial,) = plan_trials(spec([stub_entry(base_url=stub.base_url, api_key_env=KEY_ENV)]))
        with pytest.raises(GatewayConfigError, match=f"environment variable {KEY_ENV}"):
            check_models([trial])
        check_models([trial], environ={KEY_ENV: "sk-x"})
        check_models([trial], keys=False)  # a cluster's nodes hold the keys, not the driver
        priced = replace(trial, budget=replace(trial.budget, max_dollars=1.0))
        with pytest.raises(GatewayConfigError, match="dollar budget needs a price"):
            check_models([priced], keys=False)
        check_models(
            [replace(priced, route=replace(priced.route, price_as="openai:gpt-4o"))], keys=False
        )
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    (gone,) = plan_trials(spec([stub_entry(base_url=f"http://127.0.0.1:{port}/v1")]))
    with pytest.raises(GatewayConfigError, match=f"base_url http://127.0.0.1:{port}/v1 does not"):
        check_models([gone])


@pytest.mark.ray
def test_a_sweep_with_a_missing_key_fails_before_ray_starts(tmp_path, builtin_data, monkeypatch):
    import ray

    from mleray.driver import run_sweep

    monkeypatch.delenv(KEY_ENV, raising=False)
    with ThreadedStub() as stub:
        entry = stub_entry(base_url=stub.base_url, api_key_env=KEY_ENV)
        s = spec([entry], agent="llm-loop", results=str(tmp_path / "r"))
        with pytest.raises(GatewayConfigError, match=KEY_ENV):
            run_sweep(s, progress=False)
    assert not ray.is_initialized() and not (tmp_path / "r" / "trials").exists()


USAGE = ModelUsage(
    requests=3,
    prompt_tokens=1200,
    completion_tokens=300,
    dollars=0.02,
    latency_seconds=1.5,
    refused=1,
    rate_limited=2,
    retries=2,
    rate_limit_wait_seconds=0.4,
    budget_exhausted=True,
    models=("stub-a",),
)


def write_sweep(root):
    """Two trials of one agent × model: one used the gateway, one did not."""
    trials = plan_trials(spec([stub_entry()], seeds=2))
    medal = replace(make_report(score=0.999), any_medal=True, gold_medal=True)
    write_final(root, trials[0], replace(make_outcome(trials[0]), model_usage=USAGE), medal)
    write_final(root, trials[1], make_outcome(trials[1]))
    return trials


def test_usage_is_in_the_row_and_summed_by_status(tmp_path):
    trials = write_sweep(tmp_path)
    rows = load(tmp_path).set_index("trial_id")
    used, unused = rows.loc[trials[0].trial_id], rows.loc[trials[1].trial_id]
    assert used["prompt_tokens"] == 1200 and used["total_tokens"] == 1500
    assert used["dollars"] == 0.02 and used["budget_exhausted"] and used["rate_limited"] == 2
    assert used["model_refused"] == 1 and used["models_called"] == "stub-a"
    assert unused[[f.name for f in MODELS]].isna().all()
    totals = ledger_for(tmp_path).model_usage
    assert totals["attempts"] == 1 and totals["total_tokens"] == 1500
    assert totals["dollars"] == 0.02 and totals["budget_exhausted"] == 1
    runner = CliRunner()
    out = runner.invoke(registered_app(), ["status", str(tmp_path), "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout)["model_usage"]["prompt_tokens"] == 1200
    table = runner.invoke(registered_app(), ["status", str(tmp_path)])
    assert "total tokens" in table.stdout and "1,500" in table.stdout and "$0.0200" in table.stdout


def test_report_shows_tokens_and_dollars_per_medal(tmp_path):
    write_sweep(tmp_path)
    report = build_report(tmp_path, n_boot=20)
    (cost,) = report.gpu_cost
    assert cost["medals"] == 1 and cost["tokens"] == 1500 and cost["dollars"] == 0.02
    assert cost["tokens_per_medal"] == 1500 and cost["dollars_per_medal"] == 0.02
    markdown = to_markdown(report)
    assert "## GPU and model cost" in markdown and "| $0.02 |" in markdown
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(terminal_view(report))
    assert "$/medal" in console.export_text()


def test_reports_without_gateway_use_look_as_before(tmp_path):
    trials = plan_trials(spec(["gpt-4o"]))
    write_final(tmp_path, trials[0], make_outcome(trials[0]))
    report = build_report(tmp_path, n_boot=20)
    assert report.gpu_cost[0]["tokens"] is None and report.gpu_cost[0]["dollars"] is None
    assert "## GPU cost" in to_markdown(report) and "tokens" not in to_markdown(report)
    assert ledger_for(tmp_path).model_usage is None


def test_unknown_dollars_stay_unknown(tmp_path):
    trials = write_sweep(tmp_path)
    unpriced = replace(USAGE, dollars=None)
    write_final(tmp_path, trials[1], replace(make_outcome(trials[1]), model_usage=unpriced))
    assert ledger_for(tmp_path).model_usage["dollars"] is None
    (cost,) = build_report(tmp_path, n_boot=20).gpu_cost
    assert cost["tokens"] == 3000 and cost["dollars"] is None


def test_the_audit_finds_a_secret_in_parquet_rows_and_archives(tmp_path):
    import io
    import tarfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    from mleray.gateway.audit import find_secret

    secret = "sk-audit-test-secret-0987654321"
    (tmp_path / "clean.txt").write_text("nothing here")
    assert find_secret([tmp_path], secret) == ([], 1)
    table = pa.table({"error": [f"called with {secret} " * 50]})
    pq.write_table(table, tmp_path / "row.parquet", compression="zstd")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = f"log line {secret}\n".encode()
        info = tarfile.TarInfo("logs/agent.log")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    (tmp_path / "art.tar.gz").write_bytes(buffer.getvalue())
    places, searched = find_secret([tmp_path], secret)
    assert searched == 3 and secret.encode() not in (tmp_path / "art.tar.gz").read_bytes()
    assert f"{tmp_path}/art.tar.gz:logs/agent.log" in places  # found only once unpacked
    assert f"{tmp_path}/row.parquet (rows)" in places
