#!/usr/bin/env bash
# RQ (Debian's python3-rq): two SimpleWorker processes (one per core; the
# default Worker forks per job, which is several times slower), burst mode.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); . "$here/../common.sh"
port=$1 n=$2
/usr/bin/python3 -c "import rq" 2>/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-rq >&2
export PYTHONPATH=$here
if [ "${3:-drain}" = latency ]; then
    /usr/bin/python3 -m rq.cli worker --worker-class rq.worker.SimpleWorker \
        --url "redis://127.0.0.1:$port" lat >/dev/null 2>&1 & wpid=$!
    sleep 1
    /usr/bin/python3 "$here/latency.py" "$port" "$n"
    kill -TERM $wpid; wait $wpid 2>/dev/null || true
    exit 0
fi
/usr/bin/python3 "$here/fill.py" "$port" "$n"
pids=()
for i in 1 2; do
    /usr/bin/python3 -m rq.cli worker --burst --worker-class rq.worker.SimpleWorker \
        --url "redis://127.0.0.1:$port" bench >/dev/null 2>&1 &
    pids+=($!)
done
# Timed from the first take, so start-up is not counted (as for jobq).
wait_below "$port" "$n" llen rq:queue:bench
start=$(now)
wait "${pids[@]}"
end=$(now)
result "$n" "$start" "$end" "2 SimpleWorker processes, burst (rq $(/usr/bin/python3 -c 'import rq; print(rq.__version__)'))"
