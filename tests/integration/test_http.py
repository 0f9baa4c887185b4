"""The operator's HTTP surface: health, readiness, metrics; read-only."""
import http.client
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request

from conftest import WORKER, collect, frame, free_port, push, wait_until


def get(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def get_or_none(url):
    """As get, but None when the worker closes the connection unanswered."""
    try:
        return get(url)
    except (OSError, http.client.HTTPException):
        return None


def peer_closed(s):
    """True once the worker has closed s (end of stream or reset); never blocks."""
    try:
        while True:
            if s.recv(4096, socket.MSG_DONTWAIT) == b"":
                return True
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def http_worker(workers, *args, **kw):
    port = free_port()
    w = workers("--http", f"127.0.0.1:{port}", *args, **kw)
    wait_until(lambda: "HTTP surface on" in w.output(), 10, "HTTP surface")
    return w, port, f"http://127.0.0.1:{port}"


def test_health_ready_and_metrics(r, workers):
    port = free_port()
    w = workers("--http", f"127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: "HTTP surface on http://127.0.0.1:%d/" % port in w.output(), 10,
               "HTTP surface logged")
    assert get(base + "/healthz") == (200, "ok\n")
    wait_until(lambda: get(base + "/readyz")[0] == 200, 10, "ready")
    push(r, "default", frame("m1", "math.sum_squares", {"n": 3}, reply_to="rep"))
    collect(r, "rep", 1, 10)
    # the reply lands inside the finishing script, a moment before the
    # worker reads that script's answer and counts the job
    wait_until(lambda: re.search(r"^jobq_jobs_ok_total 1$", get(base + "/metrics")[1], re.M),
               5, "ok counted")
    code, text = get(base + "/metrics")
    assert code == 200
    assert re.search(r"^jobq_redis_up 1$", text, re.M)
    assert "# TYPE jobq_cpu_window gauge" in text
    # read-only: POST is for the API's changes alone; other methods are
    # refused by libevent (501)
    assert get(base + "/metrics", method="POST")[0] == 405
    assert get(base + "/metrics", method="PUT")[0] == 501
    assert get(base + "/nope")[0] == 404


def test_readyz_is_503_while_redis_is_away(workers):
    port = free_port()
    dead_port = free_port()  # nothing listens here
    w = workers("--http", f"127.0.0.1:{port}", "--redis", f"redis://127.0.0.1:{dead_port}",
                "--redis-timeout-ms", "500", expect_rc=(1,))
    wait_until(lambda: "HTTP surface on" in w.output(), 10, "HTTP surface")
    code, text = get(f"http://127.0.0.1:{port}/readyz")
    assert code == 503 and "redis unreachable" in text
    assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    w.signal(15)
    assert w.wait(20) == 1  # no clean stop without Redis


def test_http_binds_loopback_by_default():
    p = subprocess.run([WORKER, "--check-config"], capture_output=True, text=True, timeout=30)
    assert "http = 127.0.0.1:9180 ; default" in p.stdout


def test_port_in_use_keeps_the_worker_running(r, workers):
    port = free_port()
    a = workers("--http", f"127.0.0.1:{port}")
    wait_until(lambda: "HTTP surface on" in a.output(), 10, "first binds")
    b = workers("--http", f"127.0.0.1:{port}")
    wait_until(lambda: "HTTP surface off: cannot listen" in b.output(), 10, "second refused")
    push(r, "default", frame("p1", "sleep", {"ms": 0}, reply_to="rep"))
    assert collect(r, "rep", 1, 10)[0]["status"] == "ok"
    assert b.alive()


def test_trickled_headers_are_cut_off_ten_seconds_after_the_first_byte(workers):
    # One byte every 2 s restarts an idle timeout forever; the header
    # deadline counts from the first byte instead.
    w, port, base = http_worker(workers)
    request = b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 64
    socks, first_byte, sent, closed_at = [], [], [], {}
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(request[:1])
        socks.append(s)
        first_byte.append(time.time())
        sent.append(1)
    next_byte = time.time() + 2

    def all_closed():
        nonlocal next_byte
        now = time.time()
        for i, s in enumerate(socks):
            if i not in closed_at and peer_closed(s):
                closed_at[i] = now
        if now >= next_byte:
            next_byte += 2
            for i, s in enumerate(socks):
                if i not in closed_at:
                    s.sendall(request[sent[i]:sent[i] + 1])
                    sent[i] += 1
            # the surface keeps answering while the slow ones wait
            assert get(base + "/healthz") == (200, "ok\n")
        return len(closed_at) == len(socks)

    try:
        wait_until(all_closed, 14, "the worker to close all 20 trickling connections")
    finally:
        for s in socks:
            s.close()
    waited = [closed_at[i] - first_byte[i] for i in range(len(socks))]
    assert 9 <= min(waited) and max(waited) <= 12.5, waited
    assert get(base + "/healthz") == (200, "ok\n")


def test_connections_past_http_max_connections_are_closed_at_once(workers):
    w, port, base = http_worker(workers, "--http-max-connections", "5")
    held = []
    for _ in range(5):  # started, then silent: each holds its place
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        held.append(s)
    sixth = socket.create_connection(("127.0.0.1", port))
    try:
        wait_until(lambda: peer_closed(sixth), 2, "the sixth connection to be closed")
        assert not any(peer_closed(s) for s in held)
    finally:
        sixth.close()
        for s in held:
            s.close()
    wait_until(lambda: get_or_none(base + "/healthz") == (200, "ok\n"), 5,
               "/healthz to answer once the five are gone")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_running_out_of_descriptors_neither_spins_nor_floods_the_log(r, workers):
    w, port, base = http_worker(workers, nofile=64)
    wait_until(lambda: get_or_none(base + "/readyz") == (200, "ready\n"), 10, "ready")
    pid = w.proc.pid
    flood = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
    try:
        # HTTP clients get at most what the limit leaves after a reserve
        # for Redis and the rest: the worker never runs out of descriptors
        wait_until(lambda: "holding at most 32" in w.output(), 5, "the cap logged")
        wait_until(lambda: len(os.listdir(f"/proc/{pid}/fd")) >= 40, 5,
                   "the worker to hold its share of the flood")
        log0, cpu0, t0 = os.path.getsize(w.log.name), cpu_seconds(pid), time.time()
        time.sleep(2)  # a window to measure, not a wait for an event
        cpu = cpu_seconds(pid) - cpu0
        logged = os.path.getsize(w.log.name) - log0
        window = time.time() - t0
        assert cpu < 0.2 * window, f"{cpu:.2f} s of CPU in {window:.2f} s"
        assert logged < 4096, f"{logged} bytes of log in {window:.2f} s"
        assert len(os.listdir(f"/proc/{pid}/fd")) < 64
        # jobs still run on the Redis connections it already holds
        push(r, "default", frame("fd1", "math.sum_squares", {"n": 3}, reply_to="rep"))
        assert collect(r, "rep", 1, 10)[0]["status"] == "ok"
    finally:
        for s in flood:
            s.close()
    wait_until(lambda: get_or_none(base + "/healthz") == (200, "ok\n"), 10,
               "/healthz to answer once the flood is gone")
