#!/usr/bin/env bash
# http.request beside BullMQ + fetch against a local nginx (bench/http_bench.py);
# writes bench/http_results.md. Needs nginx-light and wrk (installed here).
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/install-deps.sh
jobq_install_deps
for p in nginx-light wrk; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p"
done
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DJOBQ_BENCH=ON >/dev/null
cmake --build build-bench -j"$(nproc)" >/dev/null
exec /usr/bin/python3 bench/http_bench.py "$@"
