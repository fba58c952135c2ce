#!/usr/bin/env bash
# Checks real GPU passthrough of the Docker sandbox, end to end through Ray, on a node with
# NVIDIA GPUs and the NVIDIA container runtime (not needed by the tests; run it by hand on a
# GPU node). It sweeps the gpu-probe agent with `gpus: 0.5` over 2×(GPU count) seeds and
# checks, from the artifacts, that every container saw exactly the one physical GPU Ray
# granted it (by UUID), with CUDA_VISIBLE_DEVICES renumbered to 0, and that no GPU was
# granted to more than two trials at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nvidia-smi >/dev/null || { echo "gpu-check: no nvidia-smi on this node" >&2; exit 2; }
docker info --format '{{json .Runtimes}}' | grep -q nvidia \
    || { echo "gpu-check: the Docker engine has no nvidia runtime (install nvidia-container-toolkit)" >&2; exit 2; }
gpus=$(nvidia-smi -L | wc -l)
out=${1:-$(mktemp -d)}
mleray prepare breast-cancer-auc
mleray agents build scripts/gpu-probe
cat > "$out/gpu-check.yaml" <<SPEC
name: gpu-check
competitions: [breast-cancer-auc]
agents: [{name: $(pwd)/scripts/gpu-probe}]
seeds: $((gpus * 2))
resources: {gpus: 0.5, cpus: 1, memory: 1g}
time_limit: 120
sandbox: docker
results: $out/results
SPEC
mleray sweep "$out/gpu-check.yaml" --json > "$out/sweep.json"
nvidia-smi --query-gpu=index,uuid --format=csv,noheader > "$out/host-gpus.csv"
python3 scripts/gpu_check_verify.py "$out/results" "$out/host-gpus.csv"
