#!/bin/bash
# As MLE-bench's agents do: the benchmark instructions and the competition's description
# make the task; the kwargs arrive as key=value arguments.
cd ${AGENT_DIR}
cp /home/instructions.txt ${AGENT_DIR}/full_instructions.txt
cat /home/data/description.md >> ${AGENT_DIR}/full_instructions.txt
python3 ${AGENT_DIR}/loop.py "$@" 2>&1 | tee ${LOGS_DIR}/llmtoy.log
