"""Jobs end to end: each handler's result, reply_to and event; retries and
dead records with their counts; scheduled frames; priority order."""
import hashlib
import threading
import time

import msgpack

from conftest import (active_frames, active_len, collect, frame, key, push, stats,
                      unpack, wait_until)


def subscribe(r, q="default"):
    ps = r.pubsub()
    ps.subscribe(key(q, "events"))
    wait_until(lambda: ps.get_message(timeout=0.1), 5, "subscription")
    return ps


def events(ps, n, timeout=10):
    out = []
    deadline = time.time() + timeout
    while len(out) < n and time.time() < deadline:
        m = ps.get_message(timeout=0.2)
        if m and m["type"] == "message":
            out.append(unpack(m["data"]))
    return out


USER = {"username": "Alice_1", "email": "alice@example.com", "password": "Secret123"}


def test_each_handler_answers_with_result_reply_and_event(r, workers):
    ps = subscribe(r)
    workers("--cpu-threads", "2")
    jobs = {
        "v1": ("user.validate", USER),
        "h1": ("password.hash", {"password": "Secret123"}),
        "k1": ("apikey.generate", {"bytes": 24}),
        "c1": ("user.create", dict(USER, full_name="Alice")),
        "t1": ("data.transform", {"id": 1, "username": "BOB", "email": "B@X.IO",
                                  "full_name": "", "created_at": 9}),
        "d1": ("data.digest", {"b": [1, 2], "a": "x"}),
        "m1": ("video.validate", {"script": "Hello", "voice_id": "v"}),
        "s1": ("math.sum_squares", {"n": 100000}),
        "z1": ("sleep", {"ms": 50}),
    }
    for id, (t, a) in jobs.items():
        push(r, "default", frame(id, t, a, reply_to="replies"))
    recs = {x["id"]: x for x in collect(r, "replies", len(jobs), 20)}
    assert set(recs) == set(jobs)
    for id, rec in recs.items():
        assert rec["status"] == "ok", rec
        assert rec["queue"] == "default" and rec["type"] == jobs[id][0]
        assert rec["attempts"] == 1 and rec["worker"]
        # the same record is stored under the result key, with a TTL
        assert unpack(r.get(key("default", f"result:{id}"))) == rec
        assert 0 < r.ttl(key("default", f"result:{id}")) <= 86400
    assert recs["v1"]["result"] == {"valid": True, "username": "alice_1"}
    assert recs["h1"]["result"]["hash"].startswith("$argon2id$")
    k = recs["k1"]["result"]
    assert len(k["key"]) == 32
    assert k["key_hash"] == hashlib.blake2b(k["key"].encode(), digest_size=32).hexdigest()
    c = recs["c1"]["result"]
    assert "password" not in c and c["full_name"] == "Alice"
    assert c["hashed_password"].startswith("$argon2id$")
    assert recs["t1"]["result"] == {"id": 1, "username": "bob", "email": "b@x.io",
                                    "created_at": 9, "display_name": "BOB"}
    canon = msgpack.packb({"a": "x", "b": [1, 2]}, use_bin_type=True)
    assert recs["d1"]["result"]["digest"] == hashlib.blake2b(canon, digest_size=32).hexdigest()
    assert recs["m1"]["result"] == {"valid": True}
    assert recs["s1"]["result"] == {"sum": sum(i * i for i in range(100000))}
    assert recs["z1"]["result"] == {"slept_ms": 50}
    evs = events(ps, len(jobs))
    assert sorted(e["id"] for e in evs) == sorted(jobs)
    assert all(e["status"] == "ok" and e["attempt"] == 1 for e in evs)
    assert stats(r) == {"processed": len(jobs)}
    assert r.llen(key("default", "pending")) == 0
    # a reply list that nobody pops keeps the result TTL
    push(r, "default", frame("x1", "sleep", {"ms": 0}, reply_to="kept"))
    wait_until(lambda: r.llen("kept") == 1, 10, "reply")
    assert 86000 < r.ttl("kept") <= 86400


def test_big_sum_is_a_decimal_string(r, workers):
    workers()
    # 2^64 < sum < 2^128 for n = 5,000,000
    n = 5_000_000
    push(r, "default", frame("big", "math.sum_squares", {"n": n}, reply_to="rep"))
    rec = collect(r, "rep", 1, 30)[0]
    assert rec["result"] == {"sum": str((n - 1) * n * (2 * n - 1) // 6)}


def test_retry_then_dead_with_counts(r, workers):
    ps = subscribe(r)
    workers("--retry-base-ms", "50", "--retry-max-ms", "200")
    push(r, "default", frame("u1", "no.such.handler", {}, reply_to="rep", max_attempts=3))
    rec = collect(r, "rep", 1, 15)[0]
    assert rec["status"] == "dead"
    assert rec["error"] == "unknown handler: no.such.handler"
    assert rec["attempts"] == 3
    evs = events(ps, 3)
    assert [(e["status"], e["attempt"]) for e in evs] == [("retry", 1), ("retry", 2), ("dead", 3)]
    assert all(e["error"] == "unknown handler: no.such.handler" for e in evs)
    assert stats(r) == {"failed": 3, "retried": 2, "dead": 1}
    dead = [unpack(d) for d in r.lrange(key("default", "dead"), 0, -1)]
    assert len(dead) == 1 and dead[0]["id"] == "u1" and dead[0]["type"] == "no.such.handler"
    f = unpack(dead[0]["frame"])
    assert f["attempt"] == 2 and f["error"] == "unknown handler: no.such.handler"


def test_permanent_failure_is_dead_at_once(r, workers):
    workers()
    bad = dict(USER, password="short")
    push(r, "default", frame("p1", "user.validate", bad, reply_to="rep"))
    rec = collect(r, "rep", 1, 10)[0]
    assert rec["status"] == "dead" and rec["attempts"] == 1
    assert rec["error"] == "Password must be at least 8 characters long"
    assert stats(r) == {"failed": 1, "dead": 1}
    assert r.zcard(key("default", "delayed")) == 0


def test_retry_backoff_waits_in_delayed(r, workers):
    workers("--retry-base-ms", "1500", "--retry-max-ms", "1500")
    push(r, "default", frame("b1", "nope", {}, max_attempts=2))
    wait_until(lambda: r.zcard(key("default", "delayed")) == 1, 10, "retry in delayed")
    (member, due), = r.zrange(key("default", "delayed"), 0, -1, withscores=True)
    now = time.time() * 1000
    # jittered into [base/2, base] after the failure
    assert now + 700 - 500 <= due <= now + 1500 + 100
    assert unpack(member)["attempt"] == 1


def test_scheduled_frame_runs_on_time(r, workers):
    workers()
    due = int(time.time() * 1000) + 1500
    r.zadd(key("default", "delayed"), {frame("sch", "sleep", {"ms": 0}, reply_to="rep"): due})
    rec = collect(r, "rep", 1, 10)[0]
    assert rec["status"] == "ok"
    assert due <= rec["finished_at"] <= due + 750


def test_strict_priority_drains_high_first(r, workers):
    for i in range(40):
        push(r, "low", frame(f"l{i}", "data.transform", {"username": "x"}, reply_to="rep"))
        push(r, "high", frame(f"h{i}", "data.transform", {"username": "x"}, reply_to="rep"))
    workers("--queues", "high,low", "--cpu-threads", "1")
    recs = collect(r, "rep", 80, 20)
    order = [x["queue"] for x in recs]
    assert order[:40] == ["high"] * 40, order


def test_weighted_queues_share_by_weight(r, workers):
    for i in range(300):
        push(r, "a", frame(f"a{i}", "sleep", {"ms": 0}, reply_to="rep"))
        push(r, "b", frame(f"b{i}", "sleep", {"ms": 0}, reply_to="rep"))
    workers("--queues", "a:3,b:1", "--cpu-threads", "1", "--io-concurrency", "4")
    recs = collect(r, "rep", 200, 20)
    na = sum(1 for x in recs if x["queue"] == "a")
    # 3:1 by weight while both have work; batches blur it a little
    assert 120 <= na <= 175, na


def test_notify_enqueues_webhook_job_atomically(r, workers):
    workers()
    push(r, "default", frame("n1", "math.sum_squares", {"n": 3}, reply_to="rep",
                             notify="http://127.0.0.1:9/hook", traceparent="00-ab-cd-01"))
    rec = collect(r, "rep", 1, 10)[0]
    assert rec["status"] == "ok"
    # webhook.post has no handler yet in this worker: it is retried, which
    # is how we see it was enqueued with the record as payload.
    def notify_job():
        for m in r.zrange(key("default", "delayed"), 0, -1):
            return unpack(unpack(m)["job"])
    job = wait_until(notify_job, 10, "notify job")
    assert job["id"] == "n1:notify" and job["type"] == "webhook.post"
    assert job["args"]["url"] == "http://127.0.0.1:9/hook"
    assert job["args"]["payload"] == rec
    assert job["traceparent"] == "00-ab-cd-01"


def test_redelivered_job_with_ok_result_is_not_run_again(r, workers):
    rec = {"id": "r1", "queue": "default", "type": "sleep", "status": "ok",
           "result": {"slept_ms": 1}, "attempts": 1, "finished_at": 1, "worker": "x"}
    r.set(key("default", "result:r1"), msgpack.packb(rec))
    ps = subscribe(r)
    workers()
    push(r, "default", frame("r1", "sleep", {"ms": 1}, frame_fields={"attempt": 1}))
    wait_until(lambda: r.llen(key("default", "pending")) == 0, 10, "take")
    wait_until(lambda: not any(r.keys(key("default", "active:*"))) or
               all(r.llen(k) == 0 for k in r.keys(key("default", "active:*"))), 10, "finish")
    assert events(ps, 1, timeout=1) == []
    assert stats(r) == {}
    assert unpack(r.get(key("default", "result:r1"))) == rec


def test_redis_by_host_name(r, workers, shared_redis):
    # Names are resolved with evdns on the loop, never a blocking lookup.
    workers("--redis", f"redis://localhost:{shared_redis.port}")
    push(r, "default", frame("dns1", "sleep", {"ms": 0}, reply_to="rep"))
    assert collect(r, "rep", 1, 10)[0]["status"] == "ok"


def test_small_io_window_keeps_its_slots_full(r, workers):
    # With 4 io slots, each finished sleep must let another start at once,
    # not wait for the whole batch: 40 x 300 ms in 4 slots is 3 s of waves
    # either way, but staggered jobs show whether slots refill one by one.
    workers("--io-concurrency", "4", "--cpu-threads", "2")
    # fast CPU jobs first: the adaptive CPU window grows to its maximum
    push(r, "default", *[frame(f"f{i}", "data.transform", {"username": "x"})
                         for i in range(3000)])
    wait_until(lambda: stats(r).get("processed") == 3000, 20, "fast jobs")
    push(r, "default", *[frame(f"w{i}", "sleep", {"ms": 100 + 100 * (i % 4)}, reply_to="rep")
                         for i in range(40)])
    t0 = time.time()
    collect(r, "rep", 40, 20)
    # waves would cost 10 x 400 ms = 4 s; refilling slot by slot about 2.5 s
    assert time.time() - t0 < 3.4


def test_out_of_order_finishes_leave_exactly_the_running_frames(r, workers):
    # The first frame taken runs longest; the 60 after it finish in reverse
    # take order, in batches. Active must then hold the long one alone, in
    # its place, and nothing else: finishing cuts batches out of active and
    # puts back the frames that are still running.
    workers("--io-concurrency", "100", "--worker-id", "ooo")
    long = frame("long", "sleep", {"ms": 3000})
    push(r, "default", long)
    wait_until(lambda: active_len(r, "ooo") == 1, 10, "long job taken")
    push(r, "default", *[frame(f"s{i}", "sleep", {"ms": 1200 - 15 * i}) for i in range(60)])
    wait_until(lambda: stats(r).get("processed") == 60, 20, "short jobs")
    assert active_frames(r, "ooo") == [long]
    wait_until(lambda: stats(r).get("processed") == 61, 20, "long job")
    assert active_len(r, "ooo") == 0
    for id in ["long"] + [f"s{i}" for i in range(60)]:
        assert unpack(r.get(key("default", f"result:{id}")))["status"] == "ok"


def test_io_window_fills_in_whole_batches(r, workers):
    # 2,500 sleeps in 2,500 io slots are all taken before the first one
    # ends, a thousand per take, although a frame's class is unknown until
    # it is read (the window follows the share of io jobs seen).
    r.config_resetstat()
    push(r, "default", *[frame(f"s{i}", "sleep", {"ms": 3000}) for i in range(2500)])
    workers("--io-concurrency", "2500")
    wait_until(lambda: r.llen(key("default", "pending")) == 0, 10, "all taken")
    assert stats(r).get("processed", 0) == 0
    takes = r.info("commandstats")["cmdstat_evalsha"]["calls"]  # takes and upkeep
    assert takes < 20, f"{takes} takes for 2,500 frames"
    wait_until(lambda: stats(r).get("processed") == 2500, 30, "all done")
