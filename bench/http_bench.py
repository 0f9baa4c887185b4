#!/usr/bin/python3
"""http.request against a fast local keep-alive server, beside BullMQ
doing the same with Node's fetch, on one redis-server in one run:
  1. the server alone (wrk), to show it answers several times faster than
     either worker, so the figures are the workers' and not the server's;
  2. a drain of N http.request jobs: jobs/s from the first take to the
     last finish, the worker's peak RSS and CPU per job;
  3. enqueue-to-result latency of single jobs to an idle worker (p50, p99).
The server is Debian's nginx serving a small body with keep-alive. Run
through bench/http.sh. Prints JSON and writes bench/http_results.md."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402
from bench import (Peer, cpu_s, first_take, fill, log, pct, redis_cpu_s,  # noqa: E402
                   start_worker, status_kb, stop, wait_finished)
from conftest import RedisServer, frame, free_port, key  # noqa: E402

BODY = "hello from nginx\n"
JOBQ_IO = 256          # io-concurrency of the jobq worker
BULLMQ_PROCS = 2       # one Node process per core, as BullMQ advises
BULLMQ_CONCURRENCY = 128  # per process: 256 in flight, as jobq
WRK_CONNECTIONS = 64
BULLMQ_LEFT = ("return redis.call('llen', 'bull:bench:wait') + "
               "redis.call('llen', 'bull:bench:active') + "
               "redis.call('zcard', 'bull:bench:prioritized')")


class Nginx:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="jobq-nginx-")
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1;
daemon off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {self.dir};
  proxy_temp_path {self.dir};
  fastcgi_temp_path {self.dir};
  uwsgi_temp_path {self.dir};
  scgi_temp_path {self.dir};
  server {{
    listen 127.0.0.1:{self.port};
    location / {{ default_type text/plain; return 200 "{BODY.strip()}\\n"; }}
  }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-p", self.dir, "-c", conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                import urllib.request
                urllib.request.urlopen(self.url(), timeout=1).read()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start")

    def url(self):
        return f"http://127.0.0.1:{self.port}/"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)
        shutil.rmtree(self.dir, ignore_errors=True)


def wrk(url, seconds):
    out = subprocess.run(["wrk", "-t1", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", url],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def jobq_drain(srv, url, n):
    r = srv.client()
    r.flushall()
    fill(r, (frame(f"h{i}", "http.request", {"url": url}) for i in range(n)))
    w = start_worker(srv, "--cpu-threads", "1", "--io-concurrency", str(JOBQ_IO))
    t0 = first_take(r, n)
    rc, wc = redis_cpu_s(r), cpu_s(w.pid)
    t1 = wait_finished(r, n, 600)
    rss = status_kb(w.pid, "VmHWM")
    wc, rc = cpu_s(w.pid) - wc, redis_cpu_s(r) - rc
    stats = {k.decode(): int(v) for k, v in r.hgetall(key("default", "stats")).items()}
    stop(w)
    return {"n": n, "jobs_per_s": n / (t1 - t0), "peak_rss_kb": rss,
            "cpu_us_per_job": wc / n * 1e6, "redis_us_per_job": rc / n * 1e6,
            "dead": stats.get("dead", 0)}


def jobq_latency(srv, url, n):
    r = srv.client()
    r.flushall()
    w = start_worker(srv, "--cpu-threads", "1")
    time.sleep(0.5)  # start-up, not counted
    lat = []
    for i in range(n):
        f = frame(f"l{i}", "http.request", {"url": url}, reply_to="lat")
        t = time.perf_counter()
        r.lpush(key("default", "pending"), f)
        r.blpop("lat", timeout=5)
        lat.append(time.perf_counter() - t)
    stop(w)
    return {"p50_us": pct(lat, 0.5) * 1e6, "p99_us": pct(lat, 0.99) * 1e6, "latency_n": n}


def bullmq(srv, url, n, latency_n):
    os.environ["HTTP_URL"] = url
    os.environ["REMOVE_ON_COMPLETE"] = "1"
    p = Peer("bullmq", srv)
    r = srv.client()
    r.flushall()
    p.run("fill", srv.port, "http", n)
    ws = p.workers(BULLMQ_PROCS, BULLMQ_CONCURRENCY)
    try:
        t0 = p.wait_left(r, n, n, 300, p.queued_lua)
        rc, wc = redis_cpu_s(r), sum(cpu_s(w.pid) for w in ws)
        t1 = p.wait_left(r, n, 1, 900, BULLMQ_LEFT)
        rss = sum(status_kb(w.pid, "VmHWM") for w in ws)
        wc = sum(cpu_s(w.pid) for w in ws) - wc
        rc = redis_cpu_s(r) - rc
        failed = int(r.zcard("bull:bench:failed"))
    finally:
        p.stop(ws)
    res = {"version": p.version, "n": n, "jobs_per_s": n / (t1 - t0), "peak_rss_kb": rss,
           "cpu_us_per_job": wc / n * 1e6, "redis_us_per_job": rc / n * 1e6,
           "failed": failed}
    # Latency waits on each job's completion notice, which needs the job.
    del os.environ["REMOVE_ON_COMPLETE"]
    lat = json.loads(p.run("latency", srv.port, latency_n).strip().splitlines()[-1])
    res.update({"p50_us": lat["p50_us"], "p99_us": lat["p99_us"]})
    return res


def report(res, path):
    s, j, b = res["server_rps"], res["jobq"], res.get("bullmq")
    rows = ["# http.request against a local keep-alive server", "",
            f"Machine: {bench.machine()}. nginx (Debian) serves a {len(BODY)}-byte body; "
            f"one run, {j['n']:,} jobs per system on one redis-server.", "",
            "| system | jobs/s | enqueue-to-result p50 / p99 | peak RSS | CPU per job | Redis CPU per job |",
            "| --- | --- | --- | --- | --- | --- |",
            f"| nginx alone (wrk, {WRK_CONNECTIONS} connections) | {s:,.0f} requests/s | | | | |",
            f"| jobq (1 worker, io-concurrency {JOBQ_IO}) | {j['jobs_per_s']:,.0f} | "
            f"{j['p50_us'] / 1000:.2f} / {j['p99_us'] / 1000:.2f} ms | {j['peak_rss_kb'] / 1024:.1f} MiB | "
            f"{j['cpu_us_per_job']:.0f} us | {j['redis_us_per_job']:.0f} us |"]
    if b:
        rows.append(f"| BullMQ {b['version'].split()[-1]} + fetch ({BULLMQ_PROCS} processes x "
                    f"{BULLMQ_CONCURRENCY}) | {b['jobs_per_s']:,.0f} | "
                    f"{b['p50_us'] / 1000:.2f} / {b['p99_us'] / 1000:.2f} ms | "
                    f"{b['peak_rss_kb'] / 1024:.1f} MiB | {b['cpu_us_per_job']:.0f} us | "
                    f"{b['redis_us_per_job']:.0f} us |")
    rows += ["", f"- nginx alone answers {s / j['jobs_per_s']:.1f}x faster than jobq's drain"
             + (f" and {s / b['jobs_per_s']:.1f}x faster than BullMQ's" if b else "")
             + ": the server is not what either figure measures."]
    if b:
        rows.append(f"- jobq / BullMQ: {j['jobs_per_s'] / b['jobs_per_s']:.1f}x the jobs/s "
                    f"(goal: at least 3x); p99 {b['p99_us'] / j['p99_us']:.1f}x lower.")
    rows.append(f"- dead jobq jobs: {j['dead']}" + (f"; failed BullMQ jobs: {b['failed']}" if b else ""))
    with open(path, "w") as f:
        f.write("\n".join(rows) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20000)
    ap.add_argument("--latency-n", type=int, default=1000)
    ap.add_argument("--no-peer", action="store_true")
    a = ap.parse_args()
    srv = RedisServer().start()
    ngx = Nginx()
    res = {}
    try:
        log("nginx alone ...")
        res["server_rps"] = wrk(ngx.url(), 5)
        log("jobq drain ...")
        res["jobq"] = jobq_drain(srv, ngx.url(), a.n)
        log("jobq latency ...")
        res["jobq"].update(jobq_latency(srv, ngx.url(), a.latency_n))
        log(json.dumps(res))
        if not a.no_peer:
            log("bullmq ...")
            res["bullmq"] = bullmq(srv, ngx.url(), a.n, a.latency_n)
    finally:
        ngx.stop()
        srv.cleanup()
    print(json.dumps(res, indent=1))
    report(res, os.path.join(HERE, "http_results.md"))


if __name__ == "__main__":
    main()
