#!/usr/bin/env bash
# RQ (Debian's python3-rq): two SimpleWorker processes (one per core; the
# default Worker forks per job, which is several times slower), burst mode.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); . "$here/../common.sh"
port=$1 n=$2
/usr/bin/python3 -c "import rq" 2>/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-rq >&2
export PYTHONPATH=$here
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
