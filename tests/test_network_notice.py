"""`network: bridge` is a deliberate, logged choice: a sweep that runs such an agent warns at
its start (one line naming the agent and its config) and records it in network.jsonl."""

from __future__ import annotations

import json
import shutil
import warnings

import pytest

from mleray.agents import load_agent
from mleray.driver.network import NETWORK_FILE, BridgeNetworkWarning, note_bridge_agents
from tests.helpers.hardening import HARDENING_DIR, SECRET_ENV


def _bridge_agent(tmp_path):
    folder = tmp_path / "bridged"
    shutil.copytree(HARDENING_DIR, folder)
    with open(folder / "config.yaml", "a") as handle:
        handle.write("network: bridge\n")
    return folder


def test_bridge_agents_are_warned_about_and_recorded(tmp_path):
    folder = _bridge_agent(tmp_path)
    agents = {str(folder): load_agent(folder), "plain": load_agent(HARDENING_DIR)}
    with pytest.warns(BridgeNetworkWarning) as caught:
        assert note_bridge_agents(agents, tmp_path) == [str(folder)]
    [warning] = caught
    text = str(warning.message)
    assert text.startswith("agent mleray-test-hardening runs with network: bridge (")
    assert str(folder / "config.yaml") in text and "\n" not in text
    [record] = [json.loads(line) for line in (tmp_path / NETWORK_FILE).read_text().splitlines()]
    assert record["agent"] == str(folder) and record["network"] == "bridge"


def test_no_bridge_agent_no_warning_no_file(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert note_bridge_agents({"plain": load_agent(HARDENING_DIR)}, tmp_path) == []
    assert not (tmp_path / NETWORK_FILE).exists()


@pytest.mark.ray
def test_a_sweep_with_a_bridge_agent_says_so(tmp_path, builtin_data, monkeypatch):
    from mleray.driver import run_sweep
    from mleray.spec import spec_from_dict

    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    folder = _bridge_agent(tmp_path)
    spec = spec_from_dict(
        {
            "name": "bridged",
            "competitions": ["breast-cancer-auc"],
            "agents": [{"name": str(folder)}],
            "sandbox": "local",
            "results": str(tmp_path / "results"),
        },
        source="test",
    )
    with pytest.warns(BridgeNetworkWarning, match="agent mleray-test-hardening runs with"):
        run_sweep(spec, num_cpus=2, progress=False)
    assert (tmp_path / "results" / NETWORK_FILE).is_file()
