"""gpu-probe: write what GPUs this container sees, then submit the sample submission."""

import glob
import json
import os
import shutil
import subprocess
import time

logs = os.environ["MLERAY_LOGS_DIR"]
try:  # the NVIDIA runtime mounts nvidia-smi into the container when a GPU is attached
    seen = subprocess.run(
        ["nvidia-smi", "--query-gpu=index,uuid", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split("\n")
    seen = [line.strip() for line in seen if line.strip()]
except (OSError, subprocess.SubprocessError) as exc:
    seen = [f"error: {exc}"]
record = {
    "visible": seen,
    "MLERAY_GPU_IDS": os.environ.get("MLERAY_GPU_IDS"),
    "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
    "NVIDIA_VISIBLE_DEVICES": os.environ.get("NVIDIA_VISIBLE_DEVICES"),
}
with open(os.path.join(logs, "gpus.json"), "w") as f:
    json.dump(record, f)
time.sleep(float(json.loads(os.environ.get("MLERAY_AGENT_KWARGS", "{}")).get("seconds", 5)))
sample = sorted(glob.glob(os.path.join(os.environ["MLERAY_DATA"], "sample_submission*.csv")))[0]
shutil.copyfile(sample, os.path.join(os.environ["MLERAY_SUBMISSION_DIR"], "submission.csv"))
