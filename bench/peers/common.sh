# The adapter interface every peer implements in its run.sh, so that
# bench.py times, samples RSS and CPU, and counts the same way for all:
#   run.sh setup                      install what is missing; print the version
#   run.sh fill PORT WORKLOAD N       enqueue N jobs: transform, sleep (1 s) or hash
#   run.sh worker PORT CONCURRENCY    exec one worker process (bench.py stops it)
#   run.sh queued                     a Lua script: how many are not yet taken
#   run.sh left                       a Lua script: of ARGV[1] jobs, how many
#                                     are not yet finished (bench.py polls it)
#   run.sh latency PORT N             (where the peer has a completion notice)
#                                     JSON: rtt_us, p50_us, p99_us, p999_us
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cmd=$1; shift
