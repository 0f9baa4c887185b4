#!/usr/bin/env bash
# BullMQ (npm): two Node processes (one per core) with concurrency 100 each;
# completed jobs keep their return values, as jobq keeps results.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); . "$here/../common.sh"
port=$1 n=$2
work=${BULLMQ_DIR:-/tmp/jobq-bench-bullmq}
mkdir -p "$work"
cp "$here"/*.mjs "$work"/
[ -d "$work/node_modules/bullmq" ] || (cd "$work" && npm install --silent --no-audit --no-fund bullmq@5 >&2)
export PORT=$port
if [ "${3:-drain}" = latency ]; then
    QUEUE=lat node "$work/worker.mjs" >/dev/null 2>&1 & wpid=$!
    sleep 1
    node "$work/latency.mjs" "$n"
    kill -TERM $wpid; wait $wpid 2>/dev/null || true
    exit 0
fi
node "$work/fill.mjs" "$n"
pids=()
for i in 1 2; do node "$work/worker.mjs" >/dev/null 2>&1 & pids+=($!); done
# Timed from the first take, so start-up is not counted (as for jobq).
wait_below "$port" "$n" llen bull:bench:wait
start=$(now)
# Drained when wait and active are both empty.
while [ "$(redis-cli -p "$port" eval "return redis.call('llen','bull:bench:wait')+redis.call('llen','bull:bench:active')" 0)" != "0" ]; do sleep 0.01; done
end=$(now)
kill -TERM "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
result "$n" "$start" "$end" "2 processes x concurrency 100 (bullmq $(cd "$work" && node -p 'require("bullmq/package.json").version'))"
