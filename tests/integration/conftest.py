"""Fixtures for the integration tests: a real redis-server on a free
loopback port, started and stopped by PID, and jobq-worker processes.

Producers here are written the way a Python service would write them with
only redis-py and msgpack: the tests double as proof that the wire protocol
needs no jobq code."""
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import msgpack
import pytest
import redis

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKER = os.environ.get("JOBQ_WORKER", os.path.join(ROOT, "build", "jobq-worker"))
# Sanitizer builds run several times slower; deadlines scale with this.
SLOW = float(os.environ.get("JOBQ_TEST_SLOWDOWN", "1"))


# handlers/ holds the commands and runners the tests start, not tests (its
# runner_test.py would match pytest's *_test.py).
collect_ignore_glob = ["handlers/*"]

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, appendonly=False, extra=()):
        self.dir = tempfile.mkdtemp(prefix="jobq-redis-")
        self.appendonly = appendonly
        self.extra = list(extra)
        self.port = None
        self.proc = None

    def start(self):
        for _ in range(20):
            port = self.port or free_port()
            args = ["redis-server", "--bind", "127.0.0.1", "--port", str(port),
                    "--dir", self.dir, "--save", "",
                    "--appendonly", "yes" if self.appendonly else "no",
                    "--appendfsync", "always", "--logfile", "redis.log"] + self.extra
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            deadline = time.time() + 10
            while time.time() < deadline and self.proc.poll() is None:
                try:
                    redis.Redis(port=port).ping()
                    self.port = port
                    return self
                except redis.ConnectionError:
                    time.sleep(0.02)
            self.stop()
            if self.port:  # a fixed port (restart) that did not come back
                time.sleep(0.2)
        raise RuntimeError("redis-server did not start")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)

    def client(self):
        return redis.Redis(port=self.port)

    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def cleanup(self):
        self.stop(signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def shared_redis():
    srv = RedisServer().start()
    yield srv
    srv.cleanup()


@pytest.fixture
def r(shared_redis):
    c = shared_redis.client()
    c.flushall()
    return c


class Worker:
    def __init__(self, url, *args, env=None, nofile=None):
        self.log = tempfile.NamedTemporaryFile(prefix="jobq-worker-", suffix=".log",
                                               delete=False)
        self.args = [WORKER, "--redis", url, "--http", "off",
                     "--log-level", "debug"] + list(args)

        def limit_fds():  # nofile: the worker's open-file limit, soft and hard
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=self.log,
                                     env=dict(os.environ, **(env or {})),
                                     preexec_fn=limit_fds if nofile else None)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        return self.proc.wait(timeout=timeout * SLOW)

    def alive(self):
        return self.proc.poll() is None

    def output(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    @property
    def label(self):
        """The worker's name (its key id is this plus a nonce)."""
        if "--worker-id" in self.args:
            return self.args[self.args.index("--worker-id") + 1]
        m = wait_until(lambda: re.search(r"jobq-worker (\S+) \(key id", self.output()),
                       10, "the worker's start line")
        return m.group(1)

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def workers(shared_redis):
    started = []

    def start(*args, redis_server=None, env=None, expect_rc=(0,), nofile=None):
        w = Worker((redis_server or shared_redis).url(), *args, env=env, nofile=nofile)
        w.expect_rc = expect_rc
        started.append(w)
        return w

    yield start
    for w in started:
        rc = w.stop()
        # A sanitizer report makes the worker exit non-zero: fail loudly.
        if rc not in w.expect_rc and rc != -9:
            print(w.output())
            pytest.fail(f"worker exited {rc}")


def job_bytes(id, type, args=None, **fields):
    job = {"id": id, "type": type}
    if args is not None:
        job["args"] = args
    job.update(fields)
    return msgpack.packb(job, use_bin_type=True)


def frame(id, type, args=None, frame_fields=None, **fields):
    f = {"v": 1, "job": job_bytes(id, type, args, **fields)}
    f.update(frame_fields or {})
    return msgpack.packb(f, use_bin_type=True)


def key(q, name):
    return f"jobq:{{{q}}}:{name}"


def active_keys(r, label, q="default"):
    """The active lists of workers started as `label`: a worker's key id is
    its label plus a nonce drawn at each start (protocol.md, W)."""
    return [k for k in r.keys(key(q, f"active:{label}*"))
            if k.decode().endswith(f":{label}") or len(k.decode().rsplit("-", 1)[1]) == 8]


def active_len(r, label, q="default"):
    return sum(r.llen(k) for k in active_keys(r, label, q))


def active_frames(r, label, q="default"):
    return [f for k in active_keys(r, label, q) for f in r.lrange(k, 0, -1)]


def push(r, q, *frames):
    r.lpush(key(q, "pending"), *frames)


def unpack(b):
    return msgpack.unpackb(b, raw=False)


def wait_until(cond, timeout, what="condition"):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout * SLOW:.1f}s waiting for {what}")


def collect(r, reply_key, n, timeout):
    """Pops n records from a reply_to list, failing at the deadline."""
    out = []
    deadline = time.time() + timeout * SLOW
    while len(out) < n:
        left = deadline - time.time()
        if left <= 0:
            raise AssertionError(f"got {len(out)} of {n} replies in {timeout * SLOW:.1f}s")
        got = r.blpop(reply_key, timeout=max(1, int(left)))
        if got:
            out.append(unpack(got[1]))
    return out


def stats(r, q="default"):
    return {k.decode(): int(v) for k, v in r.hgetall(key(q, "stats")).items()}
