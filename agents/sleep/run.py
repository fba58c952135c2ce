"""sleep: wait `seconds` (agent kwarg), then submit the sample submission unchanged."""

import glob
import json
import os
import shutil
import time

seconds = float(json.loads(os.environ.get("MLERAY_AGENT_KWARGS") or "{}").get("seconds", 10))
print(f"sleep: waiting {seconds:g}s", flush=True)
time.sleep(seconds)
data = os.environ["MLERAY_DATA"]
sample = sorted(glob.glob(os.path.join(data, "sample_submission*.csv")))[0]
shutil.copyfile(sample, os.path.join(os.environ["MLERAY_SUBMISSION_DIR"], "submission.csv"))
print(f"sleep: copied {os.path.basename(sample)}")
