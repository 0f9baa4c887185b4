#!/usr/bin/python3
"""What per-job log lines cost: drains of data.transform jobs with the
default failure-only logging (--log-level warn: no line per job) against
JSON lines at info (one `job finished` line per job, to a file), run
alternately on one redis-server, median of three each; prints the
throughputs and their ratio. Usage: bench/log_cost.py [N] [--worker PATH]
(default build-bench/jobq-worker, as bench/run.sh builds it)."""
import argparse
import os
import statistics
import subprocess
import tempfile

from bench import (ROOT, RedisServer, fill, first_take, stop, transform_frames,
                   wait_finished)


def drain(srv, worker, n, *args):
    r = srv.client()
    r.flushall()
    fill(r, transform_frames(n))
    with tempfile.NamedTemporaryFile(prefix="jobq-logcost-", suffix=".log") as lf:
        w = subprocess.Popen([worker, "--redis", srv.url(), "--http", "off",
                              "--cpu-threads", "2", "--log-file", lf.name, *args],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = first_take(r, n)
        t1 = wait_finished(r, n, 600)
        stop(w)
        lines = sum(1 for _ in open(lf.name, "rb"))
    return n / (t1 - t0), lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=100000)
    ap.add_argument("--worker", default=os.path.join(ROOT, "build-bench", "jobq-worker"))
    a = ap.parse_args()
    srv = RedisServer().start()
    try:
        quiet, json_info = [], []
        for _ in range(3):
            quiet.append(drain(srv, a.worker, a.n, "--log-level", "warn"))
            json_info.append(drain(srv, a.worker, a.n, "--log-format", "json",
                                   "--log-level", "info"))
    finally:
        srv.cleanup()
    q = statistics.median(x[0] for x in quiet)
    j = statistics.median(x[0] for x in json_info)
    print(f"{a.n} data.transform jobs, 2 CPU threads, median of 3 each")
    print(f"log-level warn: {q:,.0f} jobs/s ({quiet[0][1]} lines)")
    print(f"log-format json, log-level info: {j:,.0f} jobs/s "
          f"({json_info[0][1]} lines)")
    print(f"ratio json-info / warn: {j / q:.3f}")


if __name__ == "__main__":
    main()
