#!/usr/bin/env bash
# Mutation check of the test suite. RUN BY HAND, NOT IN CI: a sweep builds
# the tree once per mutant and takes about 8 minutes on 2 cores (about 50
# with --full).
#
# Each tests/mutants/*.mutant file plants one small plausible bug (format in
# tests/mutants/README.md). For each in turn this copies the tree (tracked
# and untracked files, no build directories) into a scratch directory under
# /tmp, applies the mutant there, builds it with -Werror and runs the tests
# that should catch it, then reports:
#   KILLED    a test failed (or timed out): the suite catches this bug
#   SURVIVED  every selected test passed: the suite misses this bug
#   STALE     a find text no longer occurs exactly once: refresh the mutant
#   BROKEN    the mutated tree does not build: fix the mutant
#   NOTESTS   the selection matched no test: fix the mutant
# and exits non-zero unless every mutant was KILLED. The working tree itself
# is never modified.
#
# Before the mutants the unmutated copy must pass every selection (or, with
# --full, the whole suite): a kill means nothing if the test fails anyway.
#
# Usage: tests/mutants/run.sh [--full] [--keep] [--no-baseline] [--list] [PATTERN...]
#   --full         run the whole unit + integration suite for each mutant
#                  instead of its own selection (-x: stops at the first failure)
#   --keep         keep the scratch trees (logs are always kept)
#   --no-baseline  skip the unmutated run
#   --list         print the mutants and their selections, run nothing
#   PATTERN        only the mutants whose file name contains one of these
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3   # Debian's, which sees python3-redis and friends
JOBS=$(nproc)
BUILD_TIMEOUT=900
CTEST_TIMEOUT=120     # per unit test
PYTEST_TIMEOUT=900    # per mutant's whole selection

full=0 keep=0 baseline=1 list=0
patterns=()
for a in "$@"; do
    case "$a" in
    --full) full=1 ;;
    --keep) keep=1 ;;
    --no-baseline) baseline=0 ;;
    --list) list=1 ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $a" >&2; exit 2 ;;
    *) patterns+=("$a") ;;
    esac
done

field() { "$PY" "$HERE/mutant.py" field "$1" "$2"; }

mutants=()
for f in "$HERE"/*.mutant; do
    name=$(basename "$f" .mutant)
    if [ ${#patterns[@]} -gt 0 ]; then
        hit=0
        for p in "${patterns[@]}"; do [[ "$name" == *"$p"* ]] && hit=1; done
        [ $hit -eq 1 ] || continue
    fi
    mutants+=("$f")
done
[ ${#mutants[@]} -gt 0 ] || { echo "no mutant matches" >&2; exit 2; }

if [ $list -eq 1 ]; then
    for f in "${mutants[@]}"; do
        printf '%-34s %s\n' "$(basename "$f" .mutant)" "$(field "$f" description)"
        printf '%-34s pytest -k: %s | ctest -R: %s\n' "" "$(field "$f" pytest)" "$(field "$f" ctest)"
    done
    exit 0
fi

SCRATCH=$(mktemp -d /tmp/jobq-mutants.XXXXXX)
TREE=$SCRATCH/tree   # fixed path: the build directory's absolute paths stay valid
BASE=$SCRATCH/base   # the unmutated tree, built, copied afresh for each mutant
LOGS=$SCRATCH/logs
mkdir -p "$TREE" "$LOGS"
cleanup() {
    stray_workers
    [ $keep -eq 1 ] || rm -rf "$TREE" "$BASE"
}
trap cleanup EXIT

# Workers of this run that a timed-out test left behind: ours by the path of
# their executable, ended by pid.
stray_workers() {
    local p exe
    for p in /proc/[0-9]*; do
        exe=$(readlink "$p/exe" 2>/dev/null) || continue
        case "$exe" in "$SCRATCH"/*) kill -9 "${p#/proc/}" 2>/dev/null ;; esac
    done
}

build() { # log
    timeout "$BUILD_TIMEOUT" cmake --build "$TREE/build" -j"$JOBS" >"$1" 2>&1
}

# Runs the tests of one selection in $TREE; sets RESULT and DETAIL.
# $1: log prefix, $2: pytest -k expression ('' none, '*' all), $3: ctest -R
# regex ('' none, '*' all).
run_tests() {
    local log=$1 pk=$2 cr=$3 rc
    RESULT=PASSED DETAIL=""
    if [ -n "$cr" ]; then
        local sel=()
        [ "$cr" = "*" ] || sel=(-R "$cr")
        (cd "$TREE" && ctest --test-dir build --output-on-failure --no-tests=error \
            --timeout "$CTEST_TIMEOUT" "${sel[@]}") >"$log.ctest.log" 2>&1
        rc=$?
        if grep -q "No tests were found" "$log.ctest.log"; then
            RESULT=NOTESTS DETAIL="ctest -R '$cr' matched nothing"; return
        fi
        if [ $rc -ne 0 ]; then
            RESULT=FAILED
            DETAIL="ctest: $(sed -n '/The following tests FAILED/,$p' "$log.ctest.log" |
                grep -E '^[[:space:]]+[0-9]+ - ' | sed -E 's/^[[:space:]]+[0-9]+ - //' |
                head -3 | paste -sd ';' -)"
            return
        fi
    fi
    if [ -n "$pk" ]; then
        local sel=()
        [ "$pk" = "*" ] || sel=(-k "$pk")
        (cd "$TREE" && JOBQ_WORKER="$TREE/build/jobq-worker" JOBQ_CLI="$TREE/build/jobq" \
            timeout -s INT -k 60 "$PYTEST_TIMEOUT" \
            "$PY" -m pytest -q -x -p no:cacheprovider tests/integration "${sel[@]}") \
            >"$log.pytest.log" 2>&1
        rc=$?
        stray_workers
        case $rc in
        0) ;;
        1) RESULT=FAILED
           DETAIL="pytest: $(grep -E '^(FAILED|ERROR) ' "$log.pytest.log" | head -2 |
               sed -E 's/^(FAILED|ERROR) tests\/integration\///' | cut -c1-110 | paste -sd ';' -)" ;;
        5) RESULT=NOTESTS DETAIL="pytest -k '$pk' matched nothing" ;;
        124 | 130 | 137) RESULT=FAILED DETAIL="pytest: timed out after ${PYTEST_TIMEOUT}s" ;;
        *) RESULT=ERROR DETAIL="pytest exited $rc (see $log.pytest.log)" ;;
        esac
    fi
}

t_start=$(date +%s)
echo "scratch: $SCRATCH (logs in $LOGS)"

# The tree as it is now (uncommitted edits included), without build output.
(cd "$ROOT" && git ls-files -z -co --exclude-standard |
    tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -C "$TREE" -xf -
echo "building the unmutated tree"
if ! cmake -S "$TREE" -B "$TREE/build" -DJOBQ_WERROR=ON -DBUILD_TESTING=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$LOGS/base.build.log" 2>&1 ||
    ! build "$LOGS/base.build.log"; then
    echo "the unmutated tree does not build: see $LOGS/base.build.log" >&2
    exit 2
fi

if [ $baseline -eq 1 ]; then
    if [ $full -eq 1 ]; then
        pk='*' cr='*'
    else # the union of the selections
        pk="" cr=""
        for f in "${mutants[@]}"; do
            p=$(field "$f" pytest) c=$(field "$f" ctest)
            [ -z "$p" ] || pk="${pk:+$pk or }($p)"
            [ -z "$c" ] || cr="${cr:+$cr|}$c"
        done
    fi
    echo "baseline: the selected tests on the unmutated tree"
    t0=$(date +%s)
    run_tests "$LOGS/baseline" "$pk" "$cr"
    if [ "$RESULT" != PASSED ]; then
        echo "baseline $RESULT: $DETAIL" >&2
        echo "the unmutated tree fails the selection; a kill would mean nothing" >&2
        exit 2
    fi
    echo "baseline passed in $(($(date +%s) - t0)) s"
fi
cp -a "$TREE" "$BASE"

declare -A verdict detail took
failures=0
for f in "${mutants[@]}"; do
    name=$(basename "$f" .mutant)
    t0=$(date +%s)
    rm -rf "$TREE"
    cp -a "$BASE" "$TREE"
    "$PY" "$HERE/mutant.py" apply "$f" "$TREE" 2>"$LOGS/$name.apply.log"
    rc=$?
    if [ $rc -eq 3 ]; then
        v=STALE d=$(head -1 "$LOGS/$name.apply.log")
    elif [ $rc -ne 0 ]; then
        v=MALFORMED d=$(head -1 "$LOGS/$name.apply.log")
    elif ! build "$LOGS/$name.build.log"; then
        v=BROKEN d=$(grep -m1 -E 'error|Error' "$LOGS/$name.build.log" | cut -c1-140)
    else
        if [ $full -eq 1 ]; then
            run_tests "$LOGS/$name" '*' '*'
        else
            run_tests "$LOGS/$name" "$(field "$f" pytest)" "$(field "$f" ctest)"
        fi
        case $RESULT in
        PASSED) v=SURVIVED d="" ;;
        FAILED) v=KILLED d=$DETAIL ;;
        *) v=$RESULT d=$DETAIL ;;
        esac
    fi
    verdict[$name]=$v detail[$name]=$d took[$name]=$(($(date +%s) - t0))
    [ "$v" = KILLED ] || failures=$((failures + 1))
    printf '%-9s %-34s %4ss  %s\n' "$v" "$name" "${took[$name]}" "$d"
done

echo
echo "=== $((${#mutants[@]} - failures)) of ${#mutants[@]} mutants killed in $(($(date +%s) - t_start)) s"
for f in "${mutants[@]}"; do
    name=$(basename "$f" .mutant)
    [ "${verdict[$name]}" = KILLED ] ||
        printf '%-9s %-34s %s\n' "${verdict[$name]}" "$name" "$(field "$f" description)"
done
echo "logs: $LOGS"
[ $failures -eq 0 ]
