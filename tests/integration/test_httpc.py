"""The HTTP handlers (http.request, webhook.post, http.gather) and the
client under them, against local HTTP and HTTPS servers the tests start on
loopback: outcomes and attempt counts for each kind of answer, the outbound
guard, redirects, limits, notify delivery, and thousands of requests in
flight beside a timer job."""
import json
import resource
import signal
import time

import pytest

from conftest import SLOW, collect, frame, free_port, key, push, unpack, wait_until
from httpd import Httpd, make_ca, rss_kib

FAST_RETRY = ("--retry-base-ms", "20", "--retry-max-ms", "100")


@pytest.fixture
def srv():
    s = Httpd()
    yield s
    s.close()


def started(workers, *args):
    w = workers(*FAST_RETRY, *args)
    wait_until(lambda: "serving" in w.output(), 10, "the worker's start")
    return w


def run(r, id, type, args, reply="rep", **fields):
    push(r, "default", frame(id, type, args, reply_to=reply, **fields))
    return collect(r, reply, 1, 30)[0]


def test_status_codes_decide_the_outcome(r, workers, srv):
    started(workers)
    ok = run(r, "ok", "http.request", {"url": srv.url("/status/200")})
    assert ok["status"] == "ok" and ok["attempts"] == 1
    assert ok["result"]["status"] == 200
    assert ok["result"]["body"] == "status 200"
    assert ok["result"]["headers"]["content-length"] == "10"
    # 4xx: permanent, one attempt.
    nf = run(r, "nf", "http.request", {"url": srv.url("/status/404")}, max_attempts=5)
    assert (nf["status"], nf["error"], nf["attempts"]) == ("dead", "HTTP 404", 1)
    assert srv.hits["/status/404"] == 1
    # 5xx: retried until max_attempts.
    un = run(r, "un", "http.request", {"url": srv.url("/status/503")}, max_attempts=3)
    assert (un["status"], un["error"], un["attempts"]) == ("dead", "HTTP 503", 3)
    assert srv.hits["/status/503"] == 3


def test_method_headers_and_body_are_sent(r, workers, srv):
    started(workers)
    rec = run(r, "p", "http.request", {"url": srv.url("/echo"), "method": "post",
                                        "headers": {"X-Test": "yes"}, "body": b"\x00\x01"})
    assert rec["status"] == "ok"
    path, headers, body = srv.posts[0]
    assert (path, headers["X-Test"], body) == ("/echo", "yes", b"\x00\x01")
    # A repeated response header arrives as one, its values joined.
    assert rec["result"]["headers"]["x-twice"] == "a, b"
    bad = run(r, "h", "http.request", {"url": srv.url("/"), "headers": {"X": "a\r\nY: b"}})
    assert bad["status"] == "dead" and "header" in bad["error"] and bad["attempts"] == 1


def test_slow_response_past_the_limit_is_a_retried_timeout(r, workers, srv):
    started(workers)
    rec = run(r, "t", "http.request", {"url": srv.url("/slow/5000"), "timeout_ms": 200},
              max_attempts=2)
    assert rec["status"] == "dead" and rec["attempts"] == 2
    assert rec["error"].startswith("timeout")
    # The job's own limit cancels the request the same way.
    rec = run(r, "j", "http.request", {"url": srv.url("/slow/5000")}, reply="rep2",
              max_attempts=1, timeout_ms=300)
    assert (rec["status"], rec["error"]) == ("dead", "timeout after 300 ms")


def test_refused_port_is_a_retried_connect_error(r, workers):
    started(workers)
    rec = run(r, "c", "http.request", {"url": f"http://127.0.0.1:{free_port()}/"},
              max_attempts=3)
    assert rec["status"] == "dead" and rec["attempts"] == 3
    assert rec["error"].startswith("connect error")


def test_body_over_the_limit_is_permanent(r, workers, srv):
    started(workers, "--http-max-body-bytes", "1000")
    assert run(r, "in", "http.request", {"url": srv.url("/big/1000")})["status"] == "ok"
    for path in ("/big/5000", "/bigstream/200000"):  # declared, and streamed
        rec = run(r, path.strip("/").replace("/", "-"), "http.request",
                  {"url": srv.url(path)}, max_attempts=5)
        assert rec["status"] == "dead" and rec["attempts"] == 1, rec
        assert "http-max-body-bytes" in rec["error"]


def test_redirects_are_followed_only_when_asked(r, workers, srv):
    started(workers)
    off = run(r, "off", "http.request", {"url": srv.url("/redirect/2")})
    assert off["status"] == "ok" and off["result"]["status"] == 302
    assert off["result"]["headers"]["location"] == "/redirect/1"
    five = run(r, "five", "http.request", {"url": srv.url("/redirect/5"), "max_redirects": 5})
    assert five["result"]["status"] == 200 and five["result"]["body"] == "done"
    six = run(r, "six", "http.request", {"url": srv.url("/redirect/6"), "max_redirects": 5},
              max_attempts=5)
    assert six["status"] == "dead" and six["attempts"] == 1
    assert six["error"].startswith("too many redirects")
    ask = run(r, "ask", "http.request", {"url": srv.url("/"), "max_redirects": 6})
    assert ask["status"] == "dead" and "max_redirects" in ask["error"]


def test_metadata_address_is_refused_at_once(r, workers):
    started(workers)
    t0 = time.monotonic()
    rec = run(r, "m", "http.request", {"url": "http://169.254.169.254/latest/meta-data/"},
              max_attempts=5)
    # Nothing listens there: a connect attempt would hang to the limit.
    assert time.monotonic() - t0 < 5 * SLOW
    assert rec["status"] == "dead" and rec["attempts"] == 1
    assert "169.254.169.254 is a link-local or metadata address" in rec["error"]


def test_guard_checks_the_address_a_name_resolves_to(r, workers, srv):
    """http-allow without loopback: "localhost" is refused after it resolves,
    as 127.0.0.1 is, and the server never sees them."""
    started(workers, "--http-allow", "10.0.0.0/8")
    for id, host in (("lit", "127.0.0.1"), ("name", "localhost")):
        rec = run(r, id, "http.request", {"url": srv.url("/", host=host)}, max_attempts=5)
        assert rec["status"] == "dead" and rec["attempts"] == 1, rec
        assert "refused by http-allow" in rec["error"]
    assert sum(srv.hits.values()) == 0


def test_guard_checks_every_redirect_hop(r, workers, srv):
    started(workers, "--http-allow", "localhost")
    ok = run(r, "ok", "http.request", {"url": srv.url("/", host="localhost")})
    assert ok["status"] == "ok"
    hop = srv.url("/to?u=" + srv.url("/status/200"), host="localhost")
    rec = run(r, "hop", "http.request", {"url": hop, "max_redirects": 3}, max_attempts=5)
    assert rec["status"] == "dead" and rec["attempts"] == 1, rec
    assert "refused by http-allow: 127.0.0.1" in rec["error"]
    assert srv.hits["/to"] == 1 and srv.hits["/status/200"] == 0


def test_https_with_the_operators_ca(r, workers, tmp_path):
    ca, crt, k = make_ca(str(tmp_path))
    s = Httpd(tls=(crt, k))
    try:
        w = started(workers, "--queues", "plain")
        push(r, "plain", frame("u", "http.request", {"url": s.url("/status/200")},
                               reply_to="rep", max_attempts=1))
        rec = collect(r, "rep", 1, 30)[0]
        assert rec["status"] == "dead" and "certificate" in rec["error"].lower(), rec
        w.stop()
        started(workers, "--http-ca-file", ca)
        rec = run(r, "v", "http.request", {"url": s.url("/status/200", host="localhost")})
        assert rec["status"] == "ok" and rec["result"]["body"] == "status 200"
    finally:
        s.close()


def test_gather_answers_each_in_place(r, workers, srv):
    started(workers)
    dead_port = free_port()
    rec = run(r, "g", "http.gather", {"requests": [
        {"url": srv.url("/status/200")},
        {"url": srv.url("/status/404")},
        {"url": f"http://127.0.0.1:{dead_port}/"},
        {"method": "GET"},
    ]})
    assert rec["status"] == "ok" and rec["attempts"] == 1
    got = rec["result"]["responses"]
    assert got[0]["status"] == 200 and got[0]["body"] == "status 200"
    assert got[1] == {"error": "HTTP 404", "status": 404}
    assert got[2]["error"].startswith("connect error")
    assert got[3] == {"error": "Missing required field: url"}
    # Every one failed: retried while one may pass, dead at once if none.
    rec = run(r, "all", "http.gather", {"requests": [
        {"url": srv.url("/status/503")}, {"url": srv.url("/status/404")}]}, max_attempts=3)
    assert rec["status"] == "dead" and rec["attempts"] == 3
    assert rec["error"].startswith("every request failed")
    rec = run(r, "perm", "http.gather", {"requests": [
        {"url": srv.url("/status/410")}]}, max_attempts=3)
    assert rec["status"] == "dead" and rec["attempts"] == 1


def test_gather_runs_its_requests_at_once(r, workers, srv):
    started(workers)
    push(r, "default", frame("g", "http.gather",
                             {"requests": [{"url": srv.url(f"/hold/{i}")} for i in range(20)]},
                             reply_to="rep"))
    wait_until(lambda: srv.inflight == 20, 10, "all twenty held at once")
    srv.release.set()
    rec = collect(r, "rep", 1, 30)[0]
    assert [x["body"] for x in rec["result"]["responses"]] == ["held"] * 20


def test_webhook_posts_the_payload_as_json(r, workers, srv):
    started(workers)
    rec = run(r, "w", "webhook.post", {"url": srv.url("/hook"),
                                       "payload": {"a": 1, "b": [True, None], "c": b"\x01"}})
    assert rec["status"] == "ok" and rec["result"] == {"status": 200}
    path, headers, body = srv.posts[0]
    assert headers["Content-Type"] == "application/json" and headers["X-Jobq-Id"] == "w"
    assert json.loads(body) == {"a": 1, "b": [True, None], "c": "AQ=="}


def test_attack_findings_on_bodies_headers_and_payloads(r, workers, srv):
    """From the attack on #10: a gather of endless bodies held the loop for
    seconds and 600 MB (each request had the whole body limit); a header
    repeated 100,000 times was joined by a realloc a line; NaN and
    infinities were retried as 'out of memory'; a bin map key was JSON-
    encoded twice."""
    started(workers, "--http-max-body-bytes", "40000")
    # Four requests share the 40,000 bytes: 15,000 each is too much.
    rec = run(r, "g", "http.gather", {"requests": [{"url": srv.url("/big/15000")}] * 4},
              max_attempts=3)
    assert rec["status"] == "dead" and rec["attempts"] == 1, rec
    rec = run(r, "g2", "http.gather", {"requests": [{"url": srv.url("/big/9000")}] * 4})
    assert rec["status"] == "ok" and all(x["status"] == 200 for x in rec["result"]["responses"])
    rec = run(r, "h", "http.request", {"url": srv.url("/manyheaders/20000")}, max_attempts=3)
    assert rec["status"] == "dead" and rec["attempts"] == 1, rec
    assert rec["error"].startswith("response headers larger than")
    for id, payload in (("nan", float("nan")), ("inf", {"x": [float("inf")]})):
        rec = run(r, id, "webhook.post", {"url": srv.url("/hook"), "payload": payload},
                  max_attempts=3)
        assert rec["status"] == "dead" and rec["attempts"] == 1, rec
        assert rec["error"].startswith("payload has no JSON form")
    rec = run(r, "k", "webhook.post", {"url": srv.url("/hook"), "payload": {b"\xff": 1, 2: "b"}})
    assert rec["status"] == "ok"
    assert json.loads(srv.posts[-1][2]) == {"/w==": 1, "2": "b"}


def notify_frame(id, url):
    return frame(id, "data.transform", {"id": 7, "username": "Ann", "email": "A@B.io",
                                        "created_at": 1}, reply_to="rep", notify=url)


def test_notify_is_delivered_once_after_the_receiver_comes_up(r, workers):
    port = free_port()
    started(workers)
    push(r, "default", notify_frame("n1", f"http://127.0.0.1:{port}/hook"))
    parent = collect(r, "rep", 1, 30)[0]
    # The receiver is down: the webhook fails and is retried.
    wait_until(lambda: r.hget(key("default", "stats"), "retried"), 10, "a failed delivery")
    s = Httpd(port=port)
    try:
        wait_until(lambda: s.posts, 30, "the delivery")
        wait_until(lambda: r.get(key("default", "result:n1:notify")), 10, "its result")
        note = unpack(r.get(key("default", "result:n1:notify")))
        assert note["status"] == "ok" and note["attempts"] >= 2
        assert len(s.posts) == 1
        delivered = json.loads(s.posts[0][2])
        assert delivered["id"] == "n1" and delivered["result"] == parent["result"]
    finally:
        s.close()


def test_notify_survives_a_sigkill_before_delivery(r, workers):
    port = free_port()
    # The receiver is down while worker a runs the job, so no delivery can
    # happen before the kill; a's heartbeat lapses fast.
    a = started(workers, "--heartbeat-ttl-ms", "1000", "--retry-base-ms", "500",
                "--retry-max-ms", "500")
    push(r, "default", notify_frame("n2", f"http://127.0.0.1:{port}/hook"))
    collect(r, "rep", 1, 30)
    a.signal(signal.SIGKILL)
    a.wait(10)
    s = Httpd(port=port)
    try:
        started(workers, "--heartbeat-ttl-ms", "1000")
        wait_until(lambda: r.get(key("default", "result:n2:notify")), 30, "the delivery's result")
        note = unpack(r.get(key("default", "result:n2:notify")))
        assert note["status"] == "ok"
        assert len(s.posts) == 1 and json.loads(s.posts[0][2])["id"] == "n2"
        assert r.llen(key("default", "dead")) == 0
    finally:
        s.close()


CONCURRENT = 2000


def test_thousands_in_flight_do_not_hold_a_timer_back(r, workers, srv):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = CONCURRENT * 2 + 500  # the server's sockets and the worker's
    if hard < need:
        pytest.skip(f"open-file limit {hard} is below {need}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # Ten slots left over: the sleep job must be taken into them while
    # the requests hold the rest.
    w = workers(*FAST_RETRY, "--io-concurrency", str(CONCURRENT + 10),
                nofile=min(hard, need))
    wait_until(lambda: "serving" in w.output(), 10, "the worker's start")
    push(r, "default", *[frame(f"h{i}", "http.request", {"url": srv.url(f"/hold/{i}")},
                               reply_to="held") for i in range(CONCURRENT)])
    wait_until(lambda: srv.inflight == CONCURRENT, 60, f"{CONCURRENT} requests held at once")
    t0 = time.monotonic()
    push(r, "default", frame("s", "sleep", {"ms": 10}, reply_to="slept"))
    rec = collect(r, "slept", 1, 30)[0]
    took = time.monotonic() - t0
    # The cause: the timer finished while every request was still held.
    assert rec["status"] == "ok" and srv.inflight == CONCURRENT and r.llen("held") == 0
    rss = rss_kib(w.proc.pid)
    print(f"sleep 10 beside {CONCURRENT} held requests: {took * 1000:.0f} ms; "
          f"worker peak RSS {rss / 1024:.0f} MiB")
    srv.release.set()
    got = collect(r, "held", CONCURRENT, 120)
    assert all(x["status"] == "ok" for x in got)
