"""Guards that tests/mutants showed missing: each test here kills a mutant
(a small plausible bug) that every other test let through. The mutant it
guards is named in its docstring; tests/mutants/README.md has the table."""
import hashlib
import hmac
import os
import signal
import time

import msgpack
import pytest

from conftest import (active_frames, active_len, collect, frame, job_bytes, key,
                      push, stats, unpack, wait_until)


def test_late_finish_writes_nothing(r, workers):
    """Fencing (01, 28): a job whose frame left this worker's active list
    while it ran (another worker recovered it) finishes late, ok, retry or
    dead alike: nothing is written, counted, pushed or scheduled."""
    w = workers("--worker-id", "late", "--retry-base-ms", "60000")
    jobs = [frame("ok1", "sleep", {"ms": 1500}, reply_to="rep"),
            frame("retry1", "sleep", {"ms": 5000}, reply_to="rep", timeout_ms=1500,
                  max_attempts=3),
            frame("dead1", "sleep", {"ms": 5000}, reply_to="rep", timeout_ms=1500,
                  max_attempts=1)]
    push(r, "default", *jobs)
    wait_until(lambda: active_len(r, "late") == 3, 10, "all three running")
    # What another worker's recovery does, but parked where no worker
    # takes them: this worker's runs are now the late ones.
    (ak,) = {k for k in r.keys(key("default", "active:late-*"))}
    for f in jobs:
        assert r.lrem(ak, 1, f) == 1
        r.rpush("parked", f)
    wait_until(lambda: w.output().count("late finish of job") == 3, 10,
               "three late finishes")
    assert r.get(key("default", "result:ok1")) is None
    assert r.get(key("default", "result:dead1")) is None
    assert r.zcard(key("default", "delayed")) == 0
    assert r.llen(key("default", "dead")) == 0
    assert r.llen(key("default", "pending")) == 0
    assert r.llen("rep") == 0
    assert stats(r) == {}
    assert r.llen("parked") == 3


def test_promoted_frames_wait_behind_pending(r, workers):
    """PROMOTE (02): due frames go to the left of pending, behind frames
    already waiting there; workers take from the right."""
    workers("--worker-id", "busy", "--io-concurrency", "1")
    push(r, "default", frame("blocker", "sleep", {"ms": 3000}, reply_to="rep"))
    wait_until(lambda: active_len(r, "busy") == 1 and
               r.llen(key("default", "pending")) == 0, 10, "blocker running")
    a = frame("a", "sleep", {"ms": 0}, reply_to="rep")
    b = frame("b", "sleep", {"ms": 0}, reply_to="rep")
    d = frame("d", "sleep", {"ms": 0}, reply_to="rep")
    push(r, "default", a)
    push(r, "default", b)
    r.zadd(key("default", "delayed"), {d: int(time.time() * 1000) - 1000})
    wait_until(lambda: r.zcard(key("default", "delayed")) == 0, 5, "d promoted")
    # the one io slot is busy: nothing is taken while we look
    assert r.lrange(key("default", "pending"), 0, -1) == [d, b, a]
    assert [x["id"] for x in collect(r, "rep", 4, 15)] == ["blocker", "a", "b", "d"]


def test_take_order_is_oldest_first(r, workers):
    """TAKE (03): a batch runs oldest first. One CPU thread runs jobs in the
    order they are handed over, so the replies come back in push order."""
    ids = [f"t{i:02d}" for i in range(40)]
    push(r, "default", *[frame(i, "data.transform", {"username": "U"}, reply_to="rep")
                         for i in ids])
    workers("--cpu-threads", "1")
    assert [x["id"] for x in collect(r, "rep", len(ids), 15)] == ids


def test_redelivered_job_with_a_dead_result_runs_again(r, workers):
    """Redelivery (06): only a stored result that says ok lets a redelivered
    job be finished unrun; one that says dead does not."""
    old = {"id": "rd", "queue": "default", "type": "data.transform", "status": "dead",
           "error": "an earlier run", "attempts": 1, "finished_at": 1, "worker": "x"}
    r.set(key("default", "result:rd"), msgpack.packb(old))
    push(r, "default", frame("rd", "data.transform", {"username": "Ran"}, reply_to="rep",
                             frame_fields={"attempt": 1}))
    workers()
    rec = collect(r, "rep", 1, 10)[0]
    assert rec["status"] == "ok" and rec["result"]["username"] == "ran"
    assert rec["attempts"] == 2
    assert unpack(r.get(key("default", "result:rd")))["status"] == "ok"
    assert stats(r) == {"processed": 1}


def test_held_batch_survives_a_finish_behind_it(r, workers):
    """Held outcomes (07): a batch Redis refuses is held at the front of its
    queue's finish list; outcomes that finish behind it must not push it
    out. x's retry is held (its queue's delayed is no zset) while y0 to y2
    finish; once delayed is mended every outcome lands."""
    r.set(key("bad", "delayed"), "not a zset")
    push(r, "bad", frame("x", "no.such.handler", max_attempts=3))
    push(r, "bad", *[frame(f"y{i}", "sleep", {"ms": 400 + 200 * i}, reply_to="rep")
                     for i in range(3)])
    w = workers("--queues", "bad", "--retry-base-ms", "60000")
    # y0's outcome joins the finish list as it settles (the debug line)
    wait_until(lambda: "job y0 on bad: ok" in w.output(), 10, "y0 finished behind x")
    r.delete(key("bad", "delayed"))
    recs = collect(r, "rep", 3, 15)
    assert sorted(x["id"] for x in recs) == ["y0", "y1", "y2"]
    wait_until(lambda: r.zcard(key("bad", "delayed")) == 1, 10, "x's retry landed")
    assert unpack(r.zrange(key("bad", "delayed"), 0, 0)[0])["attempt"] == 1
    wait_until(lambda: active_len(r, w.label, "bad") == 0, 5, "active empty")
    assert stats(r, "bad") == {"processed": 3, "failed": 1, "retried": 1}


def sized_frame(id, size):
    """A frame of exactly size bytes: an unknown frame key carries padding."""
    for pad in range(size):
        f = frame(id, "data.transform", {"username": "U"}, reply_to="rep",
                  frame_fields={"pad": "x" * pad})
        if len(f) == size:
            return f
    raise AssertionError(f"no frame of {size} bytes")


def test_exactly_max_frame_bytes_runs(r, workers):
    """max-frame-bytes (08, 31) is the largest frame that runs, in the take
    and in the decoder alike; one byte more is dead."""
    at, over = sized_frame("at", 2048), sized_frame("over", 2049)
    push(r, "default", at, over)
    workers("--max-frame-bytes", "2048")
    rec = collect(r, "rep", 1, 10)[0]
    assert rec["id"] == "at" and rec["status"] == "ok"
    wait_until(lambda: r.llen(key("default", "dead")) == 1, 10, "over dead")
    d = unpack(r.lindex(key("default", "dead"), 0))
    assert d["frame"] == over
    assert d["error"] == "frame too large (2049 bytes, limit 2048)"


K1 = bytes(range(32))


def test_mac_tail_is_checked(r, workers, tmp_path):
    """Signatures (09): every byte of the MAC counts; one changed in its
    last half is a bad signature, and the job never runs."""
    kf = tmp_path / "keys"
    kf.write_text(f"k1 = {K1.hex()}\n")
    os.chmod(kf, 0o600)
    def signed(id, flip_last=False):
        job = job_bytes(id, "data.transform", {"username": "U"}, reply_to="rep")
        mac = hmac.new(K1, job, hashlib.sha512).digest()[:32]
        if flip_last:
            mac = mac[:31] + bytes([mac[31] ^ 1])
        return msgpack.packb({"v": 1, "job": job, "kid": "k1", "mac": mac},
                             use_bin_type=True)
    push(r, "default", signed("mt", flip_last=True), signed("ok"))
    workers("--signing-keys", str(kf), "--require-signed")
    assert collect(r, "rep", 1, 10)[0]["id"] == "ok"
    wait_until(lambda: r.llen(key("default", "dead")) == 1, 10, "bad mac dead")
    assert unpack(r.lindex(key("default", "dead"), 0))["error"] == "bad signature"
    assert r.get(key("default", "result:mt")) is None and r.llen("rep") == 0


def test_returned_jobs_run_next(r, workers):
    """Shutdown (33): jobs a stopping worker could not finish go back to the
    right end of pending, ahead of the frames that were already waiting."""
    w = workers("--worker-id", "rq", "--io-concurrency", "2", "--shutdown-grace-ms", "200")
    longs = [frame(f"long{i}", "sleep", {"ms": 20000}) for i in range(2)]
    push(r, "default", *longs)
    wait_until(lambda: active_len(r, "rq") == 2, 10, "both long jobs running")
    waiting = [frame(f"wait{i}", "sleep", {"ms": 0}) for i in range(3)]
    push(r, "default", *waiting)
    assert r.llen(key("default", "pending")) == 3  # both io slots are busy
    w.signal(signal.SIGTERM)
    assert w.wait(10) == 0
    pending = r.lrange(key("default", "pending"), 0, -1)
    assert sorted(pending[:3]) == sorted(waiting)
    # the oldest rightmost: it runs first
    assert pending[3:] == [longs[1], longs[0]]


def test_frame_landing_in_a_recovered_list_is_recovered_too(r, workers):
    """Recovery (15): a lapsed worker stays on record until its list has
    stayed empty for a TTL past its deadline, so a frame that lands there
    after its recovery (a blocking take it sent before it froze) is
    recovered too, not stranded. The late landing is played here by hand."""
    a = workers("--worker-id", "gone", "--heartbeat-ttl-ms", "1000")
    push(r, "default", frame("first", "sleep", {"ms": 4000}, reply_to="rep"))
    wait_until(lambda: active_len(r, "gone") == 1, 10, "first held by gone")
    (ak,) = r.keys(key("default", "active:gone-*"))
    a.signal(signal.SIGKILL)
    a.wait(5)
    # a longer TTL for the recovering worker: it keeps gone on record for
    # 3 s past gone's deadline, time enough to play the late landing
    workers("--worker-id", "heir", "--heartbeat-ttl-ms", "3000")
    wait_until(lambda: r.llen(ak) == 0, 10, "gone's list recovered")
    late = frame("late", "sleep", {"ms": 0}, reply_to="rep")
    r.lpush(ak, late)
    recs = {x["id"]: x for x in collect(r, "rep", 2, 15)}
    assert recs["late"]["status"] == "ok" and recs["late"]["worker"].startswith("heir-")
    assert recs["late"]["attempts"] == 2  # the landing counted as a lost run
    assert recs["first"]["attempts"] == 2
    assert r.llen(ak) == 0


def test_take_refused_for_one_queue_serves_the_others(r, workers):
    """A refused take (20) sets its queue aside and goes on with the next
    queue in the same round. Here only the take's script refuses high (its
    dead key is no list): the scripts a lost reply would run instead still
    work on high, so nothing else would set it aside."""
    r.set(key("high", "dead"), "not a list")
    push(r, "high", frame("h1", "data.transform", {"username": "U"}, reply_to="rep_h"))
    push(r, "low", *[frame(f"l{i}", "data.transform", {"username": "U"}, reply_to="rep")
                     for i in range(20)])
    w = workers("--queues", "high,low")
    assert len(collect(r, "rep", 20, 10)) == 20
    wait_until(lambda: "take on high failed: WRONGTYPE" in w.output(), 5, "logged")
    assert r.llen(key("high", "pending")) == 1  # not lost: still waiting
    r.delete(key("high", "dead"))
    assert collect(r, "rep_h", 1, 10)[0]["id"] == "h1"
