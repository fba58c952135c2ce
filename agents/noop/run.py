"""noop: submit the sample submission unchanged."""

import glob
import os
import shutil

data = os.environ["MLERAY_DATA"]
sample = sorted(glob.glob(os.path.join(data, "sample_submission*.csv")))[0]
shutil.copyfile(sample, os.path.join(os.environ["MLERAY_SUBMISSION_DIR"], "submission.csv"))
print(f"noop: copied {os.path.basename(sample)}")
