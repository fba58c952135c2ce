#!/bin/sh
# Run AIDE on the competition: data from $MLERAY_DATA, the model from $MLERAY_MODEL,
# steps from the agent kwargs; copy its best solution to the submission folder.
set -eu
steps=$(python3 -c 'import json,os; print(json.loads(os.environ["MLERAY_AGENT_KWARGS"]).get("steps", 20))')
model=${MLERAY_MODEL:-gpt-4o-mini}
# one step's code may use at most a quarter of the time budget
exec_timeout=$(python3 -c 'import os; print(max(60, min(3600, int(float(os.environ["TIME_LIMIT_SECS"]) / 4))))')
workspace="$HOME/aide"
mkdir -p "$workspace"
cd "$workspace"
/opt/aide/bin/aide data_dir="$MLERAY_DATA" desc_file="$MLERAY_DATA/description.md" \
    agent.code.model="$model" agent.feedback.model="$model" report.model="$model" \
    agent.steps="$steps" exec.timeout="$exec_timeout" generate_report=False \
    log_dir="$MLERAY_LOGS_DIR/aide" workspace_dir="$workspace/ws" exp_name=mleray \
    > "$MLERAY_LOGS_DIR/aide.out" 2>&1 || echo "aide exited with $?" >&2
best=$(ls -t "$workspace"/ws/*/working/submission.csv 2>/dev/null | head -n 1 || true)
if [ -n "$best" ]; then cp "$best" "$MLERAY_SUBMISSION_DIR/submission.csv"; fi
cp -r "$MLERAY_LOGS_DIR/aide/"*/best_solution.py "$MLERAY_CODE_DIR/" 2>/dev/null || true
validate-submission || true
