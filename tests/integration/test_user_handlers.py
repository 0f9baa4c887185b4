"""Handlers the operator adds: a C plugin built out of tree against the
installed headers (pkg-config jobq), exec commands and long-lived runners
on both example runner libraries (examples/runners)."""
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import ROOT, SLOW, WORKER, collect, frame, push, stats, wait_until

HERE = os.path.join(ROOT, "tests", "integration", "handlers")
PY = "/usr/bin/python3"
EXEC_JOB = f"{PY} {HERE}/exec_job.py"
RUNNERS = {"python": f"{PY} {HERE}/runner_test.py",
           "node": f"{shutil.which('node') or 'node'} {HERE}/runner_test.js"}
RUNNER_TYPES = "t.ok,t.fail,t.sleep,t.crash,t.hang,t.garble,t.flood"


def exited(w, timeout=10):
    """The worker's exit status, once it stops by itself."""
    wait_until(lambda: not w.alive(), timeout, "the worker to exit")
    return w.proc.returncode


# --- plugins -------------------------------------------------------------

@pytest.fixture(scope="module")
def installed():
    """jobq installed to a scratch prefix from the build under test, as a
    third party would have it: headers and jobq.pc, no source tree."""
    prefix = tempfile.mkdtemp(prefix="jobq-prefix-")
    subprocess.run(["cmake", "--install", os.path.dirname(WORKER), "--prefix", prefix],
                   check=True, stdout=subprocess.DEVNULL)
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "share", "pkgconfig"))
    yield prefix, env
    shutil.rmtree(prefix, ignore_errors=True)


def build_plugin(env, src_dir):
    """make in a copy of src_dir: nothing of the jobq tree on its paths."""
    out = tempfile.mkdtemp(prefix="jobq-plugin-")
    for f in os.listdir(src_dir):
        shutil.copy(os.path.join(src_dir, f), out)
    subprocess.run(["make", "-s", "-C", out], check=True, env=env)
    return out


def test_example_plugin_built_out_of_tree_via_pkg_config_and_loaded(r, workers, installed):
    prefix, env = installed
    cflags = subprocess.run(["pkg-config", "--cflags", "jobq"], env=env, check=True,
                            capture_output=True, text=True).stdout
    assert prefix in cflags and ROOT not in cflags
    out = build_plugin(env, os.path.join(ROOT, "examples", "plugin"))
    try:
        workers("--plugin", os.path.join(out, "sum_squares.so"))
        n = 3_000_000  # past 64 bits: the plugin's 128-bit path
        push(r, "default", frame("p1", "example.sum_squares", {"n": 10}, reply_to="rep"),
             frame("p2", "example.sum_squares", {"n": n}, reply_to="rep"),
             frame("p3", "example.sum_squares", {"n": -1}, reply_to="rep"))
        recs = {x["id"]: x for x in collect(r, "rep", 3, 15)}
        assert recs["p1"]["result"] == {"sum": 285}
        assert recs["p2"]["result"] == {"sum": (n - 1) * n * (2 * n - 1) // 6}
        assert recs["p3"]["status"] == "dead" and recs["p3"]["attempts"] == 1
        assert "whole number" in recs["p3"]["error"]
    finally:
        shutil.rmtree(out, ignore_errors=True)


WRONG_VERSION = """#include <jobq/handler.h>
const int jobq_plugin_api_version = 1; /* built for an older worker */
int jobq_plugin_init(jobq_registry *reg, int v) { (void)reg; (void)v; return 0; }
"""


def test_plugin_of_another_api_version_refused_with_exit_2(workers, installed):
    _, env = installed
    d = tempfile.mkdtemp(prefix="jobq-plugin-")
    try:
        with open(os.path.join(d, "old.c"), "w") as f:
            f.write(WRONG_VERSION)
        cflags = subprocess.run(["pkg-config", "--cflags", "jobq"], env=env, check=True,
                                capture_output=True, text=True).stdout.split()
        subprocess.run(["cc", "-shared", "-fPIC", *cflags, "-o", f"{d}/old.so",
                        f"{d}/old.c"], check=True)
        w = workers("--plugin", f"{d}/old.so", expect_rc=(2,))
        assert exited(w) == 2
        assert "built for handler API version 1" in w.output()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_plugin_that_cannot_load_or_takes_a_served_type_stops_the_start(workers, installed):
    _, env = installed
    w = workers("--plugin", "/nonexistent/plugin.so", expect_rc=(2,))
    assert exited(w) == 2 and "/nonexistent/plugin.so" in w.output()
    out = build_plugin(env, os.path.join(ROOT, "examples", "plugin"))
    try:
        w = workers("--plugin", os.path.join(out, "sum_squares.so"),
                    "--handler-setting", "example.sum_squares.type=sleep", expect_rc=(2,))
        assert exited(w) == 2 and "sleep" in w.output()
    finally:
        shutil.rmtree(out, ignore_errors=True)


# --- exec ----------------------------------------------------------------

def gone(pid):
    """Neither running nor a zombie: reaped."""
    return not os.path.exists(f"/proc/{pid}")


def group_empty(pgid):
    return subprocess.run(["pgrep", "-g", str(pgid)], stdout=subprocess.DEVNULL).returncode == 1


def test_exec_outcomes(r, workers):
    workers("--exec", f"t.exec={EXEC_JOB}", "--retry-base-ms", "20", "--retry-max-ms", "50",
            env={"JOBQ_ADMIN_TOKEN": "a-secret-the-child-must-not-see"})
    push(r, "default",
         frame("ok", "t.exec", {"do": "ok", "x": [1, "two"]}, reply_to="rep"),
         frame("perm", "t.exec", {"do": "exit", "code": 65, "message": "bad input"},
               reply_to="rep"),
         frame("retry", "t.exec", {"do": "exit", "code": 1, "message": "try later"},
               reply_to="rep", max_attempts=2),
         frame("text", "t.exec", {"do": "text"}, reply_to="rep"))
    recs = {x["id"]: x for x in collect(r, "rep", 4, 20)}
    ok = recs["ok"]
    assert ok["status"] == "ok", ok
    assert ok["result"]["args"] == {"do": "ok", "x": [1, "two"]}
    # a clean environment, and not one descriptor of the worker's
    assert ok["result"]["env"] == ["LANG", "PATH"]
    assert ok["result"]["fds"] == []
    assert recs["perm"]["status"] == "dead" and recs["perm"]["attempts"] == 1
    # stderr's tail: the last line whole, as much before it as fits
    for id, msg in (("perm", "exit 65: "), ("retry", "exit 1: ")):
        e = recs[id]["error"]
        assert e.startswith(msg + "xxx") and len(e.encode()) <= 1024, e
    assert recs["perm"]["error"].endswith("x\nbad input")
    assert recs["retry"]["status"] == "dead" and recs["retry"]["attempts"] == 2
    assert recs["retry"]["error"].endswith("x\ntry later")
    assert recs["text"]["status"] == "dead" and recs["text"]["attempts"] == 1
    assert recs["text"]["error"].startswith("stdout is not JSON")


def test_exec_attack_findings(r, workers, tmp_path):
    """From the attack on #11: args with a str that is not UTF-8 aborted the
    worker; a result deeper than records are read was stored ok and could
    not be read back; a JSON string with \u0000 was 'not JSON'."""
    import msgpack
    w = workers("--exec", f"t.exec={EXEC_JOB}")
    bad = msgpack.packb({"id": "utf8", "type": "t.exec", "args": {"s": b"\xff\xfe"},
                         "reply_to": "rep"}, use_bin_type=False)
    push(r, "default", msgpack.packb({"v": 1, "job": bad}, use_bin_type=True),
         frame("deep", "t.exec", {"do": "deep", "n": 40}, reply_to="rep"),
         frame("nul", "t.exec", {"do": "nul"}, reply_to="rep"))
    recs = {x["id"]: x for x in collect(r, "rep", 3, 20)}
    assert w.alive()
    assert recs["utf8"]["status"] == "dead" and recs["utf8"]["attempts"] == 1
    assert recs["utf8"]["error"].startswith("args have no JSON form")
    assert recs["deep"]["status"] == "dead" and "nested deeper than 30" in recs["deep"]["error"]
    assert recs["nul"]["status"] == "ok" and recs["nul"]["result"] == {"s": "a\x00b"}
    # A directory passes access(X_OK): refused at start, not at every job.
    d = workers("--exec", f"t.dir={tmp_path}", expect_rc=(2,))
    assert exited(d) == 2 and "not a regular file" in d.output()


def test_exec_hang_killed_at_the_limit_with_its_group_and_reaped(r, workers):
    d = tempfile.mkdtemp(prefix="jobq-exec-")
    w = workers("--exec", f"t.exec={EXEC_JOB}")
    try:
        push(r, "default", frame("h", "t.exec", {"do": "hang", "pidfile": f"{d}/h"},
                                 reply_to="rep", timeout_ms=int(1500 * SLOW), max_attempts=1),
             frame("huge", "t.exec", {"do": "huge", "pidfile": f"{d}/huge"},
                   reply_to="rep", max_attempts=1))
        recs = {x["id"]: x for x in collect(r, "rep", 2, 20)}
        assert recs["h"]["status"] == "dead"
        assert recs["h"]["error"].startswith("timeout after")
        assert recs["huge"]["status"] == "dead" and recs["huge"]["attempts"] == 1
        assert recs["huge"]["error"] == "stdout over 1048576 bytes"
        for name in ("h", "huge"):
            pid, pgid = map(int, open(f"{d}/{name}").read().split())
            # the child and its descendant (sleep 3600) die with the group,
            # and the child is reaped, not left a zombie
            wait_until(lambda: group_empty(pgid) and gone(pid), 10, f"{name}'s group gone")
        assert w.alive()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_exec_concurrency_bounds_children_and_queues_the_rest(r, workers):
    w = workers("--exec", f"t.exec={EXEC_JOB}", "--exec-concurrency", "2")
    push(r, "default", *[frame(f"s{i}", "t.exec", {"do": "slow", "ms": 300}, reply_to="rep")
                         for i in range(6)])
    most = 0
    deadline = time.time() + 30 * SLOW
    got = []
    while len(got) < 6 and time.time() < deadline:
        kids = subprocess.run(["pgrep", "-P", str(w.proc.pid)], capture_output=True,
                              text=True).stdout.split()
        most = max(most, len(kids))
        m = r.lpop("rep")
        if m:
            got.append(m)
        time.sleep(0.01)
    assert len(got) == 6
    assert 1 <= most <= 2


# --- runners -------------------------------------------------------------

def runner_worker(workers, lang, *extra):
    return workers("--runner", f"{RUNNER_TYPES}={RUNNERS[lang]}", "--retry-base-ms", "20",
                   "--retry-max-ms", "100", *extra)


@pytest.mark.parametrize("lang", ["python", "node"])
def test_runner_outcomes_and_answers_in_any_order(r, workers, lang):
    runner_worker(workers, lang)
    push(r, "default",
         frame("slow", "t.sleep", {"ms": int(500 * SLOW)}, reply_to="rep"),
         frame("fast", "t.sleep", {"ms": 1}, reply_to="rep"),
         frame("ok", "t.ok", {"a": [1, 2]}, reply_to="rep", timeout_ms=60000),
         frame("perm", "t.fail", {"permanent": True, "message": "no such user"},
               reply_to="rep"),
         frame("retry", "t.fail", {"permanent": False, "message": "upstream down"},
               reply_to="rep", max_attempts=2))
    recs = collect(r, "rep", 5, 30)
    order = [x["id"] for x in recs]
    by = {x["id"]: x for x in recs}
    # both sleeps were in flight at once in one process: the later-sent,
    # shorter one answered first
    assert order.index("fast") < order.index("slow")
    assert by["slow"]["result"] == {"slept": int(500 * SLOW)}
    ok = by["ok"]["result"]
    assert ok["args"] == {"a": [1, 2]} and ok["attempt"] == 1
    assert abs(ok["deadline_ms"] - (time.time() * 1000 + 60000)) < 60000
    assert by["perm"]["status"] == "dead" and by["perm"]["attempts"] == 1
    assert by["perm"]["error"] == "error: no such user"
    assert by["retry"]["status"] == "dead" and by["retry"]["attempts"] == 2
    assert by["retry"]["error"] == "error: upstream down"


@pytest.mark.parametrize("lang", ["python", "node"])
def test_runner_crash_mid_batch_retries_every_job_in_flight(r, workers, lang):
    w = runner_worker(workers, lang)
    sleeps = [frame(f"s{i}", "t.sleep", {"ms": int(600 * SLOW)}, reply_to="rep")
              for i in range(8)]
    push(r, "default", *sleeps, frame("crash", "t.crash", {"after_ms": int(150 * SLOW)},
                                      reply_to="rep"))
    recs = {x["id"]: x for x in collect(r, "rep", 9, 40)}
    assert all(x["status"] == "ok" for x in recs.values()), recs
    # every job in flight when it crashed failed once and ran again
    assert all(recs[f"s{i}"]["attempts"] == 2 for i in range(8))
    assert recs["crash"]["result"] == {"attempt": 2}
    assert "exited with status 3" in w.output()
    assert stats(r)["retried"] == 9


@pytest.mark.parametrize("lang", ["python", "node"])
def test_runner_hang_past_the_deadline_and_bad_line_restart_it(r, workers, lang):
    w = runner_worker(workers, lang)
    push(r, "default", frame("hang", "t.hang", {}, reply_to="rep",
                             timeout_ms=int(500 * SLOW)))
    rec = collect(r, "rep", 1, 30)[0]
    assert rec["status"] == "ok" and rec["result"] == {"attempt": 2}
    assert "no answer to job hang within" in w.output()
    push(r, "default", frame("garble", "t.garble", {}, reply_to="rep"))
    rec = collect(r, "rep", 1, 30)[0]
    assert rec["status"] == "ok" and rec["result"] == {"attempt": 2}
    assert "not an answer" in w.output()


def test_runner_processes_share_jobs_round_robin(r, workers):
    runner_worker(workers, "python", "--runner-processes", "2")
    push(r, "default", *[frame(f"o{i}", "t.ok", {}, reply_to="rep") for i in range(6)])
    pids = {x["result"]["pid"] for x in collect(r, "rep", 6, 20)}
    assert len(pids) == 2


def test_runner_crash_loop_is_slowed_not_spun(r, workers):
    w = workers("--runner", f"t.x={PY} {HERE}/exit_now.py")
    wait_until(lambda: "crash-looping" in w.output(), 20, "the crash loop to be named")
    # backoff doubles from 100 ms: the fifth failure comes after about
    # 1.5 s; spinning would have started hundreds
    out = w.output()
    failures = out.count("restarting in") + out.count("crash-looping")
    assert 5 <= failures <= 12, failures
    assert w.alive()


def test_blocked_and_flooding_children_never_hold_the_loop(r, workers):
    """A runner that blocks, one that floods its stderr, and an exec child
    that floods stdout, all at once: a sleep job started after them all
    finishes while they are still at it."""
    workers("--runner", f"t.hang,t.flood={RUNNERS['python']}", "--exec", f"t.exec={EXEC_JOB}",
            "--shutdown-grace-ms", "0")
    hold = int(2000 * SLOW)
    push(r, "default", frame("hang", "t.hang", {}, reply_to="rep", timeout_ms=hold),
         frame("flood", "t.flood", {"ms": hold}, reply_to="rep"),
         frame("block", "t.exec", {"do": "hang"}, reply_to="rep", timeout_ms=hold),
         frame("huge", "t.exec", {"do": "huge"}, reply_to="rep"))
    time.sleep(0.3 * SLOW)  # let them get going; the assertion is on order
    push(r, "default", frame("z", "sleep", {"ms": 10}, reply_to="rep"))
    seen = []
    while not seen or seen[-1]["id"] != "z":
        seen += collect(r, "rep", 1, 20)
    assert seen[-1]["status"] == "ok"
    # the blocked and the flooding ones are still at it; "huge" is over
    # as soon as it passes the stdout limit, before or after
    assert {x["id"] for x in seen[:-1]} <= {"huge"}
