#!/usr/bin/python3
"""jobq benchmarks: each figure beside something measured in the same run
on the same machine (raw Redis, or a peer on the same redis-server), so the
ratios hold up on a noisy shared machine. Writes bench/results.md and
bench/results.svg. Run through bench/run.sh."""
import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from conftest import RedisServer, frame, key  # noqa: E402

WORKER = os.path.join(ROOT, "build-bench", "jobq-worker")
TRANSFORM_ARGS = {"id": 1, "username": "User_1", "email": "User1@Example.COM",
                  "full_name": "User One", "created_at": 1700000000000}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def fill(r, frames):
    p = r.pipeline(transaction=False)
    for i, f in enumerate(frames):
        p.lpush(key("default", "pending"), f)
        if i % 5000 == 4999:
            p.execute()
    p.execute()


def transform_frames(n, start=0):
    return (frame(f"t{i}", "data.transform", dict(TRANSFORM_ARGS, id=i))
            for i in range(start, start + n))


def finished(r):
    s = r.hgetall(key("default", "stats"))
    return int(s.get(b"processed", 0)) + int(s.get(b"dead", 0))


def wait_finished(r, n, timeout):
    deadline = time.time() + timeout
    while finished(r) < n:
        if time.time() > deadline:
            raise RuntimeError(f"only {finished(r)} of {n} finished in {timeout}s")
        time.sleep(0.005)
    return time.perf_counter()


def first_take(r, n):
    """Timing starts at the first take, for jobq and peers alike, so that
    process start-up is not counted as drain time."""
    while r.llen(key("default", "pending")) >= n:
        time.sleep(0.002)
    return time.perf_counter()


def start_worker(srv, *args, wrap=()):
    return subprocess.Popen([*wrap, WORKER, "--redis", srv.url(), "--http", "off",
                             "--log-level", "warn", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=120)


def cpu_s(pid):
    """User plus system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        st = f.read().rsplit(")", 1)[1].split()
    return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")


def redis_cpu_s(r):
    c = r.info("cpu")
    return c["used_cpu_sys"] + c["used_cpu_user"]


def drain(srv, n):
    r = srv.client()
    r.flushall()
    fill(r, transform_frames(n))
    w = start_worker(srv, "--cpu-threads", "2")
    t0 = first_take(r, n)
    rc, wc = redis_cpu_s(r), cpu_s(w.pid)
    t1 = wait_finished(r, n, 600)
    rss = status_kb(w.pid, "VmHWM")
    wc = cpu_s(w.pid) - wc
    rc = redis_cpu_s(r) - rc
    stop(w)
    return {"jobs_per_s": n / (t1 - t0), "n": n, "peak_rss_kb": rss,
            "cpu_us_per_job": wc / n * 1e6, "redis_us_per_job": rc / n * 1e6}


def redis_floor(srv):
    out = subprocess.run(["redis-benchmark", "-p", str(srv.port), "-P", "16", "-n", "1000000",
                          "-t", "lpush,rpop,set", "--csv"], capture_output=True, text=True,
                         timeout=300).stdout
    rates = {}
    for line in out.splitlines():
        m = re.match(r'"(\w+)","([\d.]+)"', line)
        if m:
            rates[m.group(1)] = float(m.group(2))
    floor = 1 / (1 / rates["RPOP"] + 1 / rates["SET"])
    return {"rpop": rates["RPOP"], "set": rates["SET"], "lpush": rates["LPUSH"], "floor": floor}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def latency(srv, n):
    r = srv.client()
    r.flushall()
    w = start_worker(srv, "--cpu-threads", "2")
    time.sleep(0.5)
    rtt = []
    for _ in range(n):
        t = time.perf_counter()
        r.ping()
        rtt.append(time.perf_counter() - t)
    lat = []
    for i in range(n):
        f = frame(f"l{i}", "data.transform", TRANSFORM_ARGS, reply_to="lat")
        t = time.perf_counter()
        r.lpush(key("default", "pending"), f)
        r.blpop("lat", timeout=5)
        lat.append(time.perf_counter() - t)
    stop(w)
    base = statistics.median(rtt)
    return {"rtt_us": base * 1e6, "p50_us": pct(lat, 0.5) * 1e6, "p99_us": pct(lat, 0.99) * 1e6,
            "p999_us": pct(lat, 0.999) * 1e6, "p50_x": pct(lat, 0.5) / base,
            "p99_x": pct(lat, 0.99) / base, "p999_x": pct(lat, 0.999) / base, "n": n}


def io_concurrency(srv, n):
    r = srv.client()
    r.flushall()
    fill(r, (frame(f"s{i}", "sleep", {"ms": 1000}) for i in range(n)))
    w = start_worker(srv, "--io-concurrency", str(n))
    t0 = first_take(r, n)
    t1 = wait_finished(r, n, 120)
    rss = status_kb(w.pid, "VmHWM")
    stop(w)
    return {"wall_s": t1 - t0, "peak_rss_kb": rss, "n": n}


def cpu_rate(srv, threads, n, make=lambda i: frame(f"h{i}", "password.hash",
                                                  {"password": f"Secret{i}x"})):
    r = srv.client()
    r.flushall()
    fill(r, (make(i) for i in range(n)))
    w = start_worker(srv, "--cpu-threads", str(threads))
    t0 = first_take(r, n)
    t1 = wait_finished(r, n, 600)
    stop(w)
    return n / (t1 - t0)


def cpu_scaling(srv, n):
    one = cpu_rate(srv, 1, n)
    two = cpu_rate(srv, 2, n)
    raw = subprocess.run([os.path.join(ROOT, "build-bench", "argon2_scaling"), str(n)],
                         capture_output=True, text=True, timeout=600).stdout.split()
    raw_one, raw_two = float(raw[0]), float(raw[1])
    # The same pool on work bound by the ALU, not by memory bandwidth.
    def alu(i):
        return frame(f"q{i}", "math.sum_squares", {"n": 100_000_000})
    alu_one = cpu_rate(srv, 1, n // 2, alu)
    alu_two = cpu_rate(srv, 2, n // 2, alu)
    return {"one": one, "two": two, "ratio": two / one, "n": n, "raw_one": raw_one,
            "raw_two": raw_two, "raw_ratio": raw_two / raw_one, "alu_one": alu_one,
            "alu_two": alu_two, "alu_ratio": alu_two / alu_one}


def memory(srv, small, big):
    r = srv.client()
    r.flushall()
    w = start_worker(srv, "--cpu-threads", "2")
    time.sleep(1)
    idle = status_kb(w.pid, "VmRSS")
    done = 0
    marks = {}
    for target in (small, big):
        while done < target:
            chunk = min(100000, target - done)
            fill(r, transform_frames(chunk, done))
            done += chunk
            wait_finished(r, done, 600)
        marks[target] = status_kb(w.pid, "VmRSS")
    stop(w)
    return {"idle_kb": idle, "after_small_kb": marks[small], "after_big_kb": marks[big],
            "small": small, "big": big, "growth": marks[big] / marks[small] - 1}


def instructions(srv, n):
    r = srv.client()
    r.flushall()
    fill(r, transform_frames(n))
    out = tempfile.mktemp(prefix="jobq-callgrind-")
    w = start_worker(srv, "--cpu-threads", "2",
                     wrap=("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"))
    wait_finished(r, n, 900)
    stop(w)
    total = 0
    with open(out) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
    os.unlink(out)
    return {"ir_per_job": total / n, "n": n}


class Peer:
    """A peer through its adapter (bench/peers/NAME/run.sh, interface in
    bench/peers/common.sh); timing, RSS, CPU and counting happen here, the
    same way as for jobq."""

    def __init__(self, name, srv):
        self.name, self.srv = name, srv
        self.script = os.path.join(HERE, "peers", name, "run.sh")
        self.version = self.run("setup").strip().splitlines()[-1]
        self.left_lua = self.run("left")
        self.queued_lua = self.run("queued")

    def run(self, *args, timeout=1200):
        p = subprocess.run(["bash", self.script, *map(str, args)], capture_output=True,
                           text=True, timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError(f"peer {self.name} {args[0]} failed:\n{p.stderr[-2000:]}")
        return p.stdout

    def wait_left(self, r, n, below, timeout, lua=None):
        deadline = time.time() + timeout
        while int(r.eval(lua or self.left_lua, 0, n)) >= below:
            if time.time() > deadline:
                raise RuntimeError(f"{self.name}: {self.left(r, n)} of {n} left after {timeout}s")
            time.sleep(0.002)
        return time.perf_counter()

    def workers(self, procs, concurrency):
        return [subprocess.Popen(["bash", self.script, "worker", str(self.srv.port),
                                  str(concurrency)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL) for _ in range(procs)]

    @staticmethod
    def stop(ws):
        for w in ws:
            w.send_signal(signal.SIGTERM)
        for w in ws:
            try:
                w.wait(timeout=30)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()

    def timed(self, workload, n, procs, concurrency, timeout=900):
        """n jobs of a workload, from the first take to the last finish."""
        r = self.srv.client()
        r.flushall()
        self.run("fill", self.srv.port, workload, n)
        ws = self.workers(procs, concurrency)
        try:
            t0 = self.wait_left(r, n, n, timeout, self.queued_lua)
            rc, wc = redis_cpu_s(r), sum(cpu_s(w.pid) for w in ws)
            t1 = self.wait_left(r, n, 1, timeout)
            rss = sum(status_kb(w.pid, "VmHWM") for w in ws)
            wc = sum(cpu_s(w.pid) for w in ws) - wc
            rc = redis_cpu_s(r) - rc
        finally:
            self.stop(ws)
        return {"n": n, "procs": procs, "concurrency": concurrency, "wall_s": t1 - t0,
                "jobs_per_s": n / (t1 - t0), "peak_rss_kb": rss,
                "cpu_us_per_job": wc / n * 1e6, "redis_us_per_job": rc / n * 1e6}

    def memory(self, procs, concurrency, small, big):
        r = self.srv.client()
        r.flushall()
        ws = self.workers(procs, concurrency)
        try:
            time.sleep(3)  # start-up: interpreters load, workers register
            idle = sum(status_kb(w.pid, "VmRSS") for w in ws)
            marks, done = {}, 0
            for target in (small, big):
                self.run("fill", self.srv.port, "transform", target - done)
                done = target
                self.wait_left(r, done, 1, 900)
                marks[target] = sum(status_kb(w.pid, "VmRSS") for w in ws)
        finally:
            self.stop(ws)
        return {"idle_kb": idle, "after_small_kb": marks[small], "after_big_kb": marks[big],
                "small": small, "big": big, "growth": marks[big] / marks[small] - 1}


DRAIN_ROUNDS = 3

# Each peer with its documented way to use two cores: one process per core
# (Ruby, Node and CPython each run one thread of their code at a time),
# the default or recommended concurrency for short jobs, a high one for
# I/O waits, and one job per process for CPU-bound hashing.
PEER_SETTINGS = {
    "sidekiq": {"drain": 10, "io": 50, "io_n": 1000, "small": 20000, "big": 100000},
    "bullmq": {"drain": 100, "io": 5000, "io_n": 10000, "small": 20000, "big": 100000},
    "rq": {"drain": 1, "io": 1, "io_n": 10, "small": 20000, "big": 40000},
}


def peer_drain(p):
    cfg = PEER_SETTINGS[p.name]
    return p.timed("transform", cfg["small"], 2, cfg["drain"])


def median_run(runs):
    """The run with the median rate, every round's rate kept beside it: the
    drains of all systems alternate, so a noisy minute on the shared host
    falls on each of them alike."""
    m = sorted(runs, key=lambda x: x["jobs_per_s"])[len(runs) // 2]
    return dict(m, rounds=[x["jobs_per_s"] for x in runs])


def peer(p, drained, hash_n, latency_n):
    name, srv = p.name, p.srv
    cfg = PEER_SETTINGS[name]
    res = {"version": p.version, "drain": drained}
    log(f"  {name} io ...")
    res["io"] = p.timed("sleep", cfg["io_n"], 2, cfg["io"])
    log(f"  {name} cpu ...")
    one = p.timed("hash", hash_n, 1, 1)
    two = p.timed("hash", hash_n, 2, 1)
    res["cpu"] = {"one": one["jobs_per_s"], "two": two["jobs_per_s"],
                  "ratio": two["jobs_per_s"] / one["jobs_per_s"], "n": hash_n}
    log(f"  {name} memory ...")
    res["memory"] = p.memory(2, cfg["drain"], cfg["small"], cfg["big"])
    if latency_n and "latency)" in open(p.script).read():
        log(f"  {name} latency ...")
        res["latency"] = json.loads(p.run("latency", srv.port, latency_n).strip().splitlines()[-1])
    return res


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    redis_v = subprocess.run(["redis-server", "--version"], capture_output=True,
                             text=True).stdout.split()[2]
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, Redis {redis_v}"


def svg(systems, path):
    """A bar chart of drain throughput per system (log-free, labelled)."""
    w, h, left, top, bar = 640, 60 + 40 * len(systems), 140, 40, 26
    peak = max(v for _, v in systems) or 1
    rows = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            f'font-family="sans-serif" font-size="13">',
            f'<text x="{left}" y="22" font-weight="bold">data.transform drain, jobs/s '
            f'(same redis-server, 2 cores)</text>']
    for i, (name, v) in enumerate(systems):
        y = top + i * 40
        bw = max(1, (w - left - 110) * v / peak)
        rows.append(f'<text x="{left - 10}" y="{y + 18}" text-anchor="end">{name}</text>')
        rows.append(f'<rect x="{left}" y="{y}" width="{bw:.0f}" height="{bar}" '
                    f'fill="{"#2b6cb0" if name == "jobq" else "#a0aec0"}"/>')
        rows.append(f'<text x="{left + bw + 6:.0f}" y="{y + 18}">{v:,.0f}</text>')
    rows.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(rows) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller counts, no peers")
    ap.add_argument("--peers", default="sidekiq,bullmq,rq")
    a = ap.parse_args()
    q = a.quick
    srv = RedisServer().start()
    res = {}
    try:
        log("redis floor ..."); res["floor"] = redis_floor(srv)
        peers = {}
        for name in ([] if q else a.peers.split(",")):
            if name:
                try:
                    peers[name] = Peer(name, srv)
                except Exception as e:  # a peer that fails is reported, not fatal
                    log(f"peer {name} failed: {e}")
        drains = {name: [] for name in ["jobq", *peers]}
        for i in range(1 if q else DRAIN_ROUNDS):
            log(f"drain, round {i + 1} ...")
            drains["jobq"].append(drain(srv, 20000 if q else 200000))
            for name, p in list(peers.items()):
                try:
                    drains[name].append(peer_drain(p))
                except Exception as e:
                    log(f"peer {name} failed: {e}")
                    del peers[name]
        res["drain"] = median_run(drains["jobq"])
        log("latency ..."); res["latency"] = latency(srv, 500 if q else 3000)
        log("io concurrency ..."); res["io"] = io_concurrency(srv, 10000)
        log("cpu scaling ..."); res["cpu"] = cpu_scaling(srv, 24 if q else 80)
        log("memory ..."); res["memory"] = memory(srv, 100000 if not q else 20000,
                                                    1000000 if not q else 100000)
        log("instructions ..."); res["ir"] = instructions(srv, 5000 if q else 20000)
        res["peers"] = {}
        for name, p in peers.items():
            log(f"peer {name} ...")
            try:
                res["peers"][name] = peer(p, median_run(drains[name]), 24, 1000)
            except Exception as e:
                log(f"peer {name} failed: {e}")
    finally:
        srv.cleanup()
    report(res)


def rounds(x):
    r = x.get("rounds", [])
    return f"{x['jobs_per_s']:,.0f}" + (
        f" (median of {', '.join(f'{v:,.0f}' for v in r)})" if len(r) > 1 else "")


def peer_tables(res, peers):
    """The workloads beside the peers, each system with its own settings,
    ratios as jobq's figure over the peer's."""
    d, lat, io, cpu, mem = (res[k] for k in ("drain", "latency", "io", "cpu", "memory"))

    def mib(kb):
        return f"{kb / 1024:.1f} MiB"
    out = ["", "## Beside the peers, on the same redis-server in the same run", "",
           "Settings: each system on 2 cores as its documentation advises (one process per "
           "core for Ruby, Node and CPython), with the default or advised concurrency for "
           "short jobs and a high one for I/O waits. Times run from the first take to the "
           "last finish. CPU per job: the workers' user+system time; Redis CPU per job: "
           "redis-server's, from INFO.", ""]

    def table(title, header, jobq_row, peer_row, part):
        out.extend([title, "", "| " + " | ".join(header) + " |",
                    "| " + " | ".join("---" for _ in header) + " |", "| " + jobq_row + " |"])
        out.extend(f"| {v['version']} | {peer_row(v[part])} |" for v in peers.values())

    table("### Drain: `data.transform` (the guide's transform_user_data)",
          ("system", "settings", "jobs", "jobs/s", "jobq / peer", "worker CPU per job",
           "Redis CPU per job"),
          f"jobq | 1 process, `--cpu-threads 2` | {d['n']:,} | {rounds(d)} | 1 | "
          f"{d['cpu_us_per_job']:.1f} us | {d['redis_us_per_job']:.1f} us",
          lambda x: f"{x['procs']} processes x concurrency {x['concurrency']} | {x['n']:,} | "
                    f"{rounds(x)} | {d['jobs_per_s'] / x['jobs_per_s']:.1f}x | "
                    f"{x['cpu_us_per_job']:.0f} us | {x['redis_us_per_job']:.1f} us",
          "drain")
    out.append("")
    table("### I/O: `sleep` 1000 ms jobs",
          ("system", "settings", "jobs", "wall", "jobs/s", "jobq / peer", "peak RSS"),
          f"jobq | 1 process, `--io-concurrency {io['n']}` | {io['n']:,} | {io['wall_s']:.2f} s | "
          f"{io['n'] / io['wall_s']:,.0f} | 1 | {mib(io['peak_rss_kb'])}",
          lambda x: f"{x['procs']} processes x concurrency {x['concurrency']} | {x['n']:,} | "
                    f"{x['wall_s']:.2f} s | {x['jobs_per_s']:,.1f} | "
                    f"{io['n'] / io['wall_s'] / x['jobs_per_s']:.0f}x | {mib(x['peak_rss_kb'])}",
          "io")
    out.append("")
    table("### CPU: argon2id interactive (libsodium in every system), 1 vs 2 cores",
          ("system", "jobs", "1 thread or process", "2", "scaling", "jobq / peer on 2"),
          f"jobq | {cpu['n']} | {cpu['one']:.1f}/s | {cpu['two']:.1f}/s | {cpu['ratio']:.2f}x | 1",
          lambda x: f"{x['n']} | {x['one']:.1f}/s | {x['two']:.1f}/s | {x['ratio']:.2f}x | "
                    f"{cpu['two'] / x['two']:.2f}x",
          "cpu")
    out.append("")
    table("### Memory: RSS of all worker processes, `data.transform`",
          ("system", "idle", "after small", "after big", "growth"),
          f"jobq | {mib(mem['idle_kb'])} | {mib(mem['after_small_kb'])} ({mem['small']:,}) | "
          f"{mib(mem['after_big_kb'])} ({mem['big']:,}) | {mem['growth'] * 100:+.1f}%",
          lambda x: f"{mib(x['idle_kb'])} | {mib(x['after_small_kb'])} ({x['small']:,}) | "
                    f"{mib(x['after_big_kb'])} ({x['big']:,}) | {x['growth'] * 100:+.1f}%",
          "memory")
    plat = {k: v["latency"] for k, v in peers.items() if v.get("latency")}
    if plat:
        out += ["", "### Enqueue-to-completion latency, single jobs to an idle worker", "",
                "Each system with its own client and completion notice (jobq: `reply_to` "
                "BLPOP; BullMQ: `job.waitUntilFinished`; RQ: polling the job status), as a "
                "multiple of a PING round trip on that same client. Sidekiq has no result "
                "API, so no figure.", "",
                "| system | p50 | p99 | p99.9 | PING RTT | p50 / RTT |",
                "| --- | --- | --- | --- | --- | --- |",
                f"| jobq | {lat['p50_us']:.0f} us | {lat['p99_us']:.0f} us | "
                f"{lat['p999_us']:.0f} us | {lat['rtt_us']:.0f} us | {lat['p50_x']:.2f}x |"]
        for k, v in plat.items():
            out.append(f"| {peers[k]['version']} | {v['p50_us']:.0f} us | {v['p99_us']:.0f} us | "
                       f"{v['p999_us']:.0f} us | {v['rtt_us']:.0f} us | "
                       f"{v['p50_us'] / v['rtt_us']:.2f}x |")
    out.append("")
    out.append("Instructions per job are counted for jobq only (callgrind): Ruby, Node and "
               "CPython under callgrind measure the interpreter's start-up and JIT more than "
               "the job; the CPU time per job above is the comparable figure.")
    return out


def report(res):
    fl, d, lat, io, cpu, mem, ir = (res[k] for k in ("floor", "drain", "latency", "io", "cpu",
                                                     "memory", "ir"))
    ratio = d["jobs_per_s"] / fl["floor"]
    peers = {k: v for k, v in res["peers"].items() if v}
    best_peer = max((v["drain"]["jobs_per_s"] for v in peers.values()), default=None)

    def met(ok):
        return "met" if ok else "**not met**"
    goals = [
        ("drain >= 0.15 x Redis floor", f"{ratio:.3f}", met(ratio >= 0.15)),
        ("drain >= 10 x best peer",
         f"{d['jobs_per_s'] / best_peer:.1f}x" if best_peer else "no peer measured",
         met(best_peer and d["jobs_per_s"] >= 10 * best_peer) if best_peer else "not measured"),
        ("latency p50 <= 3 x RTT", f"{lat['p50_x']:.2f}x", met(lat["p50_x"] <= 3)),
        ("latency p99 <= 6 x RTT", f"{lat['p99_x']:.2f}x", met(lat["p99_x"] <= 6)),
        ("10000 sleep 1 s < 1.5 s wall", f"{io['wall_s']:.2f} s", met(io["wall_s"] < 1.5)),
        ("... peak RSS < 64 MiB", f"{io['peak_rss_kb'] / 1024:.1f} MiB",
         met(io["peak_rss_kb"] < 64 * 1024)),
        ("CPU scaling 1 -> 2 threads >= 1.8x",
         f"{cpu['ratio']:.2f}x (bare argon2id on this machine: {cpu['raw_ratio']:.2f}x)",
         met(cpu["ratio"] >= 1.8)),
        ("idle RSS < 8 MiB", f"{mem['idle_kb'] / 1024:.1f} MiB", met(mem["idle_kb"] < 8 * 1024)),
        (f"RSS after {mem['big']:,} within 10% of after {mem['small']:,}",
         f"{mem['growth'] * 100:+.1f}%", met(mem["growth"] <= 0.10)),
    ]
    lines = [
        "# jobq benchmark results", "",
        f"Machine: {machine()}. Command: `bench/run.sh`. All figures from one run;",
        "ratios compare things measured on the same redis-server minutes apart.", "",
        "| measure | jobq | reference (same run) | ratio |", "| --- | --- | --- | --- |",
        f"| drain {d['n']:,} `data.transform`, 1 worker, 2 CPU threads | "
        f"{rounds(d)} jobs/s | floor 1/(1/RPOP+1/SET) = {fl['floor']:,.0f}/s "
        f"(RPOP {fl['rpop']:,.0f}/s, SET {fl['set']:,.0f}/s, `redis-benchmark -P 16`) | "
        f"{ratio:.3f} of floor |",
        f"| enqueue-to-reply latency, {lat['n']} single jobs | p50 {lat['p50_us']:.0f} us, "
        f"p99 {lat['p99_us']:.0f} us, p99.9 {lat['p999_us']:.0f} us | PING RTT median "
        f"{lat['rtt_us']:.0f} us (same client) | {lat['p50_x']:.2f}x / {lat['p99_x']:.2f}x / "
        f"{lat['p999_x']:.2f}x |",
        f"| {io['n']:,} `sleep` 1000 ms on one worker (`--io-concurrency {io['n']}`) | "
        f"{io['wall_s']:.2f} s wall, peak RSS {io['peak_rss_kb'] / 1024:.1f} MiB | 1.0 s "
        f"ideal | {io['wall_s']:.2f}x ideal |",
        f"| `password.hash` (argon2id interactive), {cpu['n']} jobs | {cpu['one']:.1f}/s with "
        f"1 thread, {cpu['two']:.1f}/s with 2: {cpu['ratio']:.2f}x | the same hashes in a bare "
        f"C loop: {cpu['raw_one']:.1f}/s, {cpu['raw_two']:.1f}/s: {cpu['raw_ratio']:.2f}x | "
        f"{cpu['ratio'] / cpu['raw_ratio']:.2f} of the machine's own scaling |",
        f"| `math.sum_squares` n=10^8 (ALU-bound), {cpu['n'] // 2} jobs | {cpu['alu_one']:.2f}/s "
        f"with 1 thread, {cpu['alu_two']:.2f}/s with 2 | | {cpu['alu_ratio']:.2f}x |",
        f"| RSS | idle {mem['idle_kb'] / 1024:.1f} MiB; after {mem['small']:,} jobs "
        f"{mem['after_small_kb'] / 1024:.1f} MiB; after {mem['big']:,} "
        f"{mem['after_big_kb'] / 1024:.1f} MiB | | {mem['growth'] * 100:+.1f}% |",
        f"| instructions per `data.transform` job in the worker (callgrind, {ir['n']:,} "
        f"jobs, start-up included) | {ir['ir_per_job']:,.0f} | | |",
    ]
    if peers:
        lines += peer_tables(res, peers)
    lines += ["", "## Goals", "", "| goal | measured | |", "| --- | --- | --- |"]
    lines += [f"| {g} | {m} | {s} |" for g, m, s in goals]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(HERE, "results.md"), "w") as f:
        f.write(text)
    svg([("jobq", d["jobs_per_s"])] + [(k, v["drain"]["jobs_per_s"]) for k, v in peers.items()],
        os.path.join(HERE, "results.svg"))
    print(text)
    with open(os.path.join(HERE, "results.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
