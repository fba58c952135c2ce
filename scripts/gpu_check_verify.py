"""Verify a gpu-check sweep (see gpu-check.sh): each container saw exactly the GPU Ray
granted it, and no GPU was over-booked. Exit 0 when all holds, 1 otherwise."""

import json
import sys
import tarfile
from pathlib import Path

import mleray.results

results, host_csv = Path(sys.argv[1]), Path(sys.argv[2])
uuid_of = dict(line.split(", ") for line in host_csv.read_text().splitlines() if line.strip())
df = mleray.results.load(results)
failures = []
for row in df.itertuples():
    if row.status != "completed":
        failures.append(f"{row.trial_id}: status {row.status} ({row.error})")
        continue
    archive = results / "artifacts" / f"{row.trial_id}-{row.attempt}.tar.gz"
    with tarfile.open(archive) as tar:
        seen = json.load(tar.extractfile("logs/gpus.json"))
    granted = [g for g in row.gpu_ids.split(",") if g]
    want = [uuid_of[g] for g in granted]
    got = [line.split(", ")[1] for line in seen["visible"] if ", " in line]
    if got != want or seen["CUDA_VISIBLE_DEVICES"] != "0":
        failures.append(f"{row.trial_id}: granted {granted} ({want}) but saw {seen}")
# over-booking: at any start instant, trials holding each GPU must be at most 2 (0.5 each)
for start in df.started_at:
    live = df[(df.started_at <= start) & (df.finished_at > start)]
    for gpu, count in live.gpu_ids.value_counts().items():
        if count > 2:
            failures.append(f"GPU {gpu} held by {count} trials at {start}")
print(f"{len(df)} trials checked on {len(uuid_of)} GPUs: {len(failures)} problems")
for line in failures:
    print("  " + line)
sys.exit(1 if failures or df.empty else 0)
