"""Hostile input and trust: every hostile frame ends dead with its bytes and
a reason, the worker stays up and nothing else in Redis changes; signed
jobs; secrets never reach logs."""
import base64
import hashlib
import hmac
import os
import struct
import subprocess

import msgpack
import pytest

from conftest import WORKER, collect, frame, job_bytes, key, push, stats, unpack, wait_until

K1 = bytes(range(32))
K2 = bytes(reversed(range(32)))


def mac(key_bytes, job):
    return hmac.new(key_bytes, job, hashlib.sha512).digest()[:32]


def signed(id, type, args, key_bytes=K1, kid="k1", **fields):
    job = job_bytes(id, type, args, **fields)
    return msgpack.packb({"v": 1, "job": job, "kid": kid, "mac": mac(key_bytes, job)},
                         use_bin_type=True)


def m(obj):
    return msgpack.packb(obj, use_bin_type=True)


def nested(depth):
    v = 1
    for _ in range(depth):
        v = [v]
    return v


def sj(job):
    """A frame signed with k1 around arbitrary job bytes: job-level checks
    run only after the signature is verified."""
    return m({"v": 1, "job": job, "kid": "k1", "mac": mac(K1, job)})


def hostile():
    good_job = job_bytes("h", "sleep", {"ms": 0})
    return [
        ("truncated msgpack", frame("h", "sleep", {"ms": 0})[:7], "not msgpack: "),
        ("str32 past the end", b"\xdb\x00\x00\x10\x00ab", "not msgpack: length points past the end"),
        ("2^32 array", b"\xdd\xff\xff\xff\xff\x00", "not msgpack: length points past the end"),
        ("2^32 map", b"\xdf\xff\xff\xff\xff\x00\x00", "not msgpack: length points past the end"),
        ("2^32 bin job", b"\x82\xa1v\x01\xa3job\xc6\xff\xff\xff\xff", "not msgpack: length points past the end"),
        ("deep frame", b"\x81\xa1v" + b"\x91" * 40 + b"\x01", "nested deeper than 32"),
        ("deep args", sj(job_bytes("d", "data.digest", nested(34))),
         "job: nested deeper than 32"),
        ("huge map", sj(m({"id": "x", "type": "t", "args": {str(i): i for i in range(70000)}})),
         "job: container has 70000 entries, limit 65536"),
        ("string over max-string-bytes", sj(job_bytes("ls", "sleep", {"pad": "x" * 300000})),
         "job: string of 300000 bytes, limit 262144"),
        ("frame over max-frame-bytes", sj(m({"id": "x", "type": "t", "args": "p" * (1 << 20)})),
         "frame too large ("),
        ("v as string", m({"v": "1", "job": good_job}), "frame field v must be an unsigned integer"),
        ("job as map", m({"v": 1, "job": {"id": "x"}}), "frame field job must be bin"),
        ("job as str", m({"v": 1, "job": "abc"}), "frame field job must be bin"),
        ("attempt as str", m({"v": 1, "job": good_job, "attempt": "1"}), "frame field attempt must be"),
        ("error as int", m({"v": 1, "job": good_job, "error": 1}), "frame field error must be"),
        ("kid as int", m({"v": 1, "job": good_job, "kid": 1, "mac": b"x" * 32}), "frame field kid must be"),
        ("id as int", sj(m({"id": 7, "type": "t"})), "job field id must be a string"),
        ("type as bin", sj(m({"id": "x", "type": b"t"})), "job field type must be a string"),
        ("NUL in id", sj(job_bytes("a\x00b", "sleep")), "job id must be 1 to 64"),
        ("NUL in type", sj(job_bytes("x", "sle\x00ep")), "job type must be 1 to 128"),
        ("id too long", sj(job_bytes("x" * 65, "sleep")), "job id must be 1 to 64"),
        ("max_attempts 0", sj(job_bytes("x", "sleep", max_attempts=0)), "job field max_attempts must be at least 1"),
        ("expires_at as str", sj(job_bytes("x", "sleep", expires_at="soon")), "job field expires_at must be"),
        ("job not a map", sj(m([1, 2])), "job is not a map"),
        ("mac without kid", m({"v": 1, "job": good_job, "mac": b"x" * 32}), "frame has one of kid and mac"),
        ("short mac", m({"v": 1, "job": good_job, "kid": "k1", "mac": b"x" * 31}), "frame field mac must be 32 bytes"),
        ("bad mac", m({"v": 1, "job": good_job, "kid": "k1", "mac": b"x" * 32}), "bad signature"),
        ("wrong kid", signed("w", "sleep", {"ms": 0}, kid="k9"), "unknown signing key"),
        ("key of another kid", signed("w2", "sleep", {"ms": 0}, key_bytes=K2, kid="k1"), "bad signature"),
        ("tampered job", m({"v": 1, "job": job_bytes("t", "sleep", {"ms": 1}), "kid": "k1",
                            "mac": mac(K1, job_bytes("t", "sleep", {"ms": 0}))}), "bad signature"),
        ("unsigned", frame("u", "sleep", {"ms": 0}), "unsigned job"),
        ("empty", b"", "not msgpack: truncated"),
        ("nil", b"\xc0", "frame is not a map"),
    ]


@pytest.fixture
def keyfile(tmp_path):
    p = tmp_path / "keys"
    p.write_text(f"k1 = {K1.hex()}\nk2 = {K2.hex()}\n")
    os.chmod(p, 0o600)
    return str(p)


def snapshot(r):
    out = {}
    for k in r.keys("*"):
        k = k.decode()
        if k.endswith((":dead", ":stats", ":workers", ":clock")):
            continue
        t = r.type(k).decode()
        out[k] = r.dump(k) if t != "list" or ":active:" not in k else r.lrange(k, 0, -1)
    return out


def test_hostile_frames_end_dead_and_change_nothing_else(r, workers, keyfile):
    r.set("bystander", "untouched")
    r.lpush("jobq:{other}:pending", b"not ours")
    w = workers("--signing-keys", keyfile, "--require-signed", "--max-entries", "65536")
    before = snapshot(r)
    cases = hostile()
    push(r, "default", *[raw for _, raw, _ in cases])
    wait_until(lambda: stats(r).get("dead") == len(cases), 20, "every hostile frame dead")
    dead = [unpack(d) for d in r.lrange(key("default", "dead"), 0, -1)]
    assert len(dead) == len(cases)
    by_frame = {}
    for d in dead:
        by_frame.setdefault(d["frame"], []).append(d)
    for name, raw, reason in cases:
        assert raw in by_frame, f"{name}: bytes not kept"
        d = by_frame[raw].pop()
        assert d["error"].startswith(reason), (name, d["error"])
    assert stats(r) == {"failed": len(cases), "dead": len(cases)}
    # nothing else changed: no results, no retries, no other queue touched
    wait_until(lambda: snapshot(r) == before, 5, "no other change")
    assert r.get("bystander") == b"untouched"
    # and the worker still serves signed jobs
    push(r, "default", signed("ok1", "math.sum_squares", {"n": 4}, reply_to="rep"))
    push(r, "default", signed("ok2", "math.sum_squares", {"n": 5}, key_bytes=K2, kid="k2",
                              reply_to="rep"))
    recs = collect(r, "rep", 2, 10)
    assert sorted(x["result"]["sum"] for x in recs) == [14, 30]
    assert w.alive()


def test_signed_and_unsigned_accepted_without_require_signed(r, workers, keyfile):
    workers("--signing-keys", keyfile)
    push(r, "default", signed("s1", "sleep", {"ms": 0}, reply_to="rep"),
         frame("s2", "sleep", {"ms": 0}, reply_to="rep"),
         m({"v": 1, "job": job_bytes("s3", "sleep", {"ms": 0}, reply_to="rep"), "kid": "k1",
            "mac": b"\x01" * 32}))
    recs = {x["id"]: x for x in collect(r, "rep", 2, 10)}
    assert recs["s1"]["status"] == "ok" and recs["s2"]["status"] == "ok"
    # A frame whose MAC fails is not trusted for anything, reply_to included:
    # it is dead without a result record or a reply.
    wait_until(lambda: stats(r).get("dead") == 1, 5, "bad mac dead")
    d = unpack(r.lindex(key("default", "dead"), 0))
    assert d["error"] == "bad signature" and "id" not in d
    assert r.get(key("default", "result:s3")) is None and r.llen("rep") == 0


def test_cli_signs_with_the_key_file(r, workers, keyfile, shared_redis):
    workers("--signing-keys", keyfile, "--require-signed")
    cli = os.path.join(os.path.dirname(WORKER), "jobq")
    p = subprocess.run([cli, "--redis", shared_redis.url(), "--signing-keys", keyfile,
                        "enqueue", "default", "math.sum_squares", '{"n":3}', "--wait", "10"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert '"sum":5' in p.stdout


def argon2id(params):
    b64 = lambda n: base64.b64encode(bytes(range(n))).rstrip(b"=").decode()
    return f"$argon2id$v=19${params}${b64(16)}${b64(32)}"


def test_hostile_argon2_parameters_are_dead_at_once(r, workers):
    # One CPU thread: a verify that held it would starve the job behind it.
    workers("--cpu-threads", "1", "--shutdown-grace-ms", "100")
    push(r, "default",
         frame("forever", "password.verify",
               {"password": "x", "hash": argon2id("m=65536,t=4294967295,p=1")},
               reply_to="rep"),
         frame("gib", "password.verify",
               {"password": "x", "hash": argon2id("m=1048576,t=2,p=1")}, reply_to="rep"))
    push(r, "default", frame("after", "data.transform", {"username": "Bob"}, reply_to="rep"))
    recs = {x["id"]: x for x in collect(r, "rep", 3, 10)}
    assert recs["forever"]["status"] == "dead" and recs["forever"]["attempts"] == 1
    assert recs["forever"]["error"] == ("hash parameters over the limit (t=4294967295, "
                                        "m=65536 KiB, p=1; at most t=2, m=65536 KiB, p=1)")
    assert recs["gib"]["status"] == "dead"
    assert recs["gib"]["error"].startswith("hash parameters over the limit (t=2, m=1048576 KiB")
    assert recs["after"]["status"] == "ok" and recs["after"]["result"]["username"] == "bob"


def test_key_file_readable_by_others_is_refused(tmp_path):
    p = tmp_path / "keys"
    p.write_text(f"k1 = {K1.hex()}\n")
    os.chmod(p, 0o644)
    out = subprocess.run([WORKER, "--signing-keys", str(p), "--check-config"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "refused unless 0600 or stricter" in out.stderr
    assert K1.hex() not in out.stderr + out.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the key file to another user")
def test_key_file_owned_by_another_user_is_refused(tmp_path, shared_redis):
    p = tmp_path / "keys"
    p.write_text(f"k1 = {K1.hex()}\n")
    os.chmod(p, 0o600)
    os.chown(p, 65534, -1)
    # Not --check-config: the worker itself refuses to start.
    out = subprocess.run([WORKER, "--redis", shared_redis.url(), "--http", "off",
                          "--signing-keys", str(p)],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 2
    assert "is owned by uid 65534" in out.stderr
    assert K1.hex() not in out.stderr + out.stdout


def test_secrets_never_reach_logs_or_check_config(shared_redis, workers, keyfile, r):
    # A password-protected Redis in front of the shared one would need its
    # own server; the worker never logs its URL, so a wrong password (that
    # fails AUTH) shows what it does print on that path.
    pw = "s3cr3t-Pa55word-xyz"
    token = "admin-token-0123456789abcdef"
    url = f"redis://app:{pw}@127.0.0.1:{shared_redis.port}"
    r.execute_command("ACL", "SETUSER", "app", "on", f">{pw}", "~*", "&*", "+@all")
    w = workers("--signing-keys", keyfile, "--admin-token", token, "--log-format", "json",
                "--redis", url)
    push(r, "default", signed("sec", "user.validate",
                              {"username": "bob", "email": "b@x.io", "password": "Hunter2Hunter2"},
                              reply_to="rep"))
    push(r, "default", signed("sec2", "password.hash", {"password": "Hunter2Hunter2"}, reply_to="rep"))
    assert all(x["status"] == "ok" for x in collect(r, "rep", 2, 10))
    assert w.stop() == 0
    log = w.output()
    assert '"level":"info"' in log
    for secret in (pw, token, K1.hex(), K2.hex(), "Hunter2Hunter2"):
        assert secret not in log
    cfg = subprocess.run([WORKER, "--redis", url, "--signing-keys", keyfile,
                          "--admin-token", token, "--check-config"],
                         capture_output=True, text=True, timeout=30)
    assert cfg.returncode == 0
    for secret in (pw, token, K1.hex()):
        assert secret not in cfg.stdout + cfg.stderr
    bad = subprocess.run([WORKER, "--redis", f"redis://app:{pw}@127.0.0.1:{shared_redis.port}",
                          "--cpu-threads", "0", "--check-config"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and pw not in bad.stderr
