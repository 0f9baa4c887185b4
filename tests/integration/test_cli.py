"""The jobq command-line tool against a real worker and Redis."""
import json
import os
import subprocess

from conftest import ROOT, frame, key, push, stats, unpack, wait_until

JOBQ = os.environ.get("JOBQ_CLI", os.path.join(ROOT, "build", "jobq"))


def jobq(srv, *args, check=True, stdin=None):
    p = subprocess.run([JOBQ, "--redis", srv.url(), *args], capture_output=True,
                       text=True, timeout=60, input=stdin)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def test_enqueue_wait_prints_the_result(r, workers, shared_redis):
    workers()
    p = jobq(shared_redis, "enqueue", "default", "user.validate",
             '{"username":"Alice","email":"a@example.com","password":"Secret123"}',
             "--wait", "10", "--id", "cli-1")
    rec = json.loads(p.stdout)
    assert rec["id"] == "cli-1" and rec["result"] == {"valid": True, "username": "alice"}
    p = jobq(shared_redis, "result", "default", "cli-1")
    assert json.loads(p.stdout) == rec


def test_dead_job_exits_nonzero_and_can_be_retried(r, workers, shared_redis):
    workers()
    p = jobq(shared_redis, "enqueue", "default", "video.validate",
             '{"script":"   ","voice_id":"v"}', "--wait", "10", "--id", "bad-1", check=False)
    assert p.returncode == 1
    assert json.loads(p.stdout)["error"] == "Script cannot be empty"
    dead = [json.loads(l) for l in jobq(shared_redis, "dead", "default").stdout.splitlines()]
    assert [d["id"] for d in dead] == ["bad-1"]
    out = json.loads(jobq(shared_redis, "retry", "default", "bad-1").stdout)
    assert out["retried"] == 1
    wait_until(lambda: stats(r).get("dead") == 2, 10, "dead again after retry")
    s = json.loads(jobq(shared_redis, "stats", "default").stdout)["default"]
    assert s["dead"] == 1 and s["counters"]["dead"] == 2 and s["workers"] == 1
    rows = [json.loads(l) for l in jobq(shared_redis, "workers").stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["alive"] and rows[0]["queue"] == "default"
    assert rows[0]["active"] == 0


def test_enqueue_file_and_delay(r, workers, shared_redis, tmp_path):
    lines = "".join(json.dumps({"type": "sleep", "args": {"ms": 1}, "id": f"f{i}"}) + "\n"
                    for i in range(20))
    (tmp_path / "jobs.jsonl").write_text(lines)
    out = json.loads(jobq(shared_redis, "enqueue", "q1", "--file",
                          str(tmp_path / "jobs.jsonl")).stdout)
    assert out == {"queue": "q1", "enqueued": 20}
    jobq(shared_redis, "enqueue", "q1", "sleep", '{"ms":1}', "--delay", "60000")
    assert r.zcard(key("q1", "delayed")) == 1
    workers("--queues", "q1")
    wait_until(lambda: stats(r, "q1").get("processed") == 20, 10, "file jobs done")


def test_purge_needs_yes(r, shared_redis):
    push(r, "default", frame("p", "sleep", {"ms": 1}))
    p = jobq(shared_redis, "purge", "default", "pending", check=False)
    assert p.returncode != 0 and "--yes" in p.stderr
    out = json.loads(jobq(shared_redis, "purge", "default", "pending", "--yes").stdout)
    assert out["count"] == 1 and r.llen(key("default", "pending")) == 0


def test_bad_args_json_is_a_clear_error(r, shared_redis):
    p = jobq(shared_redis, "enqueue", "default", "sleep", "{not json", check=False)
    assert p.returncode == 1 and p.stderr.startswith("jobq: ARGS_JSON:")
    assert r.llen(key("default", "pending")) == 0


def test_flags_take_equals_and_booleans_their_words(r, shared_redis, tmp_path):
    # Per-command options and shared settings alike: --x V and --x=V.
    p = subprocess.run([JOBQ, f"--redis={shared_redis.url()}", "--prefix", "jobq",
                        "--require-signed=false", "enqueue", "q2", "sleep", '{"ms":1}',
                        "--id=eq-1", "--delay=60000"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"id": "eq-1", "queue": "q2"}
    assert r.zcard(key("q2", "delayed")) == 1
    # One clear line for an unknown option and for a missing value, exit 2.
    for args, want in ((["stats", "--bogus=x"], "jobq: unknown option --bogus"),
                       (["stats", "--prefix"], "jobq: --prefix needs a value"),
                       (["dead", "q2", "--limit"], "jobq: --limit needs a value")):
        p = jobq(shared_redis, *args, check=False)
        assert p.returncode == 2 and p.stderr.startswith(want), p.stderr
        assert len(p.stderr.splitlines()) == 1, p.stderr
    # The worker: a boolean flag followed by its word (the old
    # "unexpected argument true").
    keys = tmp_path / "keys"
    keys.write_text("k1 = " + "ab" * 32 + "\n")
    os.chmod(keys, 0o600)
    worker = os.path.join(os.path.dirname(JOBQ), "jobq-worker")
    p = subprocess.run([worker, "--signing-keys", str(keys), "--require-signed", "true",
                        "--handler-setting", "http.request.timeout_ms=5", "--check-config"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "require_signed = true ; flag" in p.stdout
    assert "[handler.http.request]\ntimeout_ms = 5 ; flag" in p.stdout


def test_docs_name_every_metric_served():
    # docs/settings.md lists what worker/metrics.c serves on /metrics.
    import re
    src = open(os.path.join(ROOT, "worker", "metrics.c")).read()
    doc = open(os.path.join(ROOT, "docs", "settings.md")).read()
    served = re.findall(r'(?:metric|family)\(b, "(jobq_[a-z_]+)"', src)
    assert served
    missing = [m for m in served if f"`{m}`" not in doc]
    assert not missing, f"docs/settings.md lacks {missing}"
