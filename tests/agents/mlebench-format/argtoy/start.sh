#!/bin/bash
# argparse-style arguments, as MLE-bench passes them: --key value ...
python3 - "$@" <<'PYTHON'
import argparse, glob, json, os, shutil
parser = argparse.ArgumentParser()
parser.add_argument("--llm-name")
parser.add_argument("--max-steps", type=int)
parser.add_argument("--fast")
args = parser.parse_args()
with open(os.path.join(os.environ["LOGS_DIR"], "argtoy-args.json"), "w") as handle:
    json.dump(vars(args), handle)
sample = sorted(glob.glob("/home/data/sample_submission*.csv"))[0]
shutil.copyfile(sample, os.path.join(os.environ["SUBMISSION_DIR"], "submission.csv"))
PYTHON
