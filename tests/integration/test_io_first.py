"""The seed's first rule across the queue: io work never waits on CPU work,
even when the CPU jobs are ahead of it in the same list, and without the
worker hoarding CPU frames another replica could run (issue #9)."""
import time

from conftest import SLOW, active_len, collect, frame, key, push, unpack, wait_until

HASHES = 60


def hash_frames(prefix, n, reply_to):
    return [frame(f"{prefix}{i}", "password.hash", {"password": f"Secret-{i}"},
                  reply_to=reply_to) for i in range(n)]


def started_idle(workers, r, *args):
    w = workers(*(("--cpu-threads", "2") if "--cpu-threads" not in args else ()), *args)
    wait_until(lambda: "serving" in w.output(), 10, "the worker's start")
    wait_until(lambda: r.client_list(_type="normal") and any(
        c.get("cmd") == "blmove" for c in r.client_list()), 10, "a blocking take")
    return w


def test_sleep_behind_sixty_hashes_in_one_queue_is_not_held(r, workers):
    w = started_idle(workers, r)
    frames = hash_frames("h", HASHES, "hashes") + [
        frame("s1", "sleep", {"ms": 10}, reply_to="slept")]
    t0 = time.monotonic()
    # One LPUSH: the sleep job is the newest, behind all sixty.
    push(r, "default", *frames)
    rec = collect(r, "slept", 1, 10)[0]
    took = time.monotonic() - t0
    hashed = r.llen("hashes")
    assert rec["status"] == "ok" and rec["result"] == {"slept_ms": 10}
    # Two threads at most a few hashes in: the sleep did not queue behind
    # them (an argon2id hash takes tens of ms here).
    assert hashed <= 6, f"{hashed} hashes finished before the sleep"
    assert took < 0.3 * SLOW, f"sleep took {took * 1000:.0f} ms behind {HASHES} hashes"
    # ...and the CPU frames were not hoarded: the worker held about its
    # window of them while the rest waited in pending for any replica.
    assert active_len(r, w.label) <= 2 * 2 + 2
    assert r.llen(key("default", "pending")) >= HASHES - 2 * 2 - 2 - hashed
    collect(r, "hashes", HASHES, 60)


def test_io_queue_of_its_own_is_never_gated_by_a_full_cpu_window(r, workers):
    w = started_idle(workers, r, "--queues", "cpu,io")
    push(r, "cpu", *hash_frames("h", HASHES, "hashes"))
    wait_until(lambda: r.llen(key("cpu", "pending")) < HASHES, 5, "hashes taken")
    latencies = []
    for i in range(5):
        t0 = time.monotonic()
        push(r, "io", frame(f"s{i}", "sleep", {"ms": 1}, reply_to="slept"))
        assert collect(r, "slept", 1, 10)[0]["status"] == "ok"
        latencies.append(time.monotonic() - t0)
    hashed = r.llen("hashes")
    assert hashed < HASHES / 2, f"{hashed} hashes finished first"
    assert max(latencies) < 0.3 * SLOW, [f"{x * 1000:.0f} ms" for x in latencies]
    assert active_len(r, w.label, "cpu") <= 2 * 2 + 1
    collect(r, "hashes", HASHES, 60)


def test_cpu_frames_left_in_pending_stay_in_order_for_other_replicas(r, workers):
    """PICK moves only the io frames: the hashes another replica would take
    next are the oldest, in the order they were pushed."""
    started_idle(workers, r)
    frames = hash_frames("h", 20, "hashes")
    frames.insert(10, frame("s1", "sleep", {"ms": 1}, reply_to="slept"))
    push(r, "default", *frames)
    collect(r, "slept", 1, 10)
    pending = [unpack(unpack(f)["job"])["id"]
               for f in r.lrange(key("default", "pending"), 0, -1)]
    oldest_first = pending[::-1]
    ids = [f"h{i}" for i in range(20)]
    assert "s1" not in oldest_first
    assert oldest_first == ids[len(ids) - len(oldest_first):]
    assert len(oldest_first) >= 20 - (2 * 2 + 2) - r.llen("hashes")
    collect(r, "hashes", 20, 60)


def test_a_queue_turning_from_io_to_cpu_jobs_is_not_hoarded(r, workers):
    """The attack on #9: after 200 io jobs a TAKE sized by the queue's io
    share took every hash in pending (299 of 300) for one worker on one
    thread, starving its peers and any higher queue."""
    w = started_idle(workers, r, "--cpu-threads", "1")
    push(r, "default", *[frame(f"s{i}", "sleep", {"ms": 1}, reply_to="slept")
                         for i in range(200)])
    collect(r, "slept", 200, 20)
    push(r, "default", *hash_frames("h", 40, "hashes"))
    most = 0
    while r.llen("hashes") < 5:
        most = max(most, active_len(r, w.label))
        time.sleep(0.01)
    # The CPU window of one thread (2) and one blocking take's frame.
    assert most <= 3, f"held {most} hashes at once on one thread"
    collect(r, "hashes", 40, 60)
