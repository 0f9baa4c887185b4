"""notify.publish: PUBLISH through the worker's own connection, {receivers}
back; bad args are permanent; a publish whose answer is held past the job's
limit is retried and delivered once."""
import selectors
import socket
import threading

import pytest

from conftest import RedisServer, collect, frame, key, push, wait_until


def subscriber(srv, channel):
    ps = srv.client().pubsub()
    ps.subscribe(channel)
    wait_until(lambda: ps.get_message(timeout=0.1), 5, "subscription")
    return ps


def messages_until(ps, sentinel, timeout=10):
    """Every message on the subscription up to the sentinel (published by the
    test after the job's result, so everything before it has arrived)."""
    got = []

    def step():
        m = ps.get_message(timeout=0.1)
        if m and m["type"] == "message":
            if m["data"] == sentinel:
                return True
            got.append(m["data"])
        return False

    wait_until(step, timeout, "the sentinel message")
    return got


def test_publish_reaches_every_subscriber(r, workers, shared_redis):
    subs = [subscriber(shared_redis, "news") for _ in range(2)]
    workers()
    push(r, "default", frame("p1", "notify.publish",
                             {"channel": "news", "message": "hello"}, reply_to="rep"))
    push(r, "default", frame("p2", "notify.publish",
                             {"channel": "nobody", "message": b"\x00\xff"}, reply_to="rep"))
    recs = {x["id"]: x for x in collect(r, "rep", 2, 10)}
    assert recs["p1"]["status"] == "ok" and recs["p1"]["result"] == {"receivers": 2}
    assert recs["p2"]["status"] == "ok" and recs["p2"]["result"] == {"receivers": 0}
    r.publish("news", b"--end--")
    for ps in subs:
        assert messages_until(ps, b"--end--") == [b"hello"]
    # the record that makes a retry publish nothing lives as long as results
    assert 0 < r.ttl(key("default", "published:p1")) <= 86400


@pytest.mark.parametrize("args,why", [
    ({"message": "x"}, "Missing required field: channel"),
    ({"channel": "c"}, "Missing required field: message"),
    ({"channel": 5, "message": "x"}, "channel must be a string"),
    ({"channel": "c", "message": {"a": 1}}, "message must be a string or bytes"),
])
def test_publish_bad_args_are_permanent(r, workers, args, why):
    workers()
    push(r, "default", frame("b", "notify.publish", args, reply_to="rep"))
    rec = collect(r, "rep", 1, 10)[0]
    assert rec["status"] == "dead" and rec["attempts"] == 1 and rec["error"] == why


class HoldingProxy:
    """A loopback TCP proxy to a redis-server that forwards both ways until
    the client side sends `marker`; from then on it holds every byte clients
    send (on every connection) until release(), as a Redis that stopped
    reading would. Replies always flow."""

    def __init__(self, upstream_port, marker):
        self.upstream = upstream_port
        self.marker = marker
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.holding = threading.Event()
        self.released = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        sel = selectors.DefaultSelector()
        sel.register(self.lsock, selectors.EVENT_READ, None)
        held = []  # (server socket, bytes) in arrival order
        pairs = {}
        while not self.stop.is_set():
            if self.released.is_set() and held:
                for s, data in held:
                    try:
                        s.sendall(data)
                    except OSError:
                        pass
                held = []
            for k, _ in sel.select(timeout=0.05):
                if k.data is None:
                    c, _ = self.lsock.accept()
                    s = socket.create_connection(("127.0.0.1", self.upstream))
                    pairs[c], pairs[s] = s, c
                    sel.register(c, selectors.EVENT_READ, "client")
                    sel.register(s, selectors.EVENT_READ, "server")
                    continue
                src = k.fileobj
                dst = pairs.get(src)
                try:
                    data = src.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(src)
                    pairs.pop(src, None)
                    if k.data == "client" and not self.released.is_set():
                        # what the client sent stays queued, as in a stopped
                        # server's socket; the server side closes at release
                        held.append((dst, b""))
                        continue
                    if dst:
                        try:
                            sel.unregister(dst)
                        except (KeyError, ValueError):
                            pass
                        pairs.pop(dst, None)
                        dst.close()
                    src.close()
                    continue
                if k.data == "client":
                    if self.marker in data:
                        self.holding.set()
                    if self.holding.is_set() and not self.released.is_set():
                        held.append((dst, data))
                        continue
                try:
                    dst.sendall(data)
                except OSError:
                    pass

    def release(self):
        self.released.set()

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.lsock.close()


def test_publish_held_past_its_limit_is_retried_and_delivered_once(workers):
    srv = RedisServer().start()
    proxy = HoldingProxy(srv.port, b"held-chan")
    try:
        rc = srv.client()
        ps = subscriber(srv, "held-chan")

        class Via:
            def url(self):
                return f"redis://127.0.0.1:{proxy.port}"

        w = workers("--retry-base-ms", "50", "--retry-max-ms", "100",
                    redis_server=Via())
        push(rc, "default", frame("h1", "notify.publish",
                                  {"channel": "held-chan", "message": "once"},
                                  reply_to="rep", timeout_ms=300, max_attempts=5))
        wait_until(proxy.holding.is_set, 10, "the publish to reach the proxy")
        # The attempt passes its limit while its PUBLISH sits unanswered.
        wait_until(lambda: "h1 on default: retry: timeout after 300 ms" in w.output(),
                   10, "the first attempt to time out")
        proxy.release()
        rec = collect(rc, "rep", 1, 20)[0]
        assert rec["status"] == "ok" and rec["attempts"] >= 2, rec
        assert rec["result"] == {"receivers": 1}
        rc.publish("held-chan", b"--end--")
        assert messages_until(ps, b"--end--") == [b"once"]
        assert rc.hgetall(key("default", "published:h1")) == {b"held-chan": b"1"}
        assert w.stop() == 0  # while its Redis is still reachable
    finally:
        proxy.close()
        srv.cleanup()
