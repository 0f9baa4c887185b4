#!/usr/bin/env bash
# BullMQ (npm bullmq 5, sodium-native for argon2id), installed under
# BULLMQ_DIR. Node runs one thread of JavaScript, so BullMQ scales by
# processes: one per core, each with its own concurrency.
. "$(dirname "$0")/../common.sh"
work=${BULLMQ_DIR:-/tmp/jobq-bench-bullmq}
export PORT=${1:-0}
case $cmd in
setup)
    mkdir -p "$work"
    cp "$here"/*.mjs "$work"/
    [ -d "$work/node_modules/bullmq" ] && [ -d "$work/node_modules/sodium-native" ] ||
        (cd "$work" && npm install --silent --no-audit --no-fund bullmq@5 sodium-native@4 >&2)
    echo "bullmq $(cd "$work" && node -p 'require("bullmq/package.json").version')" ;;
fill) exec node "$work/fill.mjs" "$2" "$3" ;;
worker) CONCURRENCY=$2 exec node "$work/worker.mjs" ;;
# Completed jobs are kept (as jobq keeps results), so they can be counted.
queued) echo "return redis.call('llen', 'bull:bench:wait')" ;;
left) echo "return tonumber(ARGV[1]) - redis.call('zcard', 'bull:bench:completed')" ;;
latency)
    QUEUE=lat "$0" worker "$1" 1 >/dev/null 2>&1 & wpid=$!
    sleep 1 # the worker's start-up, not counted
    node "$work/latency.mjs" "$2"
    kill -TERM $wpid; wait $wpid 2>/dev/null || true ;;
*) echo "bullmq: no $cmd" >&2; exit 2 ;;
esac
