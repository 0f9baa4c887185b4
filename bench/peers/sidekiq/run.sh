#!/usr/bin/env bash
# Sidekiq (Debian's ruby-sidekiq): two processes (one per core, MRI has a
# GIL) with the default concurrency of 10 threads each.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); . "$here/../common.sh"
port=$1 n=$2
command -v sidekiq >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ruby-sidekiq >&2
export REDIS_URL="redis://127.0.0.1:$port/0"
ruby "$here/fill.rb" "$n"
pids=()
for i in 1 2; do sidekiq -r "$here/worker.rb" -c 10 -q default >/dev/null 2>&1 & pids+=($!); done
# Timed from the first take, so start-up is not counted (as for jobq).
wait_below "$port" "$n" llen queue:default
start=$(now)
# Drained when the queue is empty and no process reports a busy job.
wait_until_zero "$port" llen queue:default
while [ "$(redis-cli -p "$port" eval "local n=0 for _,p in ipairs(redis.call('smembers','processes')) do n=n+tonumber(redis.call('hget',p,'busy') or 0) end return n" 0)" != "0" ]; do sleep 0.01; done
end=$(now)
kill -TERM "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
result "$n" "$start" "$end" "2 processes x 10 threads (sidekiq 6.4.1)"
