#!/usr/bin/env bash
# RQ (Debian's python3-rq, PyNaCl for argon2id). An RQ worker runs one job
# at a time; SimpleWorker runs it in-process (the default Worker forks per
# job, several times slower). One process per core.
. "$(dirname "$0")/../common.sh"
export PYTHONPATH=$here
case $cmd in
setup)
    /usr/bin/python3 -c "import rq, nacl" 2>/dev/null ||
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-rq python3-nacl >&2
    echo "rq $(/usr/bin/python3 -c 'import rq; print(rq.__version__)')" ;;
fill) exec /usr/bin/python3 "$here/fill.py" "$1" "$2" "$3" ;;
worker) exec /usr/bin/python3 -m rq.cli worker --worker-class rq.worker.SimpleWorker \
        --url "redis://127.0.0.1:$1" "${QUEUE:-bench}" ;;
# Finished jobs stay in the finished registry for result_ttl (500 s).
queued) echo "return redis.call('llen', 'rq:queue:bench')" ;;
left) echo "return tonumber(ARGV[1]) - redis.call('zcard', 'rq:finished:bench')" ;;
latency)
    QUEUE=lat "$0" worker "$1" 1 >/dev/null 2>&1 & wpid=$!
    while [ "$(redis-cli -p "$1" scard rq:workers)" = 0 ]; do sleep 0.05; done
    /usr/bin/python3 "$here/latency.py" "$1" "$2"
    kill -TERM $wpid; wait $wpid 2>/dev/null || true ;;
*) echo "rq: no $cmd" >&2; exit 2 ;;
esac
