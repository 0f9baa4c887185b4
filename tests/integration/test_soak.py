"""Mutation soak: 10,000 frames, about half valid and half damaged in every
way soak_frames.py knows (seeded; JOBQ_SOAK_SEED=N repeats a run), pushed to
one worker. Every frame is then found exactly once: an ok result record, a
dead record holding its exact bytes, or still pending; `processed` and
`dead` in stats agree with what was found. The worker stays up throughout
and exits 0 on SIGTERM."""
import os
import random
import signal
import time

import msgpack

import soak_frames
from conftest import SLOW, key, stats, wait_until

Q = "soak"
N = 10000
CHUNK = 250


def settled(c):
    p = c.pipeline(transaction=False)
    p.llen(key(Q, "pending"))
    p.zcard(key(Q, "delayed"))
    pending, delayed = p.execute()
    active = sum(c.llen(k) for k in c.scan_iter(match=key(Q, "active:*")))
    return pending == 0 and delayed == 0 and active == 0


def test_10000_mutated_frames_each_end_exactly_once(r, workers):
    seed = int(os.environ.get("JOBQ_SOAK_SEED", random.randrange(1 << 31)))
    print(f"\nsoak seed {seed}")
    frames = soak_frames.generate(random.Random(seed), N)
    r.set(soak_frames.NOT_A_LIST, "a string, not a list")
    w = workers("--queues", Q, "--cpu-threads", "1", "--log-level", "warn",
                *soak_frames.WORKER_ARGS)
    t0 = time.time()
    for lo in range(0, N, CHUNK):
        assert w.alive(), f"worker died after {lo} frames:\n{w.output()[-3000:]}"
        r.lpush(key(Q, "pending"), *[f for _, f in frames[lo:lo + CHUNK]])
    deadline = time.time() + 120 * SLOW
    while not settled(r):
        assert w.alive(), f"worker died:\n{w.output()[-3000:]}"
        assert time.time() < deadline, f"not drained in {120 * SLOW:.0f}s: {stats(r, Q)}"
        time.sleep(0.05)
    drained = time.time() - t0
    assert w.alive()
    w.signal(signal.SIGTERM)
    assert w.wait(30) == 0, w.output()[-3000:]
    summary, problems = soak_frames.account(r, Q, frames)
    print(f"soak: seed={seed} frames={N} drained in {drained:.1f}s; {summary}")
    assert not problems, "\n".join(problems[:40])
    assert r.get(soak_frames.NOT_A_LIST) == b"a string, not a list"


def test_records_of_a_job_type_that_is_not_utf8_are_strict_msgpack(r, workers):
    """Found by the soak: a bit flip in a job's type leaves a str that is
    not UTF-8. Such a job cannot be read (a type is UTF-8), so it is dead
    with no result and no reply; its dead record must still be msgpack
    that a strict reader (Python's default) can read, since producers and
    operator tools read them."""
    workers("--queues", Q, "--default-max-attempts", "1")
    job = b"\x83" + soak_frames.m("id") + soak_frames.m("u8") + soak_frames.m("type") + \
        b"\xa5sl\xe9ep" + soak_frames.m("reply_to") + soak_frames.m("soak:u8")
    raw = soak_frames.m({"v": 1, "job": job})
    r.lpush(key(Q, "pending"), raw)
    wait_until(lambda: r.llen(key(Q, "dead")) == 1, 10, "the dead record")
    assert r.llen("soak:u8") == 0 and r.get(key(Q, "result:u8")) is None
    dead = msgpack.unpackb(r.lindex(key(Q, "dead"), 0), raw=False)
    assert dead["error"] == "job type must be 1 to 128 printable bytes of UTF-8"
    assert dead["frame"] == raw
    for what, b in (("dead record", r.lindex(key(Q, "dead"), 0)),):
        try:
            msgpack.unpackb(b, raw=False)
        except UnicodeDecodeError as e:
            raise AssertionError(f"{what} is not strict msgpack ({e}): {b[:120]!r}")
