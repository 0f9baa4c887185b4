#!/usr/bin/python3
"""Handlers the operator adds, measured side by side in one run on one
redis-server: 20,000 trivial jobs (sum_squares of n=10) through the
built-in math.sum_squares, the example C plugin, the example Python runner
(1 and 2 processes), exec (a Python process per job) and RQ running the
same Python function. Also the lateness of `sleep 10` jobs while a runner
blocks, a runner floods its stderr and exec children block and flood their
stdout. Writes bench/user_handlers.md. Run through bench/user_handlers.sh.
Usage: user_handlers.py [--n N] [--exec-n N] [--no-rq]"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bench  # noqa: E402
from bench import (WORKER, RedisServer, cpu_s, first_take, frame, key, log,  # noqa: E402
                   start_worker, stop, wait_finished)

PY = "/usr/bin/python3"
EXAMPLE_PY = f"{PY} {ROOT}/examples/runners/python/example.py"
EXEC_PY = os.path.join(HERE, "exec_sum_squares.py")
ARGS = {"n": 10}


def fill(r, type, n):
    p = r.pipeline(transaction=False)
    for i in range(n):
        p.lpush(key("default", "pending"), frame(f"j{i}", type, ARGS))
        if i % 5000 == 4999:
            p.execute()
    p.execute()


def timed(srv, type, n, *args):
    r = srv.client()
    r.flushall()
    fill(r, type, n)
    w = start_worker(srv, *args)
    try:
        t0 = first_take(r, n)
        c0 = cpu_s(w.pid)
        t1 = wait_finished(r, n, 1800)
        c1 = cpu_s(w.pid)
        st = {k.decode(): int(v) for k, v in r.hgetall(key("default", "stats")).items()}
    finally:
        stop(w)
    assert st.get("processed") == n, st
    return {"type": type, "n": n, "wall_s": t1 - t0, "jobs_per_s": n / (t1 - t0),
            "worker_cpu_us_per_job": (c1 - c0) / n * 1e6}


def plugin_so(tmp):
    """The example plugin, built against headers installed to a scratch
    prefix, as in the tests."""
    prefix = os.path.join(tmp, "prefix")
    subprocess.run(["cmake", "--install", os.path.dirname(WORKER), "--prefix", prefix],
                   check=True, stdout=subprocess.DEVNULL)
    src = os.path.join(tmp, "plugin")
    shutil.copytree(os.path.join(ROOT, "examples", "plugin"), src)
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "share", "pkgconfig"))
    subprocess.run(["make", "-s", "-C", src], check=True, env=env)
    return os.path.join(src, "sum_squares.so")


def lateness(srv, children, rounds=40):
    """sleep 10 jobs one at a time, with or without children that block
    and flood beside them: how late each finishes past its 10 ms (the
    record's finished_at minus the push time). Both in one run, so what
    the machine's load adds shows in the baseline too."""
    r = srv.client()
    r.flushall()
    hold = 60000
    w = start_worker(srv, "--runner", f"t.hang,t.flood={PY} {ROOT}/tests/integration/handlers/runner_test.py",
                     "--exec", f"t.exec={PY} {ROOT}/tests/integration/handlers/exec_job.py",
                     "--shutdown-grace-ms", "0")
    try:
        if children:
            r.lpush(key("default", "pending"),
                    frame("hang", "t.hang", {}, timeout_ms=hold),
                    frame("flood", "t.flood", {"ms": hold}),
                    *[frame(f"x{i}", "t.exec", {"do": "hang"}, timeout_ms=hold)
                      for i in range(8)],
                    *[frame(f"h{i}", "t.exec", {"do": "huge"}) for i in range(8)])
        time.sleep(1.0)  # the children are up and at it
        late = []
        for i in range(rounds):
            t = time.time() * 1000
            r.lpush(key("default", "pending"), frame(f"s{i}", "sleep", {"ms": 10},
                                                     reply_to="rep"))
            rec = bench_unpack(r.blpop("rep", 30)[1])
            late.append(rec["finished_at"] - t - 10)
    finally:
        stop(w)
    late.sort()
    return {"rounds": rounds, "p50_ms": statistics.median(late),
            "p90_ms": late[int(len(late) * 0.9) - 1], "max_ms": late[-1]}


def bench_unpack(b):
    import msgpack
    return msgpack.unpackb(b, raw=False)


def rq(srv, n):
    p = bench.Peer("rq", srv)
    res = p.timed("sum_squares", n, 1, 1)
    res["version"] = p.version
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--exec-n", type=int, default=20000)
    ap.add_argument("--no-rq", action="store_true")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite user_handlers.md from user_handlers.json")
    a = ap.parse_args()
    if a.report_only:
        with open(os.path.join(HERE, "user_handlers.json")) as f:
            return report(json.load(f))
    srv = RedisServer().start()
    tmp = tempfile.mkdtemp(prefix="jobq-bench-")
    res = {}
    try:
        so = plugin_so(tmp)
        runs = [("built-in math.sum_squares", "math.sum_squares", a.n, ()),
                ("C plugin", "example.sum_squares", a.n, ("--plugin", so)),
                ("Python runner, 1 process", "example.sum_squares", a.n,
                 ("--runner", f"example.sum_squares={EXAMPLE_PY}")),
                ("Python runner, 2 processes", "example.sum_squares", a.n,
                 ("--runner", f"example.sum_squares={EXAMPLE_PY}", "--runner-processes", "2")),
                ("Python runner, 1 process, runner-concurrency 64", "example.sum_squares", a.n,
                 ("--runner", f"example.sum_squares={EXAMPLE_PY}", "--runner-concurrency", "64")),
                ("exec, a Python process per job", "example.sum_squares", a.exec_n,
                 ("--exec", f"example.sum_squares={PY} {EXEC_PY}"))]
        for name, type, n, args in runs:
            log(f"{name}: {n} jobs")
            res[name] = timed(srv, type, n, *args)
            log(f"  {res[name]['jobs_per_s']:.0f} jobs/s")
        if not a.no_rq:
            log(f"RQ: {a.n} jobs")
            res["RQ (SimpleWorker, 1 process)"] = rq(srv, a.n)
            log(f"  {res['RQ (SimpleWorker, 1 process)']['jobs_per_s']:.0f} jobs/s")
        log("sleep 10 lateness beside blocking and flooding children")
        res["lateness"] = {"baseline": lateness(srv, False),
                           "children": lateness(srv, True)}
        res["lateness"]["loadavg"] = os.getloadavg()[0]
    finally:
        srv.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    report(res)


def report(res):
    late = res.pop("lateness")
    rq_rate = res.get("RQ (SimpleWorker, 1 process)", {}).get("jobs_per_s")
    lines = ["# Handlers the operator adds: throughput", "",
             "Written by `bench/user_handlers.sh`. One run, one redis-server, "
             "the same trivial job (`{\"n\": 10}`, sum of squares) through each "
             "way of serving it; ratios are to RQ in the same run.", "",
             "| how | jobs | jobs/s | worker CPU us/job | x RQ |",
             "| --- | --- | --- | --- | --- |"]
    for name, x in res.items():
        q = x["jobs_per_s"] / rq_rate if rq_rate else None
        ratio = "-" if q is None else f"{q:.2f}" if q < 1 else f"{q:.1f}"
        cpu = x.get("worker_cpu_us_per_job", x.get("cpu_us_per_job", 0))
        lines.append(f"| {name} | {x['n']} | {x['jobs_per_s']:.0f} | {cpu:.0f} | {ratio} |")
    lines += ["", "`sleep 10` jobs one at a time, how late they finish past their "
              "10 ms (goal: under 50 ms), alone and while a runner blocks, a runner "
              "floods its stderr, 8 exec children block and 8 flood stdout:", "",
              "| beside | jobs | p50 ms | p90 ms | max ms |", "| --- | --- | --- | --- | --- |"]
    for what, k in (("nothing", "baseline"), ("blocking and flooding children", "children")):
        x = late[k]
        lines.append(f"| {what} | {x['rounds']} | {x['p50_ms']:.1f} | {x['p90_ms']:.1f} | "
                     f"{x['max_ms']:.1f} |")
    lines.append("")
    py1 = res.get("Python runner, 1 process", {}).get("jobs_per_s")
    if py1 and rq_rate:
        lines.append(f"Goal, Python runner at least 20x RQ: {py1 / rq_rate:.1f}x "
                     f"({'met' if py1 / rq_rate >= 20 else 'not met'}).")
    la = late.get("loadavg", os.getloadavg()[0])
    lines += ["", f"Machine: {os.cpu_count()} cores, load average {la:.1f} at the end "
              "(shared with other work: figures are noisy, ratios less so)."]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(HERE, "user_handlers.md"), "w") as f:
        f.write(text)
    with open(os.path.join(HERE, "user_handlers.json"), "w") as f:
        json.dump(dict(res, lateness=late), f, indent=1)
    print(text)


if __name__ == "__main__":
    main()
