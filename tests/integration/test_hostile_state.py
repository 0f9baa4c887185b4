"""Hostile producers and damaged Redis state (protocol.md, "Hostile input and
hostile state"): what one bad producer or one damaged key may cost is its own
job, never another's; no worker's clock, and no stall of Redis, makes a live
worker look lapsed; nothing stays in a gone worker's active list."""
import json
import os
import re
import signal
import time

import msgpack

from conftest import (SLOW, RedisServer, active_frames, active_keys, active_len,
                      collect, frame, job_bytes, key, push, stats, unpack,
                      wait_until)

FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def member_ids(r, label, q="default"):
    return [m.decode() for m in r.zrange(key(q, "workers"), 0, -1)
            if m.decode().rsplit("-", 1)[0] == label]


def key_id(r, label, q="default"):
    wait_until(lambda: member_ids(r, label, q), 10, f"{label} on record")
    ids = member_ids(r, label, q)
    assert len(ids) == 1, ids
    return ids[0]


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def evalsha_calls(r):
    return r.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)


# --- reply_to -------------------------------------------------------------

def test_reply_to_of_wrong_type_costs_only_its_own_reply(r, workers):
    r.hset("a-hash", "f", "v")
    jobs = [frame(f"b{i}", "data.transform", {"username": f"U{i}"},
                  reply_to="a-hash" if i == 7 else "rep") for i in range(30)]
    push(r, "default", *jobs)
    w = workers("--cpu-threads", "1")
    recs = collect(r, "rep", 29, 10)
    assert sorted(x["id"] for x in recs) == sorted(f"b{i}" for i in range(30) if i != 7)
    wait_until(lambda: stats(r).get("processed") == 30, 10, "all 30 counted")
    assert stats(r)["reply_failed"] == 1
    assert unpack(r.get(key("default", "result:b7")))["status"] == "ok"
    assert r.hgetall("a-hash") == {b"f": b"v"} and r.ttl("a-hash") == -1
    assert active_len(r, w.label) == 0 and r.llen(key("default", "pending")) == 0
    wait_until(lambda: "reply_to a-hash could not be pushed" in w.output(), 5, "logged")


def test_reply_to_naming_a_jobq_key_is_refused_unrun(r, workers):
    # another queue's pending and dead lists, a worker's active list, and
    # this queue's delayed set before it exists
    r.lpush(key("other", "pending"), *[b"frame%d" % i for i in range(100)])
    r.lpush(key("other", "dead"), *[b"dead%d" % i for i in range(20)])
    r.lpush(key("other", "active:someone-00000000"), *[b"act%d" % i for i in range(30)])
    targets = [key("other", "pending"), key("other", "dead"),
               key("other", "active:someone-00000000"), key("default", "delayed"),
               "jobq:anything"]
    push(r, "default", *[frame(f"t{i}", "sleep", {"ms": 0}, reply_to=t)
                         for i, t in enumerate(targets)])
    workers("--result-ttl-s", "3")
    wait_until(lambda: stats(r).get("dead") == len(targets), 10, "all refused")
    dead = {unpack(d)["id"]: unpack(d) for d in r.lrange(key("default", "dead"), 0, -1)}
    for i in range(len(targets)):
        assert dead[f"t{i}"]["error"] == "reply_to names a jobq key"
    assert stats(r).get("processed") is None  # none ran
    assert r.llen(key("other", "pending")) == 100 and r.ttl(key("other", "pending")) == -1
    assert r.llen(key("other", "dead")) == 20 and r.ttl(key("other", "dead")) == -1
    assert r.llen(key("other", "active:someone-00000000")) == 30
    assert r.exists(key("default", "delayed")) == 0 and r.exists("jobq:anything") == 0
    # a retry can still be scheduled: delayed did not become a list
    push(r, "default", frame("later", "no.such.handler", max_attempts=2))
    wait_until(lambda: r.zcard(key("default", "delayed")) == 1, 10, "retry scheduled")


# --- lost, frozen, restarted and doubled workers ---------------------------

def test_frozen_worker_last_blocking_take_strands_nothing(r, workers):
    """A worker frozen right after it sent a blocking take; its job is
    recovered while that take may still be waiting, and could move the
    recovered frame back into the frozen worker's list: in every round the
    job must still finish, and the list end empty."""
    for rnd in range(4):
        r.flushall()
        a = workers("--worker-id", "fa", "--heartbeat-ttl-ms", "1000")
        push(r, "default", frame(f"j{rnd}", "sleep", {"ms": 2000}, reply_to="rep"))
        wait_until(lambda: active_len(r, "fa") == 1, 10, "job held by fa")
        # a finished job sends fa straight back to a fresh blocking take
        push(r, "default", frame(f"t{rnd}", "sleep", {"ms": 0}, reply_to="rep_t"))
        collect(r, "rep_t", 1, 10)
        a.signal(signal.SIGSTOP)
        b = workers("--worker-id", "fb", "--heartbeat-ttl-ms", "1000")
        got = collect(r, "rep", 1, 15)
        assert got[0]["id"] == f"j{rnd}"
        a.signal(signal.SIGKILL)
        a.wait(5)
        wait_until(lambda: active_len(r, "fa") == 0, 5, "fa's list empty")
        b.stop()


def test_restart_under_the_same_name_counts_the_lost_attempt(r, workers):
    a = workers("--worker-id", "same", "--heartbeat-ttl-ms", "1000")
    push(r, "default", frame("crash", "sleep", {"ms": 2500}, reply_to="rep"))
    wait_until(lambda: active_len(r, "same") == 1, 10, "job held")
    a.signal(signal.SIGKILL)
    a.wait(5)
    workers("--worker-id", "same", "--heartbeat-ttl-ms", "1000")
    rec = collect(r, "rep", 1, 15)[0]
    assert rec["status"] == "ok" and rec["attempts"] == 2  # the lost run counted
    assert stats(r)["failed"] == 1 and stats(r)["processed"] == 1


def runs(workers_, job_id):
    """How many times the workers ran a job (each run logs its outcome)."""
    return sum(len(re.findall(rf"job {job_id} on default: ", w.output())) for w in workers_)


def test_two_live_workers_with_one_name_run_each_job_once(r, workers):
    twins = [workers("--worker-id", "twin", "--io-concurrency", "20") for _ in range(2)]
    wait_until(lambda: all("redis: connected" in w.output() for w in twins), 10, "both up")
    push(r, "default", *[frame(f"d{i}", "sleep", {"ms": 300 + 50 * i}, reply_to="rep")
                         for i in range(40)])
    wait_until(lambda: r.llen(key("default", "pending")) == 0, 10, "all 40 taken")
    # one twin stops once its own jobs are done: it returns what it holds,
    # and only that, while the other twin's longer jobs still run
    twins[0].signal(signal.SIGTERM)
    assert twins[0].wait(10) == 0
    recs = collect(r, "rep", 40, 20)
    assert sorted(x["id"] for x in recs) == sorted(f"d{i}" for i in range(40))
    twins[1].stop()
    assert [i for i in range(40) if runs(twins, f"d{i}") != 1] == []
    assert stats(r) == {"processed": 40}


def test_worker_clock_behind_by_more_than_the_ttl_is_not_lapsed(r, workers):
    env = {"LD_PRELOAD": FAKETIME, "FAKETIME": "-60s", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    workers("--worker-id", "slowclock", "--heartbeat-ttl-ms", "1000", env=env)
    push(r, "default", frame("long", "sleep", {"ms": 3000}, reply_to="rep"))
    wait_until(lambda: active_len(r, "slowclock") == 1, 10, "job held")
    workers("--worker-id", "honest", "--heartbeat-ttl-ms", "1000")
    key_id(r, "honest")
    rec = collect(r, "rep", 1, 10)[0]
    assert rec["worker"].startswith("slowclock-") and rec["attempts"] == 1
    assert stats(r) == {"processed": 1}


def test_redis_paused_past_the_ttl_recovers_no_live_worker(workers):
    srv = RedisServer().start()
    try:
        r = srv.client()
        # stopped after this server is gone: they exit 1, as they should
        workers("--worker-id", "p1", "--heartbeat-ttl-ms", "1000", redis_server=srv,
                expect_rc=(0, 1))
        workers("--worker-id", "p2", "--heartbeat-ttl-ms", "1000", redis_server=srv,
                expect_rc=(0, 1))
        wait_until(lambda: member_ids(r, "p1") and member_ids(r, "p2"), 10, "both beat")
        push(r, "default", *[frame(f"s{i}", "sleep", {"ms": 2500}, reply_to="rep")
                             for i in range(10)])
        wait_until(lambda: active_len(r, "p1") + active_len(r, "p2") == 10, 10, "all held")
        srv.proc.send_signal(signal.SIGSTOP)
        time.sleep(1.6)  # longer than the TTL
        srv.proc.send_signal(signal.SIGCONT)
        recs = collect(r, "rep", 10, 15)
        assert all(x["attempts"] == 1 for x in recs)
        time.sleep(1)
        assert r.llen("rep") == 0
        assert stats(r) == {"processed": 10}
    finally:
        srv.cleanup()


# --- costs a producer chooses --------------------------------------------

def test_far_future_and_infinite_due_times_cost_nothing(r, workers):
    r.zadd(key("default", "delayed"), {frame("far", "sleep"): 1e20,
                                       frame("inf", "sleep"): float("inf")})
    w = workers("--cpu-threads", "1")
    wait_until(lambda: "redis: connected" in w.output(), 10, "connected")
    time.sleep(0.5)
    calls0, cpu0 = evalsha_calls(r), cpu_seconds(w.proc.pid)
    time.sleep(2)
    calls, cpu = evalsha_calls(r) - calls0, cpu_seconds(w.proc.pid) - cpu0
    # a promote every 250 ms and a beat every few seconds: about 10
    assert calls < 40, calls
    assert cpu < 0.2 * SLOW, cpu
    assert r.zcard(key("default", "delayed")) == 2


def test_oversized_frames_cost_the_worker_one_frame_at_most(r, workers):
    big = [msgpack.packb({"v": 1, "job": job_bytes(f"big{i}", "sleep"), "pad": b"x" * (32 << 20)})
           for i in range(4)]
    push(r, "default", *big)
    push(r, "default", frame("small", "data.transform", {"username": "U"}, reply_to="rep"))
    w = workers("--cpu-threads", "1")
    assert collect(r, "rep", 1, 20)[0]["status"] == "ok"
    wait_until(lambda: stats(r).get("dead") == 4, 20, "four dead")
    # and one arriving while the worker waits on an empty queue (BLMOVE)
    push(r, "default", big[0])
    wait_until(lambda: stats(r).get("dead") == 5, 20, "fifth dead")
    dead = [unpack(d) for d in r.lrange(key("default", "dead"), 0, -1)]
    assert all(d["error"].startswith("frame too large (") for d in dead)
    assert sorted(d["frame"] for d in dead) == sorted(big + [big[0]])
    assert active_len(r, w.label) == 0
    # 802 MiB before; ASan keeps freed memory in quarantine, hence SLOW
    print("peak RSS KiB", peak_rss_kib(w.proc.pid))
    assert peak_rss_kib(w.proc.pid) < 160 * 1024 * SLOW


# --- a damaged key in one queue ------------------------------------------

def test_wrong_typed_pending_of_one_queue_leaves_the_others_served(r, workers):
    r.set(key("high", "pending"), "not a list")
    push(r, "low", *[frame(f"l{i}", "data.transform", {"username": "U"}, reply_to="rep")
                     for i in range(20)])
    w = workers("--queues", "high,low")
    assert len(collect(r, "rep", 20, 10)) == 20
    time.sleep(2)
    lines = [ln for ln in w.output().splitlines() if "on high failed" in ln]
    assert 1 <= len(lines) <= 6, lines  # at most about one a second
    assert "WRONGTYPE" in lines[0]
    # and high is served once it is mended
    r.delete(key("high", "pending"))
    push(r, "high", frame("h1", "data.transform", {"username": "U"}, reply_to="rep"))
    assert collect(r, "rep", 1, 10)[0]["id"] == "h1"


def test_own_active_key_of_wrong_type_is_logged_and_others_served(r, workers):
    w = workers("--queues", "one,two", "--worker-id", "own")
    wid = key_id(r, "own", "one")
    r.set(key("one", f"active:{wid}"), "not a list")
    push(r, "one", frame("o1", "data.transform", {"username": "U"}, reply_to="rep1"))
    push(r, "two", frame("t1", "data.transform", {"username": "U"}, reply_to="rep2"))
    assert collect(r, "rep2", 1, 10)[0]["id"] == "t1"
    wait_until(lambda: re.search(r"on one failed: WRONGTYPE", w.output()), 10, "logged")
    assert r.llen(key("one", "pending")) == 1  # not lost: still waiting
    r.delete(key("one", f"active:{wid}"))
    assert collect(r, "rep1", 1, 10)[0]["id"] == "o1"


def test_wrong_typed_delayed_holds_only_its_queue(r, workers):
    r.set(key("bad", "delayed"), "not a zset")
    push(r, "bad", frame("x", "no.such.handler", max_attempts=3))
    push(r, "good", *[frame(f"g{i}", "data.transform", {"username": "U"}, reply_to="rep")
                      for i in range(10)])
    w = workers("--queues", "bad,good")
    assert len(collect(r, "rep", 10, 10)) == 10
    wait_until(lambda: "finishing 1 jobs on bad failed" in w.output(), 10, "logged")
    assert active_len(r, w.label, "bad") == 1  # held, not lost
    r.delete(key("bad", "delayed"))
    wait_until(lambda: r.zcard(key("bad", "delayed")) == 1, 10, "retry scheduled once mended")


# --- redelivery --------------------------------------------------------------

def test_redelivered_job_with_a_large_ok_result_is_not_run_again(r, workers):
    result = {f"k{i}": i for i in range(200)}
    rec = msgpack.packb({"id": "big", "queue": "default", "type": "data.digest",
                         "status": "ok", "result": result, "attempts": 1,
                         "finished_at": 1, "worker": "earlier"})
    r.set(key("default", "result:big"), rec)
    push(r, "default", frame("big", "data.digest", {"x": 1}, reply_to="rep",
                             frame_fields={"attempt": 1}))
    w = workers()
    wait_until(lambda: "job big already finished ok" in w.output(), 10, "skipped")
    wait_until(lambda: active_len(r, w.label) == 0 and not r.llen(key("default", "pending")),
               5, "finished")
    assert r.get(key("default", "result:big")) == rec and r.llen("rep") == 0


# --- trust -------------------------------------------------------------------

def test_notify_of_an_unsigned_job_is_not_signed(r, workers, tmp_path):
    kf = tmp_path / "keys"
    kf.write_text("k1 = " + "11" * 32 + "\n")
    kf.chmod(0o600)
    workers("--signing-keys", str(kf))
    push(r, "default", frame("n1", "data.transform", {"username": "U"},
                             notify="http://127.0.0.1:9/hook", reply_to="rep"))
    collect(r, "rep", 1, 10)
    notify = [unpack(f) for f in r.lrange(key("default", "pending"), 0, -1)]
    notify += [unpack(f) for f in active_frames(r, "*")]
    notify += [unpack(f) for f, _ in r.zrange(key("default", "delayed"), 0, -1, withscores=True)]
    notify += [unpack(unpack(d)["frame"]) for d in r.lrange(key("default", "dead"), 0, -1)]
    assert notify, "the notify job was enqueued"
    assert all("mac" not in f and "kid" not in f for f in notify)


def test_frame_error_is_not_the_dead_reason_of_a_signed_job(r, workers, tmp_path):
    import hmac
    import hashlib
    k = bytes.fromhex("22" * 32)
    kf = tmp_path / "keys"
    kf.write_text("k1 = " + "22" * 32 + "\n")
    kf.chmod(0o600)
    job = job_bytes("sj", "sleep", {"ms": 0}, max_attempts=3)
    mac = hmac.new(k, job, hashlib.sha512).digest()[:32]
    f = msgpack.packb({"v": 1, "job": job, "kid": "k1", "mac": mac, "attempt": 3,
                       "error": "forged by a producer"}, use_bin_type=True)
    push(r, "default", f)
    workers("--signing-keys", str(kf))
    wait_until(lambda: r.llen(key("default", "dead")) == 1, 10, "dead")
    assert unpack(r.lrange(key("default", "dead"), 0, 0)[0])["error"] == "attempts exhausted"


def frame_with_error(id, error):
    """A frame whose error is a msgpack str of exactly these bytes (valid
    UTF-8 or not), as a careless or hostile producer may write it."""
    assert len(error) < 256
    p = msgpack.Packer(use_bin_type=True)
    return (b"\x84" + p.pack("v") + p.pack(1) + p.pack("job")
            + p.pack(job_bytes(id, "sleep", max_attempts=1)) + p.pack("attempt") + p.pack(1)
            + p.pack("error") + bytes([0xd9, len(error)]) + error)


def test_producer_bytes_cannot_forge_or_blank_a_log_line(r, workers):
    forged = b"x\n2026-01-01T00:00:00.000Z error FORGED"
    bad_utf8 = b"bad \xff\xfe bytes"
    for fmt in ("text", "json"):
        r.flushall()
        r.hset(bad_utf8, "f", "v")  # a reply_to that cannot be pushed, and is logged
        w = workers("--log-format", fmt)
        # bytes in a job pack as msgpack str with use_bin_type off
        job = msgpack.packb({"id": f"u{fmt}", "type": "sleep", "args": {"ms": 0},
                             "reply_to": bad_utf8}, use_bin_type=False)
        push(r, "default", frame_with_error(f"f{fmt}", forged),
             msgpack.packb({"v": 1, "job": job}, use_bin_type=True))
        wait_until(lambda: r.llen(key("default", "dead")) == 1
                   and stats(r).get("reply_failed") == 1, 10, "dead and unreplied")
        wait_until(lambda: "could not be pushed" in w.output(), 5, "logged")
        w.stop()
        lines = w.output().splitlines()
        assert not any(ln.startswith("2026-01-01T00:00:00.000Z") for ln in lines)
        if fmt == "json":
            msgs = [json.loads(ln)["msg"] for ln in lines]
            assert any("FORGED" in m and "\\x0a" in m for m in msgs)
            assert any("bad \\xff\\xfe bytes" in m for m in msgs)
        else:
            assert any("x\\x0a2026-01-01T00:00:00.000Z error FORGED" in ln for ln in lines)


# --- found by attacking the fixes above ------------------------------------

def slowest_script_us(r):
    return max((e["duration"] for e in r.slowlog_get(128)), default=0)


def test_backlog_of_large_frames_drains_without_holding_redis(r, workers):
    """A take was sized in frames, never bytes: 60 legal frames of 0.9 MiB
    made one TAKE run longer than the reply limit, and take and orphan
    return then alternated for ever."""
    pad = b"x" * (900 << 10)
    # small io jobs first, so the worker's window is wide when the large
    # ones come: one take may then ask for all of them
    push(r, "default", *[frame(f"w{i}", "sleep", {"ms": 0}) for i in range(300)])
    push(r, "default", *[msgpack.packb({"v": 1, "job": job_bytes(f"L{i}", "sleep", {"ms": 0},
                                                                 reply_to="rep"),
                                        "pad": pad}, use_bin_type=True) for i in range(60)])
    r.config_set("slowlog-log-slower-than", 0)
    r.slowlog_reset()
    workers("--redis-timeout-ms", "1000")
    assert len(collect(r, "rep", 60, 30)) == 60
    assert slowest_script_us(r) < 500_000


def bump_frame(id, attempt_bytes, **job):
    """A frame whose attempt is encoded as given (raw msgpack bytes)."""
    p = msgpack.Packer(use_bin_type=True)
    return (b"\x83" + p.pack("v") + p.pack(1) + p.pack("job")
            + p.pack(job_bytes(id, "sleep", {"ms": 4000}, reply_to="rep", **job))
            + p.pack("attempt") + attempt_bytes)


def test_lost_worker_is_counted_whatever_the_attempt_encoding(r, workers):
    """attempt as nil or as a signed int reads as a count to the worker, so
    recovery must count a lost worker on it too (it put such frames back
    unchanged, so a job that kills its worker could do so for ever)."""
    frames = {"nil": b"\xc0", "int8": b"\xd0\x00", "int16": b"\xd1\x00\x00",
              "int32": b"\xd2\x00\x00\x00\x00", "int64": b"\xd3" + b"\x00" * 8}
    push(r, "default", *[bump_frame(k, v, max_attempts=1) for k, v in frames.items()])
    a = workers("--worker-id", "holder", "--heartbeat-ttl-ms", "1000")
    wait_until(lambda: active_len(r, "holder") == len(frames), 10, "all held")
    a.signal(signal.SIGKILL)
    a.wait(5)
    workers("--worker-id", "other", "--heartbeat-ttl-ms", "1000")
    wait_until(lambda: r.llen(key("default", "dead")) == len(frames), 15, "all dead")
    dead = {unpack(d)["id"]: unpack(d) for d in r.lrange(key("default", "dead"), 0, -1)}
    assert all(dead[k]["error"].startswith("attempts exhausted") for k in frames), dead


def test_recovering_a_frame_too_costly_to_rewrite_does_not_hold_redis(r, workers):
    """A legal frame with an unknown key of a million tiny elements cost the
    recovery's msgpack walk 0.1 s a frame, with Redis blocked throughout."""
    heavy = [[0] * 65000 for _ in range(16)]
    # Twelve: each costs dispatch a long decode on the loop, and a TAKE now
    # brings no more than the CPU room (4) at a time; the old walk cost
    # Redis 0.1 s a frame, so twelve still fail it by far.
    frames = [msgpack.packb({"v": 1, "job": job_bytes(f"h{i}", "sleep", {"ms": 4000}),
                             "junk": heavy}, use_bin_type=True) for i in range(12)]
    push(r, "default", *frames)
    a = workers("--worker-id", "hv", "--heartbeat-ttl-ms", "1000",
                "--max-frame-bytes", str(2 << 20))
    wait_until(lambda: active_len(r, "hv") == 12, 10, "all held")
    r.config_set("slowlog-log-slower-than", 0)
    r.slowlog_reset()
    a.signal(signal.SIGKILL)
    a.wait(5)
    workers("--worker-id", "hw", "--heartbeat-ttl-ms", "1000")
    wait_until(lambda: r.llen(key("default", "dead")) == 12, 15, "all dead")
    errs = {unpack(d)["error"] for d in r.lrange(key("default", "dead"), 0, -1)}
    assert errs == {"worker lost, and its frame could not be read to count the attempt"}
    assert slowest_script_us(r) < 100_000


def test_damaged_counter_never_loses_a_frame(r, workers):
    """HINCRBY on a stats field that is not a number failed after TAKE had
    cut the batch from pending: a job in neither list."""
    r.hset(key("default", "stats"), "failed", "not a number")
    big = msgpack.packb({"v": 1, "job": job_bytes("big", "sleep"), "pad": b"x" * 3000})
    push(r, "default", frame("a1", "sleep", {"ms": 0}, reply_to="rep"), big,
         *[frame(f"a{i}", "sleep", {"ms": 0}, reply_to="rep") for i in range(2, 6)])
    workers("--max-frame-bytes", "2048")
    assert sorted(x["id"] for x in collect(r, "rep", 5, 10)) == [f"a{i}" for i in range(1, 6)]
    wait_until(lambda: r.llen(key("default", "dead")) == 1, 10, "big dead")


def test_stop_that_cannot_return_its_frames_leaves_them_to_recovery(r, workers):
    """REQUEUE failed (pending of the wrong type) but the worker left the
    heartbeat set anyway: its frames stayed in its active list for good."""
    a = workers("--worker-id", "leaver", "--heartbeat-ttl-ms", "1000",
                "--shutdown-grace-ms", "500", expect_rc=(0, 1))
    push(r, "default", *[frame(f"s{i}", "sleep", {"ms": 5000}, reply_to="rep") for i in range(3)])
    wait_until(lambda: active_len(r, "leaver") == 3, 10, "held")
    r.rename(key("default", "pending"), "saved") if r.exists(key("default", "pending")) else None
    r.set(key("default", "pending"), "damaged")
    a.signal(signal.SIGTERM)
    a.wait(15)
    assert member_ids(r, "leaver"), "left the heartbeat set with its frames still held"
    r.delete(key("default", "pending"))
    workers("--worker-id", "mender", "--heartbeat-ttl-ms", "1000")
    assert sorted(x["id"] for x in collect(r, "rep", 3, 20)) == ["s0", "s1", "s2"]
    assert active_len(r, "leaver") == 0


def test_redis_pause_with_mixed_ttls_runs_nothing_twice(workers):
    """The stall test used the caller's own TTL: a worker with a long TTL
    saw no stall and recovered a live peer with a short one."""
    srv = RedisServer().start()
    try:
        r = srv.client()
        ws = [workers("--worker-id", "long", "--heartbeat-ttl-ms", "60000",
                      redis_server=srv, expect_rc=(0, 1)),
              workers("--worker-id", "short", "--heartbeat-ttl-ms", "1000",
                      redis_server=srv, expect_rc=(0, 1))]
        wait_until(lambda: member_ids(r, "long") and member_ids(r, "short"), 10, "both beat")
        push(r, "default", *[frame(f"m{i}", "sleep", {"ms": 3000}, reply_to="rep")
                             for i in range(20)])
        wait_until(lambda: active_len(r, "long") + active_len(r, "short") == 20, 10, "held")
        srv.proc.send_signal(signal.SIGSTOP)
        time.sleep(2.5)
        srv.proc.send_signal(signal.SIGCONT)
        assert len(collect(r, "rep", 20, 15)) == 20
        for w in ws:
            w.stop()
        assert [i for i in range(20) if runs(ws, f"m{i}") != 1] == []
        assert stats(r) == {"processed": 20}
    finally:
        srv.cleanup()


def test_damaged_clock_key_neither_strands_nor_doubles(r, workers):
    """The queue's clock was trusted whatever it held: -inf pushed every
    deadline to inf (a dead worker's frames stranded), nan or inf turned
    stall detection off, and a missing clock let a beat recover a live
    worker."""
    for bad in ("-inf", "inf", "nan", "0"):
        r.flushall()
        live = workers("--worker-id", "live", "--heartbeat-ttl-ms", "1000")
        doomed = workers("--worker-id", "doomed", "--heartbeat-ttl-ms", "1000")
        wait_until(lambda: member_ids(r, "live") and member_ids(r, "doomed"), 10, "both beat")
        push(r, "default", *[frame(f"{bad}{i}", "sleep", {"ms": 2500}, reply_to="rep")
                             for i in range(10)])
        wait_until(lambda: active_len(r, "live") + active_len(r, "doomed") == 10, 10, "held")
        r.set(key("default", "clock"), bad)
        doomed.signal(signal.SIGKILL)
        doomed.wait(5)
        assert len(collect(r, "rep", 10, 15)) == 10
        live.stop()
        assert r.llen("rep") == 0
        assert active_len(r, "doomed") == 0
        assert stats(r)["processed"] == 10


def test_active_list_of_a_worker_not_on_record_is_recovered(r, workers):
    """Recovery looked only at workers on record: with the workers key
    deleted around a crash, the dead worker's list stayed for good."""
    a = workers("--worker-id", "unlisted", "--heartbeat-ttl-ms", "1000")
    push(r, "default", *[frame(f"u{i}", "sleep", {"ms": 3000}, reply_to="rep") for i in range(5)])
    wait_until(lambda: active_len(r, "unlisted") == 5, 10, "held")
    a.signal(signal.SIGKILL)
    a.wait(5)
    r.delete(key("default", "workers"))
    workers("--worker-id", "finder", "--heartbeat-ttl-ms", "1000")
    assert sorted(x["id"] for x in collect(r, "rep", 5, 15)) == [f"u{i}" for i in range(5)]
    assert active_len(r, "unlisted") == 0
