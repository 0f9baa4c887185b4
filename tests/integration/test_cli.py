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
