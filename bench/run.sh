#!/usr/bin/env bash
# The benchmark suite: builds jobq for speed, starts its own redis-server on
# a free loopback port (stopped at the end), measures jobq and the peers
# (bench/peers/*/run.sh install what they need) and writes bench/results.md
# and bench/results.svg. Bounded: about 10 minutes with peers.
# Usage: bench/run.sh [--quick] [--peers sidekiq,bullmq,rq]
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/install-deps.sh
jobq_install_deps
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DJOBQ_BENCH=ON >/dev/null
cmake --build build-bench -j"$(nproc)" >/dev/null
exec /usr/bin/python3 bench/bench.py "$@"
