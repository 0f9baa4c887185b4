"""Bad input, concurrency on the loop, lost workers, graceful stops and a
Redis restart: no job lost, none finished twice, the worker keeps running."""
import os
import signal
import subprocess
import threading
import time

import msgpack

from conftest import (SLOW, WORKER, RedisServer, active_len, collect, frame, job_bytes, key,
                      push, stats, unpack, wait_until)


def nested(depth):
    v = 1
    for _ in range(depth):
        v = [v]
    return v


def bad_frames():
    now = int(time.time() * 1000)
    big = msgpack.packb({"v": 1, "job": job_bytes("big", "sleep", {"pad": "x" * 3000})})
    return {
        "not msgpack": (b"\xc1\x00garbage", "not msgpack: invalid byte 0xc1 at offset 0"),
        "truncated": (frame("t", "sleep")[:-3], "not msgpack: "),
        "not a map": (msgpack.packb([1, 2]), "frame is not a map"),
        "no v": (msgpack.packb({"job": job_bytes("a", "sleep")}), "frame lacks required field v"),
        "no job": (msgpack.packb({"v": 1}), "frame lacks required field job"),
        "v 2": (msgpack.packb({"v": 2, "job": job_bytes("a", "sleep")}), "unsupported protocol version 2"),
        "no id": (msgpack.packb({"v": 1, "job": msgpack.packb({"type": "sleep"})}), "job lacks required field id"),
        "no type": (msgpack.packb({"v": 1, "job": msgpack.packb({"id": "a"})}), "job lacks required field type"),
        "NUL in id": (frame("a\x00b", "sleep"), "job id must be 1 to 64"),
        "too large": (big, "frame too large ("),
        "too deep": (frame("deep", "data.digest", nested(40)), "job: nested deeper than 32"),
        "expired": (frame("exp", "sleep", {"ms": 0}, expires_at=now - 1000), "expired"),
    }


def test_each_bad_frame_is_dead_with_its_bytes(r, workers):
    w = workers("--max-frame-bytes", "2048")
    cases = bad_frames()
    for name, (raw, _) in cases.items():
        push(r, "default", raw)
    push(r, "default", frame("good", "data.transform", {"username": "Ok"}, reply_to="rep"))
    rec = collect(r, "rep", 1, 10)[0]
    assert rec["status"] == "ok"
    wait_until(lambda: r.llen(key("default", "dead")) == len(cases), 10, "dead records")
    dead = [unpack(d) for d in r.lrange(key("default", "dead"), 0, -1)]
    by_frame = {d["frame"]: d for d in dead}
    for name, (raw, reason) in cases.items():
        assert raw in by_frame, f"{name}: frame bytes not kept"
        d = by_frame[raw]
        assert d["error"].startswith(reason), (name, d["error"])
        assert d["worker"] and d["at"] > 0
    assert by_frame[cases["expired"][0]]["id"] == "exp"
    assert stats(r) == {"processed": 1, "failed": len(cases), "dead": len(cases)}
    assert w.alive()
    for k in r.keys(key("default", "active:*")):
        assert r.llen(k) == 0


def test_dead_list_is_trimmed(r, workers):
    workers("--dead-max", "5")
    push(r, "default", *[b"\xc1%d" % i for i in range(12)])
    wait_until(lambda: stats(r).get("dead") == 12, 10, "dead count")
    assert r.llen(key("default", "dead")) == 5


def test_200_sleep_jobs_overlap_on_one_cpu_thread(r, workers):
    workers("--cpu-threads", "1")
    t0 = time.time()
    push(r, "default", *[frame(f"s{i}", "sleep", {"ms": 1000}, reply_to="rep") for i in range(200)])
    recs = collect(r, "rep", 200, 10)
    assert time.time() - t0 < 10 * SLOW
    assert sorted(x["id"] for x in recs) == sorted(f"s{i}" for i in range(200))
    assert all(x["status"] == "ok" for x in recs)


def test_sleep_completes_while_every_cpu_thread_is_busy(r, workers):
    workers("--cpu-threads", "1", "--shutdown-grace-ms", "100")
    # A sum this long keeps the only CPU thread busy for seconds.
    push(r, "default", frame("busy", "math.sum_squares", {"n": 4_000_000_000}, reply_to="rep"))
    wait_until(lambda: r.llen(key("default", "pending")) == 0, 5, "busy job taken")
    t0 = time.time()
    push(r, "default", frame("nap", "sleep", {"ms": 100}, reply_to="rep"))
    rec = collect(r, "rep", 1, 5)[0]
    assert rec["id"] == "nap" and rec["status"] == "ok"
    assert time.time() - t0 < 1.5 * SLOW
    assert r.get(key("default", "result:busy")) is None  # still running


def test_cpu_job_time_limit_cancels_and_retries(r, workers):
    workers("--cpu-threads", "1", "--retry-base-ms", "60000")
    # n at its cap (10^10): seconds of work, far past the 300 ms limit
    push(r, "default", frame("slow", "math.sum_squares", {"n": 10**10}, timeout_ms=300))
    wait_until(lambda: r.zcard(key("default", "delayed")) == 1, 10 , "retry after timeout")
    f = unpack(r.zrange(key("default", "delayed"), 0, 0)[0])
    assert f["error"] == "timeout after 300 ms" and f["attempt"] == 1


def test_io_job_time_limit(r, workers):
    workers("--retry-base-ms", "60000")
    push(r, "default", frame("long", "sleep", {"ms": 5000}, timeout_ms=200))
    wait_until(lambda: r.zcard(key("default", "delayed")) == 1, 5, "retry after timeout")
    f = unpack(r.zrange(key("default", "delayed"), 0, 0)[0])
    assert f["error"] == "timeout after 200 ms"




def test_killed_worker_loses_no_job(r, workers):
    a = workers("--worker-id", "wa", "--heartbeat-ttl-ms", "1000")
    push(r, "default", *[frame(f"k{i}", "sleep", {"ms": 4000}, reply_to="rep") for i in range(50)])
    wait_until(lambda: active_len(r, "wa") == 50, 10, "50 jobs held by wa")
    a.signal(signal.SIGKILL)
    a.wait(5)
    workers("--worker-id", "wb", "--heartbeat-ttl-ms", "1000")
    recs = collect(r, "rep", 50, 20)
    ids = [x["id"] for x in recs]
    assert sorted(ids) == sorted(f"k{i}" for i in range(50))  # all, none twice
    assert all(x["worker"].startswith("wb-") and x["attempts"] == 2 for x in recs)
    s = stats(r)
    assert s["processed"] == 50 and s["failed"] == 50 and s["retried"] == 50
    assert active_len(r, "wa") == 0
    # off the record once its list stayed empty for a TTL past its deadline
    wait_until(lambda: not any(m.startswith(b"wa-") for m in
                               r.zrange(key("default", "workers"), 0, -1)), 5, "wa forgotten")
    assert r.llen("rep") == 0  # nothing finished twice


def test_sigterm_finishes_short_jobs_and_returns_long_ones(r, workers):
    w = workers("--worker-id", "wt", "--shutdown-grace-ms", "1500")
    shorts = [frame(f"short{i}", "sleep", {"ms": 300}, reply_to="rep") for i in range(5)]
    longs = [frame(f"long{i}", "sleep", {"ms": 20000}, reply_to="rep") for i in range(5)]
    push(r, "default", *(longs + shorts))
    wait_until(lambda: active_len(r, "wt") == 10, 10, "10 jobs active")
    t0 = time.time()
    w.signal(signal.SIGTERM)
    assert w.wait(10) == 0
    assert time.time() - t0 < 4 * SLOW
    recs = collect(r, "rep", 5, 1)
    assert sorted(x["id"] for x in recs) == sorted(f"short{i}" for i in range(5))
    pending = r.lrange(key("default", "pending"), 0, -1)
    assert sorted(pending) == sorted(longs)
    assert active_len(r, "wt") == 0
    assert r.zscore(key("default", "workers"), "wt") is None
    # pushed back to the right end: the next worker takes them first
    push(r, "default", frame("later", "sleep", {"ms": 0}))
    assert r.rpop(key("default", "pending")) in longs


def test_redis_restart_mid_stream_loses_nothing(workers):
    srv = RedisServer(appendonly=True).start()
    try:
        c = srv.client()
        w = workers("--redis-timeout-ms", "1000", redis_server=srv)
        ids = [f"j{i}" for i in range(500)]
        frames = [frame(i, "sleep" if n % 2 else "data.transform",
                        {"ms": 30} if n % 2 else {"username": i}) for n, i in enumerate(ids)]

        def produce():
            for f in frames:
                while True:
                    try:
                        srv.client().lpush(key("default", "pending"), f)
                        break
                    except Exception:
                        time.sleep(0.05)
                time.sleep(0.002)

        t = threading.Thread(target=produce)
        t.start()
        wait_until(lambda: (c.hget(key("default", "stats"), "processed") or 0) and
                   int(c.hget(key("default", "stats"), "processed")) > 100, 20, "first 100")
        srv.stop()  # SIGTERM: Redis writes its AOF and exits
        time.sleep(0.5)
        srv.start()
        t.join(60)
        c = srv.client()

        def all_done():
            return all(c.exists(key("default", f"result:{i}")) for i in ids)
        wait_until(all_done, 60, "all 500 results")
        for i in ids:
            assert unpack(c.get(key("default", f"result:{i}")))["status"] == "ok"
        assert c.llen(key("default", "pending")) == 0
        assert w.stop() == 0
        assert "redis: connected" in w.output().split("lost", 1)[1]  # it came back
    finally:
        srv.cleanup()


def run_worker(*args, env=None):
    return subprocess.run([WORKER, *args], capture_output=True, text=True,
                          timeout=30, env=env)


def test_check_config_masks_secrets_and_exits_0():
    p = run_worker("--redis", "redis://app:topsecretpw@127.0.0.1:6379/2",
                   "--admin-token", "admintoken-1234567890", "--check-config")
    assert p.returncode == 0, p.stderr
    assert "topsecretpw" not in p.stdout + p.stderr
    assert "admintoken-1234567890" not in p.stdout + p.stderr
    assert "redis_url = redis://app:***@127.0.0.1:6379/2" in p.stdout


def test_bad_settings_exit_2_naming_every_problem():
    p = run_worker("--cpu-threads", "0", "--queues", "a b", "--redis",
                   "mysql://x:secretpw@h", "--check-config")
    assert p.returncode == 2
    for want in ("cpu-threads", "queues", "redis-url"):
        assert want in p.stderr, p.stderr
    assert "secretpw" not in p.stderr


def test_environment_sits_between_file_and_flags(tmp_path):
    ini = tmp_path / "w.ini"
    ini.write_text("[worker]\ndead_max = 11\nresult_ttl_s = 12\nretry_base_ms = 13\n")
    env = {"JOBQ_DEAD_MAX": "21", "JOBQ_RESULT_TTL_S": "22", "PATH": "/usr/bin:/bin"}
    p = run_worker("-c", str(ini), "--result-ttl-s", "32", "--check-config", env=env)
    assert p.returncode == 0, p.stderr
    assert "dead_max = 21 ; env" in p.stdout
    assert "result_ttl_s = 32 ; flag" in p.stdout
    assert "retry_base_ms = 13 ; file" in p.stdout


def test_redelivered_io_jobs_still_overlap(r, workers):
    # Each redelivered frame first checks its result (holding a slot for the
    # round trip); freeing that slot must let fetching go on at once.
    workers("--cpu-threads", "1")
    t0 = time.time()
    push(r, "default", *[frame(f"rd{i}", "sleep", {"ms": 2000}, reply_to="rep",
                               frame_fields={"attempt": 1}) for i in range(30)])
    recs = collect(r, "rep", 30, 10)
    assert time.time() - t0 < 4 * SLOW
    assert all(x["attempts"] == 2 for x in recs)


def test_stop_while_replies_are_owed_exits_cleanly(workers):
    # Redis pauses while the worker stops, so upkeep commands queue up
    # behind the final requeue and are still owed when the loop ends: their
    # callbacks then run during teardown and must find everything intact.
    srv = RedisServer(extra=["--enable-debug-command", "yes"]).start()
    try:
        for _ in range(10):
            w = workers("--redis-timeout-ms", "3000", "--log-level", "error",
                        redis_server=srv)
            wait_until(lambda: srv.client().zcard(key("default", "workers")) == 1, 10,
                       "worker up")
            pause = threading.Thread(target=lambda: srv.client().execute_command(
                "DEBUG", "SLEEP", "0.8"))
            pause.start()
            time.sleep(0.1)
            w.signal(signal.SIGTERM)
            assert w.wait(15) == 0
            pause.join()
    finally:
        srv.cleanup()


def pinned_cores(w):
    out = []
    for t in os.listdir(f"/proc/{w.proc.pid}/task"):
        with open(f"/proc/{w.proc.pid}/task/{t}/status") as f:
            for line in f:
                if line.startswith("Cpus_allowed_list:"):
                    out.append(line.split()[1])
    return out


def single_cores(w):
    return sorted(int(c) for c in pinned_cores(w) if c.isdigit())


def test_cpu_threads_are_pinned_one_core_each(workers):
    # A thread starts with its creator's mask: /proc shows a new pool thread
    # on every core until pthread_create has pinned it (a few microseconds,
    # before it runs). So wait for the pool to settle, then look again.
    cores = sorted(os.sched_getaffinity(0))
    w = workers("--cpu-threads", str(len(cores)))
    wait_until(lambda: single_cores(w) == cores, 10, "one pool thread per core")
    assert single_cores(w) == cores  # one pool thread per allowed core, in turn
    w2 = workers("--cpu-threads", "2", "--cpu-set", str(cores[-1]))
    wait_until(lambda: single_cores(w2) == [cores[-1]] * 2, 10, "both threads on the core")

