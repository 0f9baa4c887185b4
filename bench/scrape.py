#!/usr/bin/python3
"""What /metrics costs with 100 served queues, measured in one run on one
machine: scrape latency when the Redis sample is recent (cached) and when
the scrape starts a sample round (one pipelined SAMPLE call per queue),
beside a raw pipelined round of the same 100 calls from Python; and how
many sample rounds Redis sees while /metrics is scraped as fast as one
client can (counted with SLOWLOG, which logs every command at threshold 0).
Writes bench/scrape.md. Usage: bench/scrape.py [path/to/jobq-worker]"""
import hashlib
import os
import statistics
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from conftest import RedisServer, free_port  # noqa: E402

WORKER = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "jobq-worker")
NQ = 100


def get(url):
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=10) as r:
        r.read()
    return time.perf_counter() - t


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


def script_body():
    return b"".join(open(os.path.join(ROOT, "common", "scripts", f + ".lua"), "rb").read()
                    for f in ("prelude", "msgpack", "bump", "mapget", "sample"))


def main():
    srv = RedisServer().start()
    names = [f"q{i:03d}" for i in range(NQ)]
    port = free_port()
    w = subprocess.Popen([WORKER, "--redis", srv.url(), "--queues", ",".join(names),
                          "--http", f"127.0.0.1:{port}", "--log-level", "warn"])
    base = f"http://127.0.0.1:{port}/metrics"
    try:
        r = srv.client()
        deadline = time.time() + 20
        while True:
            try:
                get(base)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        time.sleep(1)
        # cached: back to back, most within the second of one round
        cached = [get(base) for _ in range(300)]
        # each starting a round: more than the interval apart
        rounds = []
        for _ in range(8):
            time.sleep(1.05)
            rounds.append(get(base))
        # raw: the same 100 SAMPLE calls, pipelined, from Python
        body = script_body()
        sha = r.script_load(body)
        raw = []
        for _ in range(20):
            p = r.pipeline(transaction=False)
            for q in names:
                k = f"jobq:{{{q}}}:"
                p.evalsha(sha, 6, k + "pending", k + "delayed", k + "dead", k + "workers",
                          k + "stats", k + "paused", k + "active:", 256)
            t = time.perf_counter()
            p.execute()
            raw.append(time.perf_counter() - t)
        # Redis cost while scraped as fast as possible for 3 s (SLOWLOG
        # at threshold 0 logs every command; on only for this part)
        r.config_set("slowlog-max-len", 1000000)
        r.config_set("slowlog-log-slower-than", 0)
        r.slowlog_reset()
        t0, n = time.time(), 0
        while time.time() - t0 < 3:
            get(base)
            n += 1
        elapsed = time.time() - t0
        want = b"EVALSHA " + hashlib.sha1(body).hexdigest().encode()
        calls = sum(1 for e in r.slowlog_get(1000000) if e["command"].startswith(want))
    finally:
        w.terminate()
        w.wait(30)
        srv.cleanup()
    ms = lambda s: s * 1000  # noqa: E731
    lines = [
        "# /metrics with 100 queues", "",
        f"One run, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} cores (shared), worker `{os.path.relpath(WORKER, ROOT)}`.", "",
        "| what | median ms | p99 / max ms |", "| --- | --- | --- |",
        f"| scrape, sample recent (300 back to back) | {ms(statistics.median(cached)):.2f} | "
        f"{ms(pct(cached, 99)):.2f} |",
        f"| scrape starting a sample round (8, 1.05 s apart) | {ms(statistics.median(rounds)):.2f} | "
        f"{ms(max(rounds)):.2f} |",
        f"| raw pipelined round of the 100 SAMPLE calls (Python) | {ms(statistics.median(raw)):.2f} | "
        f"{ms(max(raw)):.2f} |", "",
        f"Scrape starting a round / raw round: "
        f"{statistics.median(rounds) / statistics.median(raw):.2f}x.", "",
        f"Redis cost: {n} scrapes in {elapsed:.1f} s ({n / elapsed:.0f}/s) caused {calls} SAMPLE "
        f"calls = {calls / NQ:.1f} rounds of {NQ} ({calls / NQ / elapsed:.2f} rounds/s; "
        f"the limit is 1/s).", ""]
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(HERE, "scrape.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
