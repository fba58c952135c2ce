#!/usr/bin/env bash
# issue 10's Done-when, from a fresh clone (`make llm-demo` builds the images and prepares the
# data first): llm-loop × 2 built-in competitions × 2 stub models × 2 seeds in Docker at
# network none, every model call through the node's gateway; then `mleray status` and
# `mleray report` (tokens and dollars per medal per model), and a check that no file, log,
# row or container environment of the sweep held the provider key.
#   bash scripts/llm-demo.sh [RESULTS]      (default results/llm-sweep; it is replaced)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
results=${1:-results/llm-sweep}
port=8765  # examples/llm-sweep.yaml's base_url
# the stub's key: a fixed fake value, held by the gateway (read from this environment)
export STUB_PROVIDER_KEY="sk-mleray-demo-fake-provider-key-0123456789"
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled}
work=$(mktemp -d /tmp/mleray-llm-demo.XXXXXX)
export RAY_TMPDIR="$work"  # Ray's session logs of this sweep, searched for the key below
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

"$PYTHON" -m mleray.gateway.stub --port "$port" --require-key-env STUB_PROVIDER_KEY \
    > "$work/stub.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$port/v1/models" > /dev/null && break
    sleep 0.2
done
rm -rf "$results"
key=$("$PYTHON" -c "from mleray.plan import results_key; print(results_key('llm-sweep', '$results'))")
"$PYTHON" scripts/watch-container-env.py --results-key "$key" --secret-env STUB_PROVIDER_KEY \
    --out "$work/containers.json" > /dev/null &
watcher=$!
pids+=($watcher)

"$PYTHON" -m mleray sweep examples/llm-sweep.yaml --results "$results" 2>&1 | tee "$work/sweep.log"
kill -TERM "$watcher"; wait "$watcher" || true
export COLUMNS=${COLUMNS:-150}  # rich tables wrap at 80 columns in a pipe
"$PYTHON" -m mleray status "$results" | tee "$work/status.log"
"$PYTHON" -m mleray report "$results" --out "$results/report" | tee "$work/report.log"
echo  # report.md's cost table: tokens and dollars per medal per agent × model
sed -n '/^## GPU and model cost/,/^## By/p' "$results/report/report.md" | grep '^|'
stats=$(curl -s "http://127.0.0.1:$port/stub/stats")  # kept in memory: it quotes the key

echo
STUB_STATS="$stats" "$PYTHON" - <<'PY'
import json, os
stats = json.loads(os.environ["STUB_STATS"])
key = os.environ["STUB_PROVIDER_KEY"]
assert stats["keys_seen"] == [key], "the stub was called without the provider key"
print(f"the stub provider served {stats['requests']} requests, "
      f"{stats['prompt_tokens']}+{stats['completion_tokens']} tokens, "
      f"every one with the provider key (from the gateway)")
PY
echo "containers inspected while they ran: $(cat "$work/containers.json")"
grep -q '"holding_the_secret": \[\]' "$work/containers.json"
# the results folder (rows, logs and code archives, submissions, sweep.yaml, the report),
# the driver's output, and Ray's session logs
"$PYTHON" -m mleray.gateway.audit "$results" "$work" --secret-env STUB_PROVIDER_KEY
echo "OK: the provider key is in no file, log, row or container environment of the sweep"
rm -rf "$work"
