#!/usr/bin/env bash
# Installs what is missing, builds jobq, and runs every test: unit and
# integration tests on a -Werror build, then again under AddressSanitizer +
# UndefinedBehaviorSanitizer, and the CPU pool and handoff under
# ThreadSanitizer. Each test starts its own redis-server on a free loopback
# port. Usage: tests/run.sh [--quick]   (--quick: skip the sanitizer passes)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. deploy/install-deps.sh
jobq_install_deps

PY=/usr/bin/python3   # Debian's, which sees python3-redis and friends
JOBS=$(nproc)
failed=0
passed=0

build() { # dir, extra cmake args...
    local dir=$1; shift
    cmake -S . -B "$dir" -DJOBQ_WERROR=ON -DBUILD_TESTING=ON "$@" >/dev/null
    cmake --build "$dir" -j"$JOBS" >/dev/null
}

fuzz() { # target: runs it for 15 s, prints executions, fails on a crash
    local scratch out rc=0
    scratch=$(mktemp -d)
    out=$(mktemp)
    build-fuzz/tests/fuzz/fuzz_"$1" -max_total_time=15 -max_len=8192 \
        -print_final_stats=1 "$scratch" "tests/fuzz/corpus/$1" >"$out" 2>&1 || rc=$?
    grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' "$out" || true
    [ $rc -eq 0 ] || tail -40 "$out"
    rm -rf "$scratch" "$out"
    return $rc
}

format_check() { # every tracked C file as .clang-format has it
    git ls-files '*.c' '*.h' | grep -v '^tests/fuzz/corpus' |
        xargs clang-format --dry-run -Werror 2>&1 | head -20
    [ "${PIPESTATUS[2]}" -eq 0 ]
}

step() { # name, command...
    local name=$1; shift
    echo "=== $name"
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "--- FAILED: $name"; fi
}

build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
step "format (.clang-format)" format_check
step "unit tests" ctest --test-dir build --output-on-failure
# Two pytest processes (xdist), each with its own redis-server: most tests
# wait on timers and sockets, so the suite takes about half the time.
step "integration tests" env JOBQ_WORKER="$ROOT/build/jobq-worker" \
    $PY -m pytest -q -p no:cacheprovider -n 2 tests/integration
# The dashboard in headless Chromium (tests/browser: playwright-core from
# npm, pinned by its lockfile, driving Debian's chromium); normal build only.
browser_test() {
    [ -d tests/browser/node_modules/playwright-core ] ||
        npm ci --prefix tests/browser --no-audit --no-fund >/dev/null
    JOBQ_WORKER="$ROOT/build/jobq-worker" JOBQ_CLI="$ROOT/build/jobq" \
        node tests/browser/dashboard.test.mjs
}
step "dashboard in headless Chromium" browser_test
step "valgrind memcheck, 10000 jobs" env JOBQ_WORKER="$ROOT/build/jobq-worker" \
    $PY -m pytest -q -p no:cacheprovider tests/memcheck

if [ "${1:-}" != "--quick" ]; then
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=66
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    build build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
        -DJOBQ_SANITIZE=address,undefined
    step "unit tests (ASan+UBSan)" ctest --test-dir build-asan --output-on-failure
    step "integration tests (ASan+UBSan)" env JOBQ_WORKER="$ROOT/build-asan/jobq-worker" JOBQ_CLI="$ROOT/build-asan/jobq" \
        JOBQ_TEST_SLOWDOWN=3 $PY -m pytest -q -p no:cacheprovider -n 2 tests/integration

    export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
    build build-tsan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
        -DJOBQ_SANITIZE=thread
    step "CPU pool and handoff (TSan)" ctest --test-dir build-tsan --output-on-failure -R 'unit_(cpupool|handlers|loop)'
    step "worker end to end (TSan)" env JOBQ_WORKER="$ROOT/build-tsan/jobq-worker" \
        JOBQ_TEST_SLOWDOWN=3 $PY -m pytest -q -p no:cacheprovider tests/integration/test_jobs.py

    # libFuzzer with ASan+UBSan, about 60 s in all; new inputs stay in a
    # scratch corpus so the committed seeds do not grow.
    build build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
        -DJOBQ_SANITIZE=address,undefined -DJOBQ_FUZZ=ON -DBUILD_TESTING=OFF
    for t in frame canon settings redisurl; do
        step "fuzz $t (15 s)" fuzz "$t"
    done
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
