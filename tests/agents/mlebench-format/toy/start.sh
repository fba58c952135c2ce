#!/bin/bash
# The toy agent: everything it checks is reported by solve.py in $LOGS_DIR/toy-report.json.
set -x
cd ${AGENT_DIR}
python3 ${AGENT_DIR}/solve.py "$@"
# MLE-bench's way of checking a submission, from the shell
bash /home/validate_submission.sh /home/submission/submission.csv > $LOGS_DIR/validate-script.out
echo "toy agent done"
