#!/usr/bin/env bash
# jobq in one command on a fresh Debian 12 machine: installs what is
# missing, builds, starts a private redis-server (unix socket in a temporary
# directory, so nothing else is touched), runs a worker, sends a few demo
# jobs with the jobq tool and prints their results. Everything it started
# is stopped when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/install-deps.sh
jobq_install_deps

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
echo "built: build/jobq-worker build/jobq"

run=$(mktemp -d /tmp/jobq-quickstart.XXXXXX)
redis-server --port 0 --unixsocket "$run/redis.sock" --unixsocketperm 700 \
    --dir "$run" --save '' --daemonize yes --pidfile "$run/redis.pid" \
    --logfile "$run/redis.log"
url="unix://$run/redis.sock"
cleanup() {
    [ -n "${worker:-}" ] && kill -TERM "$worker" 2>/dev/null && wait "$worker" 2>/dev/null
    [ -f "$run/redis.pid" ] && kill "$(cat "$run/redis.pid")" 2>/dev/null
    sleep 0.2
    rm -rf "$run"
}
trap cleanup EXIT
for _ in $(seq 50); do [ -S "$run/redis.sock" ] && break; sleep 0.05; done

build/jobq-worker --redis "$url" --http 127.0.0.1:0 --log-file "$run/worker.log" &
worker=$!
for _ in $(seq 50); do grep -q "HTTP surface" "$run/worker.log" 2>/dev/null && break; sleep 0.05; done
http=$(grep -o "http://[^ ]*" "$run/worker.log" | head -1)
echo "worker $worker serving queue 'default' on $url (log: $run/worker.log)"
echo "HTTP surface: ${http}healthz ${http}readyz ${http}metrics"

demo() { # type args
    echo
    echo "\$ jobq enqueue default $1 '$2' --wait"
    build/jobq --redis "$url" enqueue default "$1" "$2" --wait 10 || true
}
demo user.validate '{"username":"Alice_1","email":"alice@example.com","password":"Secret123"}'
demo user.validate '{"username":"al","email":"alice@example.com","password":"Secret123"}'
demo password.hash '{"password":"Secret123"}'
demo data.transform '{"id":1,"username":"BOB","email":"Bob@Example.COM","full_name":"Bob B"}'
demo math.sum_squares '{"n":1000000}'
demo sleep '{"ms":250}'
echo
echo "\$ jobq stats default"
build/jobq --redis "$url" stats default
if [ -n "$http" ] && command -v curl >/dev/null; then
    echo
    echo "\$ curl ${http}metrics"
    curl -s "${http}metrics" | grep -v '^#'
fi
echo
echo "Run your own: redis-server, then build/jobq-worker --redis redis://127.0.0.1:6379"
echo "and build/jobq enqueue default data.digest '{\"a\":1}' --wait"
