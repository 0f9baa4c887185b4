#!/usr/bin/env bash
# Throughput of the handlers the operator adds (bench/user_handlers.py):
# builds jobq for speed as bench/run.sh does, then measures.
# Usage: bench/user_handlers.sh [--n N] [--exec-n N] [--no-rq]
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/install-deps.sh
jobq_install_deps
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DJOBQ_BENCH=ON >/dev/null
cmake --build build-bench -j"$(nproc)" >/dev/null
exec /usr/bin/python3 bench/user_handlers.py "$@"
