"""The cluster template passes Ray's own config validation; on a local multi-node cluster
with fake GPUs, trials land only on workers and a lost node's trials are retried."""

from __future__ import annotations

import copy
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers.hardening import wait_for
from tests.helpers.timeline import max_overlap

REPO = Path(__file__).resolve().parent.parent
COMPETITION = "breast-cancer-auc"


def test_cluster_config_passes_ray_validation():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((REPO / "cluster" / "config.yaml").read_text())
    validate_config(config)
    validate_config(prepare_config(copy.deepcopy(config)))  # with the provider's defaults filled in
    head = config["available_node_types"][config["head_node_type"]]
    assert head["resources"]["mleray_answers"] == 1
    assert (
        head["resources"]["CPU"] == 0 and head["resources"]["GPU"] == 0
    )  # no agent near the answers
    assert any("private" in pattern for pattern in config["rsync_exclude"])


def test_cluster_config_validation_can_fail():
    from ray.autoscaler._private.util import validate_config

    config = yaml.safe_load((REPO / "cluster" / "config.yaml").read_text())
    config["available_node_types"]["head"]["no_such_field"] = 1
    with pytest.raises(Exception, match="no_such_field"):
        validate_config(config)


@pytest.fixture(scope="module")
def cluster(builtin_data):
    """Head (answers) + 2 workers × 2 fake GPUs; the nodes inherit MLERAY_DATA_DIR."""
    sys.path.insert(0, str(REPO))
    from cluster.local import start_local_cluster

    running = start_local_cluster(workers=2, gpus=2, cpus=2, memory_bytes=2 * 1024**3)
    yield running
    running.shutdown()
    sys.path.remove(str(REPO))


@pytest.mark.ray
@pytest.mark.cluster
@pytest.mark.slow
def test_a_node_joining_mid_sweep_gets_trials(cluster, tmp_path):
    """An autoscaled or late-booting node must be used: the admission limit follows it
    (before, it stayed at the capacity seen at start, 4 GPUs + 2 queued)."""
    import ray

    from mleray.driver import run_sweep
    from mleray.results import load
    from mleray.spec import spec_from_dict

    spec = spec_from_dict(
        {
            "name": "grow",
            "competitions": [COMPETITION],
            "agents": [{"name": "sleep", "kwargs": {"seconds": 25}}],
            "seeds": 8,
            "sandbox": "local",
            "time_limit": 120,
            "results": str(tmp_path / "r"),
            "resources": {"gpus": 1, "cpus": 0.5, "memory": "256m"},
        },
        source="test",
    )
    summary = {}
    runner = threading.Thread(
        target=lambda: summary.update(s=run_sweep(spec, address=cluster.address, progress=False))
    )
    runner.start()
    time.sleep(4)
    joined = cluster.add_node(num_cpus=4, num_gpus=4, memory=2 * 1024**3)
    cluster.wait_for_nodes()
    runner.join(timeout=240)
    try:
        assert not runner.is_alive() and "s" in summary
        df = load(tmp_path / "r")
    finally:
        ray.shutdown()
        cluster.remove_node(joined)  # the next test expects the two original workers
        cluster.wait_for_nodes()
    assert len(df) == 8 and set(df["status"]) == {"completed"}, df[["status", "error"]]
    assert (
        max_overlap(list(zip(df["started_at"], df["finished_at"]))) == 8
    )  # all 8 GPUs busy at once


@pytest.mark.ray
@pytest.mark.cluster
@pytest.mark.slow
def test_lost_node_trials_are_retried_on_another_node(cluster, tmp_path):
    import ray

    from mleray.driver import run_sweep
    from mleray.results import load, load_attempts
    from mleray.spec import spec_from_dict

    spec = spec_from_dict(
        {
            "name": "cluster",
            "competitions": [COMPETITION],
            "agents": [{"name": "sleep", "kwargs": {"seconds": 20}}],
            "seeds": 4,
            "sandbox": "local",
            "time_limit": 120,
            "max_attempts": 2,
            "results": str(tmp_path / "r"),
            "resources": {"gpus": 1, "cpus": 0.5, "memory": "256m"},
        },
        source="test",
    )
    head_id = cluster.head_node.node_id
    doomed = list(cluster.worker_nodes)[-1]
    summary = {}
    runner = threading.Thread(
        target=lambda: summary.update(s=run_sweep(spec, address=cluster.address, progress=False))
    )
    runner.start()
    # all four trials placed, two on each worker (by the GPUs Ray has handed out): a fixed
    # sleep raced the workers' start on a loaded machine, and nothing was lost
    placed = wait_for(lambda: _gpus_in_use(cluster.worker_nodes) == [2.0, 2.0], 120)
    assert placed, f"trials not placed on both workers: {_gpus_in_use(cluster.worker_nodes)}"
    cluster.remove_node(doomed)
    runner.join(timeout=240)
    assert not runner.is_alive() and "s" in summary
    try:
        df = load(tmp_path / "r")
        attempts = load_attempts(tmp_path / "r")
    finally:
        ray.shutdown()
    assert len(df) == 4 and set(df["status"]) == {"completed"}, df[["status", "error"]]
    assert head_id not in set(attempts["node_id"])  # nothing ran on the answers node
    lost = attempts[~attempts["final"]]
    assert len(lost) == 2 and set(lost["status"]) == {"infra_error"}
    assert lost["error"].str.contains("lost").all()
    assert set(df.loc[df["attempt"] == 2, "node_id"]) == {cluster.list_all_nodes()[1].node_id}
    assert summary["s"].retries == 2
    assert all(gpu in {"0", "1"} for gpu in df["gpu_ids"])


def _gpus_in_use(nodes) -> list[float] | None:
    """GPUs held on each node, as Ray accounts them (None before the sweep joins Ray)."""
    import ray
    from ray._private.state import available_resources_per_node

    if not ray.is_initialized():
        return None
    free = available_resources_per_node()
    return [2.0 - free.get(node.node_id, {}).get("GPU", 0.0) for node in nodes]
