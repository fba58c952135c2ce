"""The sandbox's pids, shm and disk bounds: settable in a sweep's `resources` and in an
agent's config.yaml `resources` (the sweep's win), defaults a PyTorch GPU agent runs with
(pids 4096, shm half the memory, disk 32 GiB), enforced in the container."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from mleray.agents import load_agent
from mleray.errors import FailureKind, SpecError
from mleray.plan import plan_trials
from mleray.sandbox.base import DEFAULT_DISK_BYTES, DEFAULT_PIDS_LIMIT
from mleray.spec import spec_from_dict
from tests.helpers.hardening import HARDENING_DIR, build_hardening_image, hardening_request

GIB, MIB = 1024**3, 1024**2


def _spec(resources: dict):
    raw = {"name": "lim", "competitions": ["breast-cancer-auc"], "agents": [{"name": "noop"}]}
    return spec_from_dict({**raw, "resources": resources}, source="s.yaml", check=False)


def test_sweep_resources_take_pids_shm_and_disk():
    spec = _spec({"memory": "8g", "pids": 8192, "shm": "3g", "disk": "100g"})
    res = spec.resources
    assert (res.pids, res.shm_bytes, res.disk_bytes) == (8192, 3 * GIB, 100 * GIB)
    again = spec_from_dict(spec.to_dict(), source="sweep.yaml", check=False)
    assert again.resources == res  # sweep.yaml keeps them
    [trial] = plan_trials(spec)
    assert (trial.pids, trial.shm_bytes, trial.disk_bytes) == (8192, 3 * GIB, 100 * GIB)
    # bounds are no part of a trial's identity: setting them reruns nothing
    assert trial.trial_id == plan_trials(_spec({"memory": "8g"}))[0].trial_id


@pytest.mark.parametrize(
    "resources, needle",
    [
        ({"pids": 8}, "s.yaml: field `resources.pids` must be at least 16"),
        ({"pids": "many"}, "s.yaml: field `resources.pids` must be an integer"),
        ({"shm": "10k"}, "s.yaml: field `resources.shm`: 10240 bytes is below the minimum"),
        ({"disk": "-1g"}, "s.yaml: field `resources.disk`: expected a positive size"),
        ({"disk": "1000t"}, "s.yaml: field `resources.disk`: '1000t' is over the limit"),
    ],
)
def test_bad_bounds_are_one_line_naming_the_field(resources, needle):
    with pytest.raises(SpecError) as info:
        _spec(resources)
    assert str(info.value).startswith(needle) and "\n" not in str(info.value)


def _agent_with(tmp_path, resources: str):
    folder = tmp_path / "agent"
    shutil.copytree(HARDENING_DIR, folder)
    with open(folder / "config.yaml", "a") as handle:
        handle.write(resources)
    return load_agent(folder)


def test_agent_config_resources_and_precedence(tmp_path):
    agent = _agent_with(tmp_path, "resources: {pids: 2048, shm: 1g, disk: 8g}\n")
    assert (agent.pids_limit, agent.shm_bytes, agent.disk_bytes) == (2048, GIB, 8 * GIB)
    request = hardening_request(tmp_path, "limits", agent=agent, memory_bytes=4 * GIB)
    assert request.limits() == type(request.limits())(2048, GIB, 8 * GIB)
    swept = dataclasses.replace(request, pids_limit=9000, disk_bytes=GIB)  # the sweep wins
    assert (swept.limits().pids, swept.limits().shm_bytes, swept.limits().disk_bytes) == (
        9000,
        GIB,
        GIB,
    )
    plain = dataclasses.replace(request, agent=load_agent(HARDENING_DIR))
    assert plain.limits() == type(plain.limits())(DEFAULT_PIDS_LIMIT, 2 * GIB, DEFAULT_DISK_BYTES)


@pytest.mark.parametrize(
    "text, needle",
    [
        ("resources: {cpus: 2}\n", "field 'resources' must be a mapping of pids, shm and disk"),
        ("resources: {pids: 1}\n", "field `resources.pids` must be at least 16"),
    ],
)
def test_bad_agent_resources_name_the_file(tmp_path, text, needle):
    with pytest.raises(SpecError, match="config.yaml: ") as info:
        _agent_with(tmp_path, text)
    assert needle in str(info.value)


@pytest.mark.docker
def test_the_container_gets_the_bounds(tmp_path, probe_image):
    from mleray.sandbox.docker import DockerSandbox

    build_hardening_image()
    roomy = hardening_request(tmp_path / "a", "limits", kwargs={"threads": 600})
    result = DockerSandbox().run(roomy)  # defaults: pids 4096, shm half of 512 MiB
    assert result.status == FailureKind.COMPLETED, result.error
    seen = _read(result)
    assert seen == {"shm_bytes": 256 * MIB, "threads": 600}, seen
    agent = _agent_with(tmp_path, "resources: {pids: 64, shm: 32m}\n")
    tight = hardening_request(tmp_path / "b", "limits", agent=agent, kwargs={"threads": 600})
    seen = _read(DockerSandbox().run(tight))
    assert seen["shm_bytes"] == 32 * MIB and seen["threads"] < 64, seen


def _read(result) -> dict:
    import json

    return json.loads((result.logs_dir / "limits.json").read_text())
