"""Chaos: three worker replicas drain tens of thousands of mixed jobs on one
queue while, about every second, one replica is killed with SIGKILL and
restarted with the same --worker-id. Every sixth kill freezes the replica
(SIGSTOP) with jobs in flight for longer than the heartbeat TTL first, so the
others recover it. Redis itself is stopped once for longer than the TTL,
while one replica is idle in its blocking take and frames are on their way;
that replica is killed and restarted while Redis is stopped.

Afterwards every job has finished ok exactly once: one ok result record and
one reply each, `processed` equals the number enqueued, and nothing is left
in pending, delayed, any active list or the dead list. Handlers are
idempotent, so a job that ran twice shows as `processed` above the count (or
a second reply): equality is asserted. Two more consequences of the
contract are checked, because the counts alone cannot see them:

- a job whose frame was in the active list of a process that was killed
  lost its worker, and recovery counts as a failed attempt: its result
  says at least two attempts more than the frame's `attempt` then (a
  restarted process never takes its predecessor's frames for its own);
- no live worker looks lapsed, not even across the Redis stop, so no
  worker ever finishes a job late (fenced: another worker recovered it).

Sized for about a minute on two cores with a plain -O2 build; a sanitizer
build (JOBQ_TEST_SLOWDOWN > 1) gets fewer jobs, the same deadlines.
JOBQ_CHAOS_SEED=N repeats a run's jobs and schedule."""
import collections
import os
import random
import re
import signal
import threading
import time

import msgpack

from conftest import SLOW, RedisServer, Worker, frame, key, unpack, wait_until

Q = "chaos"
REPLIES = "chaos:replies"        # reply_to: outside the jobq: keys
TTL_MS = 2000                    # heartbeat TTL of every replica
TTL = TTL_MS / 1000
REPLICAS = 3
KILLS = 18                       # SIGKILL + restart, one replica at a time
FREEZE_EVERY = 6                 # every 6th kill freezes the replica > TTL first
PAUSE_AT = 9                     # Redis is stopped around this kill
PAUSE_S = 1.5 * TTL              # longer than the TTL
N = int(40000 / max(SLOW, 1.0))  # fewer jobs, same deadlines, when slower
PRODUCE_S = 24.0                 # production is spread over the kill phase
BATCH = 200
SETTLE_S = 45.0                  # after the last kill: everything finished


def make_jobs(rng):
    """N (id, frame) pairs: io sleeps long enough that every replica has
    hundreds in flight, light cpu jobs, a few argon2 hashes. Every job
    replies to REPLIES."""
    out = []
    for i in range(N):
        jid = f"c{i}"
        x = rng.random()
        if i % 2000 == 1999:
            f = frame(jid, "password.hash", {"password": f"pw-{i}"}, reply_to=REPLIES)
        elif x < 0.45:
            f = frame(jid, "sleep", {"ms": rng.randrange(50, 800)}, reply_to=REPLIES)
        elif x < 0.80:
            f = frame(jid, "data.transform",
                      {"id": i, "username": f"User{i}", "email": f"U{i}@Example.com",
                       "full_name": f"User Number {i}", "created_at": 1700000000000 + i},
                      reply_to=REPLIES)
        else:
            f = frame(jid, "math.sum_squares", {"n": rng.randrange(1, 5000)},
                      reply_to=REPLIES)
        out.append((jid, f))
    return out


class Producer(threading.Thread):
    """Pushes the frames in batches spread over PRODUCE_S of production
    time, so that jobs are taken, running and finishing through every kill
    and the Redis stop. While `hold` is set it pushes nothing."""

    def __init__(self, srv, frames):
        super().__init__(daemon=True)
        self.srv = srv
        self.frames = frames
        self.pushed = 0
        self.error = None
        self.hold = threading.Event()

    def run(self):
        try:
            c = self.srv.client()
            interval = PRODUCE_S * BATCH / len(self.frames)
            nxt = time.time()
            for lo in range(0, len(self.frames), BATCH):
                while True:
                    if self.hold.is_set():
                        time.sleep(0.02)
                        nxt = time.time()
                    elif time.time() < nxt:
                        time.sleep(min(0.02, nxt - time.time()))
                    else:
                        break
                b = self.frames[lo:lo + BATCH]
                c.lpush(key(Q, "pending"), *b)
                self.pushed += len(b)
                nxt += interval
        except Exception as e:  # reported by the test
            self.error = e


def replica_args(i):
    return ["--worker-id", f"cw{i}", "--queues", Q, "--cpu-threads", "1",
            "--heartbeat-ttl-ms", str(TTL_MS), "--retry-base-ms", "20",
            "--retry-max-ms", "500",
            # a job may lose its worker several times here, legitimately
            "--default-max-attempts", "1000", "--log-level", "info"]


def wid_of(active_key):
    return active_key.split(":active:", 1)[1]


def replica_lists(c, i):
    """Active list keys whose worker key id carries replica i's name (the
    contract lets a key id add a nonce to the configured name)."""
    name = re.compile(rf"(?<![A-Za-z0-9])cw{i}(?![A-Za-z0-9])")
    return [k for k in c.scan_iter(match=key(Q, "active:*"), count=1000)
            if name.search(wid_of(k.decode()))]


def redis_ports(pid, redis_port):
    """Local ports of process pid's connections to Redis."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[9] in inodes and int(f[2].rsplit(":", 1)[1], 16) == redis_port:
                ports.add(int(f[1].rsplit(":", 1)[1], 16))
    return ports


def redis_has_read(c, redis_port, ports):
    """True when Redis has read and run everything sent on these client
    ports: nothing waits in its end of the sockets or in its query buffers."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if (int(f[1].rsplit(":", 1)[1], 16) == redis_port and
                    int(f[2].rsplit(":", 1)[1], 16) in ports and
                    int(f[4].split(":")[1], 16) != 0):
                return False
    cls = clients(c)
    return all(int(cls[p].get("qbuf", 0)) == 0 for p in ports if p in cls)


def clients(c):
    """Redis clients by local port of the client's end."""
    out = {}
    for cl in c.client_list():
        out[int(cl["addr"].rsplit(":", 1)[1])] = cl
    return out


def poll(cond, timeout, what):
    """Polls cond until true or the deadline (not scaled: see the module doc)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")


def state(c):
    """How many frames are where, and stats."""
    p = c.pipeline(transaction=False)
    p.llen(key(Q, "pending"))
    p.zcard(key(Q, "delayed"))
    p.llen(key(Q, "dead"))
    p.llen(REPLIES)
    p.hgetall(key(Q, "stats"))
    pending, delayed, dead, replies, st = p.execute()
    active = {}
    for k in c.scan_iter(match=key(Q, "active:*"), count=1000):
        n = c.llen(k)
        if n:
            active[wid_of(k.decode())] = n
    return {"pending": pending, "delayed": delayed, "dead": dead, "replies": replies,
            "active": active, "stats": {k.decode(): int(v) for k, v in st.items()}}


def settled(s):
    return (s["stats"].get("processed", 0) >= N and s["replies"] >= N and
            s["pending"] == 0 and s["delayed"] == 0 and not s["active"])


def frame_id_attempt(raw):
    try:
        f = msgpack.unpackb(raw, raw=False)
        return msgpack.unpackb(f["job"], raw=False)["id"], f.get("attempt", 0)
    except Exception:
        return None, None


def where_left(c):
    """Job ids still in pending, delayed and each active list."""
    left = collections.defaultdict(list)
    for raw in c.lrange(key(Q, "pending"), 0, -1):
        left["pending"].append(frame_id_attempt(raw)[0])
    for raw in c.zrange(key(Q, "delayed"), 0, -1):
        left["delayed"].append(frame_id_attempt(raw)[0])
    for k in c.scan_iter(match=key(Q, "active:*"), count=1000):
        for raw in c.lrange(k, 0, -1):
            left["active:" + wid_of(k.decode())].append(frame_id_attempt(raw)[0])
    return left


def test_chaos_kills_and_redis_stop_lose_and_double_nothing():
    seed = int(os.environ.get("JOBQ_CHAOS_SEED", random.randrange(1 << 31)))
    print(f"\nchaos seed {seed}")
    rng = random.Random(seed)
    jobs = make_jobs(rng)
    ids = [j for j, _ in jobs]
    srv = RedisServer().start()
    reps = []
    retired = []                 # killed processes, for their logs
    crashed = []                 # replicas that exited by themselves
    lost = {}                    # job id -> least attempts its result must say
    lost_frames = 0
    kills = freezes = 0
    timeline = []                # (seconds since start, what)
    passed = False
    t_start = time.time()
    try:
        c = srv.client()
        url = srv.url()
        reps = [Worker(url, *replica_args(i)) for i in range(REPLICAS)]
        producer = Producer(srv, [f for _, f in jobs])
        producer.start()

        def check_alive():
            for i, w in enumerate(reps):
                if not w.alive():
                    crashed.append((i, w.proc.returncode, w.output()[-3000:]))
                    retired.append(w)
                    reps[i] = Worker(url, *replica_args(i))

        def restart(i):
            retired.append(reps[i])
            reps[i] = Worker(url, *replica_args(i))

        def kill(i, redis_up=True):
            """SIGKILL replica i. With Redis up, wait until Redis has run
            what the process sent and dropped its connections, then note
            every frame left in its active lists: those jobs lost their
            worker."""
            nonlocal kills, lost_frames
            w = reps[i]
            ports = redis_ports(w.proc.pid, srv.port) if redis_up else set()
            w.signal(signal.SIGKILL)
            w.proc.wait(timeout=10)
            kills += 1
            timeline.append((time.time() - t_start, f"kill cw{i}"))
            if not redis_up:
                return
            poll(lambda: not ports & clients(c).keys(), 10, "Redis to drop a killed replica")
            for k in replica_lists(c, i):
                for raw in c.lrange(k, 0, -1):
                    jid, attempt = frame_id_attempt(raw)
                    if jid is not None:
                        lost[jid] = max(lost.get(jid, 0), attempt + 2)
                        lost_frames += 1

        def freeze_kill(i):
            """Replica i freezes with jobs in flight and stays frozen for
            longer than the TTL, so the others recover its frames (they
            lost their worker); then it is killed."""
            nonlocal freezes, lost_frames
            w = reps[i]
            ports = redis_ports(w.proc.pid, srv.port)
            w.signal(signal.SIGSTOP)
            freezes += 1
            t0 = time.time()
            timeline.append((t0 - t_start, f"freeze cw{i}"))
            poll(lambda: redis_has_read(c, srv.port, ports), 10,
                 "Redis to run what the frozen replica sent")
            for k in replica_lists(c, i):
                for raw in c.lrange(k, 0, -1):
                    jid, attempt = frame_id_attempt(raw)
                    if jid is not None:
                        lost[jid] = max(lost.get(jid, 0), attempt + 2)
                        lost_frames += 1
            time.sleep(max(0.0, t0 + 1.5 * TTL - time.time()))  # frozen > TTL
            kill(i)
            restart(i)

        def redis_stop_kill(i):
            """Redis stops while replica i is idle in its blocking take and
            frames are on their way; the replica is killed and restarted
            while Redis is stopped. When Redis resumes, the others' queued
            heartbeats, its take and the new frames all land at once."""
            w = reps[i]
            producer.hold.set()
            try:
                def blocked():
                    if c.llen(key(Q, "pending")):
                        return False
                    cls = clients(c)
                    return any(cls[p]["cmd"] == "blmove" and "b" in cls[p]["flags"]
                               for p in redis_ports(w.proc.pid, srv.port) if p in cls)
                try:
                    poll(blocked, 5, f"replica {i} idle in a blocking take")
                    how = f"cw{i} blocked in its take"
                except AssertionError:  # how a worker waits is its own business
                    how = f"cw{i} not seen blocked in a take"
                srv.proc.send_signal(signal.SIGSTOP)
                timeline.append((time.time() - t_start, f"stop redis ({how})"))
            finally:
                producer.hold.clear()
            try:
                time.sleep(PAUSE_S / 2)
                kill(i, redis_up=False)
                restart(i)
                time.sleep(PAUSE_S / 2)
            finally:
                srv.proc.send_signal(signal.SIGCONT)
                timeline.append((time.time() - t_start, "resume redis"))

        next_t = time.time() + 1.0
        for k in range(KILLS):
            next_t += rng.uniform(0.7, 1.3)
            time.sleep(max(0.0, next_t - time.time()))   # the chaos schedule
            check_alive()
            i = rng.randrange(REPLICAS)
            if k == PAUSE_AT:
                redis_stop_kill(i)
            elif k % FREEZE_EVERY == FREEZE_EVERY - 1:
                freeze_kill(i)
            else:
                kill(i)
                restart(i)
            next_t = max(next_t, time.time())
        chaos_s = time.time() - t_start
        producer.join(timeout=60)
        assert not producer.is_alive(), "producer did not finish"
        assert producer.error is None, f"producer failed: {producer.error!r}"
        assert producer.pushed == N

        # Poll until everything has finished, or the deadline.
        deadline = time.time() + SETTLE_S
        s = state(c)
        while not settled(s) and time.time() < deadline:
            check_alive()
            time.sleep(0.2)
            s = state(c)
        check_alive()
        settle_ok = settled(s)
        left = where_left(c)

        # A graceful stop: outcomes still held land, leftovers go to pending.
        # A replica restarted a moment ago may not have reached main() yet
        # (a sanitizer's start is slow), and before main nothing can catch
        # a signal: stop each once it has logged its start.
        for w in reps:
            wait_until(lambda: "(key id" in w.output() or not w.alive(), 10, "replica started")
        rcs = {i: w.stop() for i, w in enumerate(reps)}
        final = state(c)
        elapsed = time.time() - t_start

        # Accounting per job: its result record and its replies.
        results = {}
        for lo in range(0, N, 1000):
            chunk = ids[lo:lo + 1000]
            for jid, raw in zip(chunk, c.mget([key(Q, f"result:{j}") for j in chunk])):
                results[jid] = unpack(raw) if raw is not None else None
        no_result = [j for j in ids if results[j] is None]
        not_ok = [(j, results[j]["status"], results[j].get("error"))
                  for j in ids if results[j] is not None and results[j]["status"] != "ok"]
        replies = collections.Counter(unpack(x)["id"] for x in c.lrange(REPLIES, 0, -1))
        no_reply = [j for j in ids if replies[j] == 0]
        twice = {j: n for j, n in replies.items() if n > 1}
        strangers = [j for j in replies if j not in results]
        dead_ids = [unpack(d).get("id") for d in c.lrange(key(Q, "dead"), 0, -1)]
        uncounted = {j: (results[j]["attempts"], want) for j, want in lost.items()
                     if results.get(j) and results[j]["attempts"] < want}
        attempts = collections.Counter(r["attempts"] for r in results.values() if r)
        logs = "".join(w.output() for w in retired + reps)
        late = logs.count("late finish of job")
        skipped = logs.count("already finished ok")
        recovered = sum(int(m) for m in re.findall(r"recovered (\d+) frames of lapsed", logs))
        orphaned = sum(int(m) for m in re.findall(r"returned (\d+) frames of \S+ whose take", logs))
        processed = final["stats"].get("processed", 0)

        print(f"chaos: jobs={N} kills={kills} (frozen first: {freezes}; one while Redis "
              f"was stopped {PAUSE_S:.1f}s) seconds={elapsed:.1f} (chaos {chaos_s:.1f}) "
              f"seed={seed} processed={processed} settled={settle_ok}")
        print(f"  at the settle deadline: {s}")
        print(f"  after the stop: {final}")
        print("  left at the settle deadline: " +
              ", ".join(f"{k}: {len(v)} {v[:5]}" for k, v in left.items()))
        print(f"  no result: {len(no_result)} {no_result[:10]}; not ok: {len(not_ok)} "
              f"{not_ok[:5]}; no reply: {len(no_reply)} {no_reply[:10]}; replied twice: "
              f"{len(twice)} {list(twice.items())[:10]}; dead ids: {dead_ids[:10]}")
        print(f"  frames in killed replicas' lists: {lost_frames} ({len(lost)} jobs), "
              f"whose results count too few attempts: {len(uncounted)} "
              f"{list(uncounted.items())[:5]}")
        print(f"  attempts: {sorted(attempts.items())}; logged: late finishes {late}, "
              f"redelivered-already-ok skips {skipped}, frames recovered from lapsed "
              f"workers {recovered}, returned as lost takes {orphaned}; replicas that "
              f"died by themselves: {[(i, rc) for i, rc, _ in crashed]}")
        print("  timeline: " + ", ".join(f"{t:.1f}s {what}" for t, what in timeline))
        for i, rc, out in crashed:
            print(f"--- replica {i} exited {rc} by itself; its log's tail:\n{out}")

        assert kills >= 15
        problems = []
        if crashed:
            problems.append(f"replicas died by themselves: {[(i, rc) for i, rc, _ in crashed]}")
        if any(rc != 0 for rc in rcs.values()):
            problems.append(f"exit codes on SIGTERM: {rcs}")
        if processed != N:
            problems.append(f"processed {processed} != enqueued {N}")
        if no_result or not_ok:
            problems.append(f"{len(no_result)} jobs without a result, {len(not_ok)} not ok")
        if no_reply or twice or strangers:
            problems.append(f"{len(no_reply)} jobs without a reply, {len(twice)} replied "
                            f"more than once, {len(strangers)} unknown ids replied")
        if not settle_ok:
            problems.append(f"not settled {SETTLE_S:.0f}s after the last kill: pending "
                            f"{s['pending']}, delayed {s['delayed']}, active {s['active']}")
        if final["pending"] or final["delayed"] or final["active"]:
            problems.append(f"left after the stop: pending {final['pending']}, delayed "
                            f"{final['delayed']}, active {final['active']}")
        if final["dead"] or final["stats"].get("dead", 0):
            problems.append(f"{final['dead']} dead records, stats dead "
                            f"{final['stats'].get('dead', 0)}")
        if uncounted:
            problems.append(f"{len(uncounted)} of {len(lost)} jobs that lost their worker "
                            f"to a kill finished without that failed attempt counted")
        if late:
            problems.append(f"{late} late finishes: live workers looked lapsed and jobs "
                            f"ran twice")
        assert not problems, "; ".join(problems)
        passed = True
    finally:
        if srv.proc and srv.proc.poll() is None:
            srv.proc.send_signal(signal.SIGCONT)
        for w in reps:
            if w.alive():
                w.signal(signal.SIGCONT)
                w.proc.kill()
                w.proc.wait()
        srv.cleanup()
        for w in retired + reps:   # kept for a post-mortem when it failed
            if passed:
                os.unlink(w.log.name)
            else:
                print(f"worker log: {w.log.name}")
