"""MLE-bench agent folders, read as they are: ids with anchors and merge keys, `start`,
`dockerfile`, `kwargs` with `kwargs_type`, `env_vars` with `${{ secrets.NAME }}`; found by
`FOLDER:ID`, by a single agent's folder, or by id on MLERAY_AGENTS_PATH.

The folders are mleray's own, in tests/agents/mlebench-format (never MLE-bench's files)."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from mleray.agent_config import MlebenchStart
from mleray.agents import (
    absolute_reference,
    get_agent,
    list_agents,
    load_agent,
    resolve_secrets,
    split_reference,
)
from mleray.errors import NotFoundError, SpecError

FORMAT_DIR = Path(__file__).resolve().parent / "agents" / "mlebench-format"


@pytest.fixture
def on_path(monkeypatch):
    monkeypatch.setenv("MLERAY_AGENTS_PATH", str(FORMAT_DIR))


def test_ids_are_agents_and_templates_are_not_listed(on_path):
    names = [a.name for a in list_agents()]
    assert {"toy", "toy/dev", "toy/secret", "argtoy"} <= set(names)
    assert not {"defaults", "vars", "kwargs_common"} & set(names)
    assert "noop" in names  # mleray's own agents are still there


def test_merge_keys_and_anchors_give_each_id_its_settings(on_path):
    dev = get_agent("toy/dev")
    assert dev.dir == FORMAT_DIR / "toy" and dev.dockerfile == "Dockerfile"
    assert dev.command == ("bash", "{agent_dir}/start.sh")
    assert dict(dev.kwargs) == {
        "agent.search.debug_prob": 1,
        "copy_data": False,
        "agent.steps": 1,
        "agent.code.model": "toy-model",
    }
    assert dev.mlebench == MlebenchStart(
        agent_id="toy/dev", start="start.sh", kwargs_type="omegaconf", config=dev.mlebench.config
    )
    # TIME_LIMIT_SECS is mleray's (the sweep's time limit); the rest passes as written
    assert dict(dev.env) == {"STEP_LIMIT": "3"} and dev.secrets == ()
    assert dev.network == "none" and dev.gateway  # models reach it through the gateway
    assert get_agent("toy").kwargs["agent.steps"] == 3
    assert get_agent("defaults").mlebench.agent_id == "defaults"  # asked for: as in MLE-bench


def test_a_secret_becomes_an_mleray_secret(on_path):
    agent = get_agent("toy/secret")
    assert dict(agent.secret_env) == {"TOY_TOKEN": "MLERAY_TEST_TOY_TOKEN"}
    assert "TOY_TOKEN" not in agent.env and agent.env["STEP_LIMIT"] == "3"
    assert resolve_secrets(agent, {"MLERAY_TEST_TOY_TOKEN": "tok-123"}) == {"TOY_TOKEN": "tok-123"}
    with pytest.raises(SpecError, match="secret MLERAY_TEST_TOY_TOKEN .* is not set") as caught:
        resolve_secrets(agent, {})
    assert "\n" not in str(caught.value)


def test_a_provider_key_secret_is_left_to_the_gateway(on_path):
    """llmtoy says OPENAI_API_KEY: ${{ secrets.OPENAI_API_KEY }}, as AIDE does: at network
    none such a key would reach no provider; the gateway puts the trial's token there."""
    agent = get_agent("llmtoy")
    assert agent.secrets == () and "OPENAI_API_KEY" not in agent.env and agent.gateway
    assert resolve_secrets(agent, {}) == {}


def test_kwargs_are_passed_as_mlebench_passes_them(on_path):
    dev = get_agent("toy/dev")
    assert dev.mlebench.kwargs_args({**dev.kwargs, "agent.steps": 5}) == [
        "agent.search.debug_prob=1",
        "copy_data=False",
        "agent.steps=5",
        "agent.code.model=toy-model",
    ]
    argtoy = get_agent("argtoy")
    assert argtoy.mlebench.kwargs_type == "argparse"
    assert argtoy.mlebench.kwargs_args(argtoy.kwargs) == [
        "--llm-name",
        "toy-model",
        "--max-steps",
        "7",
        "--fast",
        "True",
    ]


def test_references_folder_colon_id_and_single_agent_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(FORMAT_DIR.parent)
    assert get_agent("mlebench-format:toy/dev").name == "toy/dev"
    assert get_agent(f"{FORMAT_DIR}/toy:toy/secret").name == "toy/secret"  # the agent's folder
    assert get_agent(FORMAT_DIR / "argtoy").name == "argtoy"  # one id: the folder is enough
    with pytest.raises(SpecError, match="agent ids toy, toy/dev, toy/secret: name one as"):
        load_agent(FORMAT_DIR / "toy")
    with pytest.raises(NotFoundError, match="no MLE-bench agent 'aide' in .*ids there: argtoy"):
        get_agent("mlebench-format:aide")
    assert split_reference("mlebench-format:toy/dev") == (Path("mlebench-format"), "toy/dev")
    assert split_reference("noop") is None and split_reference("nowhere:toy") is None
    assert absolute_reference("mlebench-format:toy/dev") == f"{FORMAT_DIR}:toy/dev"
    assert absolute_reference("noop") is None
    monkeypatch.delenv("MLERAY_AGENTS_PATH", raising=False)
    with pytest.raises(NotFoundError, match="unknown agent 'toy/dev'"):
        get_agent("toy/dev")


def _folder(tmp_path: Path, entry: str, files=("start.sh", "Dockerfile")) -> Path:
    folder = tmp_path / "agents" / "mine"
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_text("#\n")
    (folder / "config.yaml").write_text(
        "mine:\n  start: mine/start.sh\n  dockerfile: mine/Dockerfile\n"
        + textwrap.indent(entry, "  ")
    )
    return folder


@pytest.mark.parametrize(
    "entry, message",
    [
        ("kwargs: {steps: 3}\n", "has 'kwargs' but no 'kwargs_type'"),
        ("kwargs_type: hydra\n", "field 'kwargs_type' must be one of omegaconf, argparse"),
        ("kwargs_type: argparse\nkwargs: {key: '${{ secrets.KEY }}'}\n", "'kwargs.key' uses a"),
        ("env_vars: {KEY: 'x ${{ secrets.KEY }}'}\n", "must be exactly '${{ secrets.NAME }}'"),
        ("env_vars: {KEY: [1, 2]}\n", "'env_vars.KEY' must be a string or a number"),
        ("environment: {}\n", "unknown field 'environment'"),
        ("privileged: sometimes\n", "field 'privileged' must be true or false"),
    ],
)
def test_bad_fields_name_file_id_and_field(tmp_path, entry, message):
    folder = _folder(tmp_path, entry)
    with pytest.raises(SpecError) as caught:
        get_agent(f"{folder.parent}:mine")
    text = str(caught.value)
    assert message in text and "config.yaml: agent 'mine'" in text and "\n" not in text


def test_start_and_dockerfile_must_be_files_in_the_agent_folder(tmp_path):
    folder = _folder(tmp_path, "", files=("Dockerfile",))
    with pytest.raises(SpecError, match="field 'start' names 'mine/start.sh', which is not a file"):
        get_agent(f"{folder.parent}:mine")
    (folder.parent / "outside.sh").write_text("#\n")
    config = (folder / "config.yaml").read_text().replace("mine/start.sh", "outside.sh")
    (folder / "config.yaml").write_text(config)
    with pytest.raises(SpecError, match="outside the agent's folder"):
        get_agent(f"{folder.parent}:mine")


def test_a_privileged_agent_is_listed_but_never_run(tmp_path, monkeypatch):
    folder = _folder(tmp_path, "privileged: true\n")
    monkeypatch.setenv("MLERAY_AGENTS_PATH", str(folder.parent))
    assert "mine" in [a.name for a in list_agents()]
    with pytest.raises(SpecError, match="asks for a privileged container .* mleray never runs"):
        get_agent("mine")


def test_start_named_from_the_agent_folder_itself_works_too(tmp_path):
    folder = _folder(tmp_path, "")
    config = (folder / "config.yaml").read_text().replace("mine/start.sh", "start.sh")
    (folder / "config.yaml").write_text(config)
    assert get_agent(folder).mlebench.start == "start.sh"


def test_a_copy_of_the_fixture_folder_loads_from_anywhere(tmp_path):
    shutil.copytree(FORMAT_DIR, tmp_path / "agents")
    agent = get_agent(f"{tmp_path / 'agents'}:toy")
    assert agent.dir == tmp_path / "agents" / "toy"


def test_a_sweep_names_folder_colon_id_and_its_trials_carry_the_absolute_folder(monkeypatch):
    from mleray.plan import plan_trials
    from mleray.spec import spec_from_dict

    monkeypatch.chdir(FORMAT_DIR.parent)  # Ray workers run elsewhere: the folder must be absolute
    raw = {"name": "s", "competitions": ["breast-cancer-auc"], "agents": ["mlebench-format:toy"]}
    (trial,) = plan_trials(spec_from_dict(raw, source="spec.yaml"))
    assert trial.agent == "mlebench-format:toy"
    assert trial.agent_path == f"{FORMAT_DIR}:toy"
    assert get_agent(trial.agent_path).name == "toy"
    with pytest.raises(SpecError, match="cannot be an agent folder"):
        spec_from_dict({**raw, "agents": ["/:toy"]}, source="spec.yaml")
