"""Agent configs: loading, errors that name file and field, secrets, image tags, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mleray.agents import (
    BUILTIN_AGENTS_DIR,
    get_agent,
    list_agents,
    load_agent,
    resolve_secrets,
)
from mleray.errors import NotFoundError, SpecError
from mleray.sandbox.images import image_tag


def _agent_dir(tmp_path: Path, config: str, name: str = "mine") -> Path:
    folder = tmp_path / name
    folder.mkdir(parents=True)
    (folder / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY . /opt/agent\n")
    (folder / "run.py").write_text("print('hi')\n")
    (folder / "config.yaml").write_text(config)
    return folder


GOOD = "name: mine\nbuild: Dockerfile\ncommand: [python3, '{agent_dir}/run.py']\n"


def test_builtin_agents():
    agents = {a.name: a for a in list_agents()}
    assert {"noop", "sleep", "baseline", "aideml"} <= set(agents)
    assert agents["sleep"].kwargs == {"seconds": 10}
    assert all(a.network == "none" and a.secrets == () for a in agents.values())
    # the model agents reach their model through the gateway: no key, no network
    assert {n for n, a in agents.items() if a.gateway} == {"aideml", "llm-loop"}
    assert "OPENAI_API_KEY" not in agents["aideml"].env
    for agent in agents.values():
        assert agent.dir.parent == BUILTIN_AGENTS_DIR and (agent.dir / agent.dockerfile).is_file()


def test_command_gets_the_agent_dir():
    noop = get_agent("noop")
    assert noop.command_for("/opt/agent") == ["python3", "/opt/agent/run.py"]
    assert noop.command_for(noop.dir) == ["python3", f"{noop.dir}/run.py"]


def test_get_agent_by_path_and_search_path(tmp_path, monkeypatch):
    folder = _agent_dir(tmp_path / "extra", GOOD)
    assert get_agent(folder).name == "mine"
    with pytest.raises(NotFoundError, match="unknown agent 'mine'.*known: .*noop"):
        get_agent("mine")
    monkeypatch.setenv("MLERAY_AGENTS_PATH", str(tmp_path / "extra"))
    assert get_agent("mine").dir == folder.resolve()
    assert "mine" in {a.name for a in list_agents()}


def test_folder_without_config(tmp_path):
    with pytest.raises(NotFoundError, match="has no config.yaml"):
        load_agent(tmp_path)


@pytest.mark.parametrize(
    "config, field",
    [
        ("name: Mine\nbuild: Dockerfile\ncommand: [x]\n", "'name'"),
        ("name: mine\nbuild: Dockerfile\ncommand: python3 run.py\n", "'command'"),
        ("name: mine\nbuild: Dockerfile\ncommand: []\n", "'command'"),
        ("name: mine\nbuild: Dockerfile\ncommand: [x]\nnetwork: host\n", "'network'"),
        ("name: mine\nbuild: Dockerfile\ncommand: [x]\nnetwrk: none\n", "unknown field 'netwrk'"),
        ("name: mine\nbuild: Missing.Dockerfile\ncommand: [x]\n", "'build'"),
        ("name: mine\nbuild: ../../etc/passwd\ncommand: [x]\n", "'build'"),
        ("name: mine\ncommand: [x]\n", "'build' .* or 'image'"),
        (
            "name: mine\nbuild: Dockerfile\ncommand: [x]\nenv: {KEY: 'pre-${secret:K}'}\n",
            "'env.KEY'",
        ),
        ("name: mine\nbuild: Dockerfile\ncommand: [x]\nkwargs: [1, 2]\n", "'kwargs'"),
        (
            "name: mine\nbuild: Dockerfile\ncommand: [x]\nenv: {CUDA_VISIBLE_DEVICES: '0,1,2,3'}\n",
            "'env.CUDA_VISIBLE_DEVICES' is set by mleray",
        ),
        (
            "name: mine\nbuild: Dockerfile\ncommand: [x]\nenv: {NVIDIA_VISIBLE_DEVICES: all}\n",
            "'env.NVIDIA_VISIBLE_DEVICES' is set by mleray",
        ),
        (
            "name: mine\nbuild: Dockerfile\ncommand: [x]\nenv: {MLERAY_SEED: '1'}\n",
            "'env.MLERAY_SEED' is set by mleray",
        ),
        ("name: mine\nbuild: Dockerfile\ncommand: [x\n", "not valid YAML"),
        ("- just\n- a list\n", "mapping"),
    ],
)
def test_bad_config_names_file_and_field(tmp_path, config, field):
    folder = _agent_dir(tmp_path, config)
    with pytest.raises(SpecError, match=field) as info:
        load_agent(folder)
    message = str(info.value)
    assert str(folder / "config.yaml") in message and "\n" not in message


def test_resolve_secrets(tmp_path):
    folder = _agent_dir(tmp_path, GOOD + "env:\n  API_KEY: ${secret:MY_KEY}\n  PLAIN: 1\n")
    agent = load_agent(folder)
    assert agent.env == {"PLAIN": "1"} and agent.secrets == ("MY_KEY",)
    assert resolve_secrets(agent, {"MY_KEY": "sk-123"}) == {"API_KEY": "sk-123"}
    with pytest.raises(SpecError, match="secret MY_KEY .*env.API_KEY.* is not set"):
        resolve_secrets(agent, {})
    assert "sk-123" not in repr(agent)


def test_image_tag_hashes_folder_and_base(tmp_path):
    folder = _agent_dir(tmp_path, GOOD)
    agent = load_agent(folder)
    tag = image_tag(agent, base_tag="mleray-base:aaa")
    assert tag.startswith("mleray-agent-mine:") and tag == image_tag(
        agent, base_tag="mleray-base:aaa"
    )
    assert image_tag(agent, base_tag="mleray-base:bbb") != tag
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "run.cpython-311.pyc").write_bytes(b"cache")
    assert image_tag(agent, base_tag="mleray-base:aaa") == tag  # caches do not count
    (folder / "run.py").write_text("print('changed')\n")
    assert image_tag(agent, base_tag="mleray-base:aaa") != tag
    prebuilt = load_agent(
        _agent_dir(tmp_path, "name: pre\nimage: python:3.11\ncommand: [python3]\n", "pre")
    )
    assert image_tag(prebuilt) == "python:3.11"


def test_cli_agents_list_json():
    from mleray.cli import _register_commands, app

    _register_commands()
    result = CliRunner().invoke(app, ["agents", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["aideml"]["secrets"] == [] and rows["noop"]["image"].startswith(
        "mleray-agent-noop:"
    )
    table = CliRunner().invoke(app, ["agents", "list"])
    assert table.exit_code == 0 and "baseline" in table.output


def test_cli_build_unknown_agent_is_one_line():
    from mleray.cli import _register_commands, app

    _register_commands()
    result = CliRunner().invoke(app, ["agents", "build", "no-such-agent"])
    assert isinstance(result.exception, NotFoundError) and "unknown agent 'no-such-agent'" in str(
        result.exception
    )


def test_run_variables_win_over_extra_env(tmp_path):
    """GPU packing holds whatever extra env a run carries: mleray's variables come last."""
    from mleray.sandbox.base import RunRequest
    from mleray.sandbox.contract import CONTAINER_PATHS, agent_environment

    agent = load_agent(_agent_dir(tmp_path, GOOD + "env:\n  HOME: /work\n"))
    request = RunRequest(
        trial_id="t",
        results_key="s",
        competition_id="c",
        public_dir=tmp_path,
        agent=agent,
        workdir=tmp_path,
        gpu_ids=("2",),
        seed=7,
        env={
            "CUDA_VISIBLE_DEVICES": "0,1,2,3",
            "NVIDIA_VISIBLE_DEVICES": "all",
            "MLERAY_SEED": "0",
        },
    )
    env = agent_environment(request, CONTAINER_PATHS)
    assert (env["CUDA_VISIBLE_DEVICES"], env["NVIDIA_VISIBLE_DEVICES"], env["MLERAY_SEED"]) == (
        "2",
        "2",
        "7",
    )
    assert env["HOME"] == "/work"  # not one of mleray's: the agent may move its home
