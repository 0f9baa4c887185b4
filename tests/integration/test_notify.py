"""The systemd notify protocol, against a datagram socket standing in for
systemd: READY=1 only once Redis answers, WATCHDOG=1 from the loop at half
WATCHDOG_USEC, STATUS= with a summary, STOPPING=1 on SIGTERM."""
import os
import signal
import socket
import tempfile
import time

from conftest import SLOW, RedisServer, free_port

WATCHDOG_USEC = 200000  # pings every 100 ms


class Supervisor:
    """The receiving end of NOTIFY_SOCKET: every datagram, in order."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="jobq-notify-")
        self.path = os.path.join(self.dir, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.got = []

    def until(self, cond, timeout, what):
        deadline = time.time() + timeout * SLOW
        while not cond(self.got):
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError(f"no {what} in {timeout * SLOW:.1f}s; got {self.got}")
            self.sock.settimeout(left)
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            self.got.append(dict(kv.split("=", 1) for kv in msg.split("\n") if kv))
        return self.got

    def close(self):
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


def count(msgs, k):
    return sum(1 for m in msgs if k in m)


def test_ready_after_redis_watchdog_from_the_loop_and_stopping(workers):
    sup = Supervisor()
    srv = RedisServer()
    srv.port = free_port()  # not yet listening: the worker waits for it
    try:
        w = workers("--queues", "a,b", redis_server=srv,
                    env={"NOTIFY_SOCKET": sup.path,
                         "WATCHDOG_USEC": str(WATCHDOG_USEC)})
        # The loop pings while Redis is away, and is not ready.
        sup.until(lambda g: count(g, "WATCHDOG") >= 3, 10, "three watchdog pings")
        assert count(sup.got, "READY") == 0
        assert all("Redis down" in m["STATUS"] for m in sup.got)
        srv.start()
        sup.until(lambda g: count(g, "READY") == 1, 15, "READY=1")
        ready = next(m for m in sup.got if "READY" in m)
        assert ready["READY"] == "1" and "2 queue(s), Redis up" in ready["STATUS"]
        n = len(sup.got)
        sup.until(lambda g: count(g[n:], "WATCHDOG") >= 2, 10, "pings after ready")
        w.signal(signal.SIGTERM)
        sup.until(lambda g: count(g, "STOPPING") == 1, 10, "STOPPING=1")
        assert next(m for m in sup.got if "STOPPING" in m)["STATUS"].startswith("stopping: ")
        assert w.wait(30) == 0
        assert count(sup.got, "READY") == 1  # once, however often Redis returns
        assert "systemd watchdog: 200 ms, pinged every 100 ms" in w.output()
    finally:
        srv.cleanup()
        sup.close()
