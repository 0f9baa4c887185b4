"""The operator's HTTP surface: health, readiness, metrics; read-only."""
import re
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
    # read-only: libevent refuses methods outside GET/HEAD with 501
    assert get(base + "/metrics", method="POST")[0] == 501
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
