"""The mutation soak's frame generator and its accounting, shared by
tests/integration/test_soak.py and tests/memcheck/test_soak_memcheck.py.

generate(rng, n) makes n frames: about half valid (some replying to a list,
the rest leaving only their result records) and the rest damaged: bit
flips, truncations, inserted bytes, wrong types for fields, huge declared
lengths, msgpack of other shapes, frames over the size limit, expired jobs,
bad versions, unknown handler types, signatures no key can check, reply_to
naming a jobq key or a key of another type.

account(c, q, frames) then finds each frame exactly once: as an ok result
record (found by the job id the frame carries), as a dead record whose
`frame` is the exact bytes pushed, or still in pending."""
import collections
import struct
import time
import zlib

import msgpack

REPLIES = "soak:replies"     # reply_to of the valid frames that reply
NOT_A_LIST = "soak:a-string"  # a reply_to key holding a string
MAX_FRAME = 8192             # --max-frame-bytes of the worker under test

WORKER_ARGS = ["--max-frame-bytes", str(MAX_FRAME), "--default-max-attempts", "1",
               "--dead-max", "1000000", "--default-timeout-ms", "5000",
               "--retry-base-ms", "10", "--retry-max-ms", "100",
               "--shutdown-grace-ms", "2000"]


def m(obj):
    return msgpack.packb(obj, use_bin_type=True)


def job_id(n):
    """Unique ids that one damaged byte cannot turn into another frame's:
    the number and a checksum of it."""
    return f"m{n:05d}-{zlib.crc32(str(n).encode()) & 0xffff:04x}"


def valid_job(rng, jid, reply):
    """A job map that runs ok (user.validate with bad input: dead at once)."""
    k = rng.randrange(8)
    if k == 0:
        job = {"type": "sleep", "args": {"ms": rng.randrange(0, 6)}}
    elif k == 1:
        job = {"type": "math.sum_squares", "args": {"n": rng.randrange(0, 60000)}}
    elif k == 2:
        job = {"type": "data.digest",
               "args": {"a": [rng.randrange(-1000, 1000) for _ in range(rng.randrange(6))],
                        "b": rng.random(), "c": None, "d": b"\x00\xff", "e": {"x": True}}}
    elif k == 3:
        ok = rng.random() < 0.7
        job = {"type": "user.validate",
               "args": {"username": f"user_{rng.randrange(10**6)}",
                        "email": "someone@example.com" if ok else "not-an-email",
                        "password": "Passw0rdOK"}}
    elif k == 4:
        job = {"type": "video.validate", "args": {"script": "hello " * rng.randrange(0, 5),
                                                  "voice_id": "v1"}}
    elif k == 5:
        job = {"type": "apikey.generate", "args": {"bytes": rng.randrange(16, 65)}}
    else:
        job = {"type": "data.transform",
               "args": {"id": rng.randrange(10**9), "username": "MiXeD", "email": "A@B.C",
                        "full_name": "Full Name" if rng.random() < 0.5 else None,
                        "created_at": 1700000000000}}
    out = {"id": jid}
    out.update(job)
    if reply:
        out["reply_to"] = REPLIES
    if rng.random() < 0.2:
        out["created_at"] = int(time.time() * 1000)
    if rng.random() < 0.1:
        out["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    return out


def valid_frame(rng, jid, reply=None, **frame_fields):
    job = valid_job(rng, jid, rng.random() < 0.5 if reply is None else reply)
    f = {"v": 1, "job": m(job)}
    if rng.random() < 0.05:
        f["attempt"] = 0          # present and zero
    f.update(frame_fields)
    return m(f)


def nested(depth):
    v = 1
    for _ in range(depth):
        v = [v]
    return v


def bitflip(rng, b):
    b = bytearray(b)
    for _ in range(rng.randrange(1, 4)):
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def truncate(rng, b):
    return b[:rng.randrange(0, len(b))]


def insert(rng, b):
    i = rng.randrange(len(b) + 1)
    return b[:i] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9))) + b[i:]


def wrong_type(rng, jid):
    """A frame or job field of the wrong type."""
    good = {"id": jid, "type": "data.transform", "args": {"username": "x"}}
    frame_cases = [
        {"v": "1"}, {"v": 1.0}, {"v": -1}, {"v": None}, {"v": [1]},
        {"job": "not bin"}, {"job": good}, {"job": 7}, {"job": None}, {"job": [m(good)]},
        {"attempt": "1"}, {"attempt": -3}, {"attempt": 1.5}, {"attempt": [0]},
        {"error": 17}, {"failed_at": "yesterday"}, {"kid": 1, "mac": b"x" * 32},
    ]
    job_cases = [
        {"id": 7}, {"id": jid.encode()}, {"id": None}, {"id": ""}, {"id": "x" * 65},
        {"id": jid + "\x00"}, {"id": jid + " "}, {"type": b"sleep"}, {"type": 5},
        {"type": ""}, {"type": "t" * 129}, {"max_attempts": 0}, {"max_attempts": "3"},
        {"max_attempts": -1}, {"timeout_ms": "soon"}, {"timeout_ms": -5},
        {"expires_at": "never"}, {"expires_at": -1}, {"created_at": "today"},
        {"reply_to": 12}, {"reply_to": b"soak:bin"}, {"reply_to": ""},
        {"notify": 3}, {"traceparent": 99},
        {"args": {"ms": "ten"}, "type": "sleep"}, {"args": {"ms": -1}, "type": "sleep"},
        {"args": {"ms": 99999999999}, "type": "sleep"},
        {"args": {"n": -5}, "type": "math.sum_squares"},
        {"args": {"n": "many"}, "type": "math.sum_squares"},
        {"args": "a string", "type": "data.transform"},
        {"args": {"bytes": 1000}, "type": "apikey.generate"},
        {"args": {"password": ""}, "type": "password.hash"},
        {"args": {"password": 5}, "type": "password.verify"},
    ]
    if rng.random() < 0.35:
        f = {"v": 1, "job": m(good)}
        f.update(rng.choice(frame_cases))
        return m(f)
    job = dict(good)
    job.update(rng.choice(job_cases))
    if job.get("id") is None:
        del job["id"]
    return m({"v": 1, "job": m(job)})


def huge_length(rng, jid):
    """Headers that declare far more than there is."""
    job = m({"id": jid, "type": "sleep", "args": {"ms": 1}})
    big = rng.choice([0xFFFFFFFF, 0xFFFFFFF0, 0x7FFFFFFF, 0x10000000, 65535])
    cases = [
        b"\xdb" + struct.pack(">I", big) + b"abc",                      # str32
        b"\xc6" + struct.pack(">I", big) + b"abc",                      # bin32
        b"\xdd" + struct.pack(">I", big) + b"\x01\x02",                 # array32
        b"\xdf" + struct.pack(">I", big) + b"\xa1v\x01",                # map32
        b"\xde\xff\xff\xa1v\x01",                                       # map16
        b"\x82\xa1v\x01\xa3job\xc6" + struct.pack(">I", big) + job[:5],  # job bin32
        b"\x82\xa1v\x01\xa3job\xc5\xff\xff" + job,                      # job bin16
        # a whole frame whose job declares a huge args string
        m({"v": 1, "job": b"\x83\xa2id" + m(jid) + b"\xa4type\xa5sleep\xa4args\xdb" +
                        struct.pack(">I", big) + b"xx"}),
        m({"v": 1, "job": b"\x83\xa2id" + m(jid) + b"\xa4type\xa5sleep\xa4args\xdd" +
                        struct.pack(">I", big) + b"\x01"}),
        b"\xc7" + bytes([255]) + b"\x01abc",                             # ext8 short
        b"\xc9" + struct.pack(">I", big) + b"\x05",                      # ext32
    ]
    return rng.choice(cases)


def other_shape(rng, jid):
    job = m({"id": jid, "type": "sleep", "args": {"ms": 1}})
    cases = [
        m([1, 2, 3]), m([{"v": 1, "job": job}]), m(42), m(-7), m(None), m(True), m(1.5),
        m("a string"), m(b"bytes"), m({}), m({"job": job}), m({"v": 1}),
        m({1: 1, 2: job}), m({b"v": 1, b"job": job}), m({"v": 1, "job": m([jid, "sleep"])}),
        m({"v": 1, "job": m("just a string")}), m({"v": 1, "job": b""}),
        m({"v": 1, "job": m({})}), m({"v": 1, "job": m({"id": jid})}),
        m({"v": 1, "job": m({"type": "sleep"})}),
        m({"v": 1, "job": m({"id": jid, "type": "data.digest", "args": nested(40)})}),
        m({"v": 1, "job": job, "x": nested(40)}),
        b"\x81\xa1v" + b"\x91" * 40 + b"\x01",
        msgpack.packb(msgpack.ExtType(5, b"abc")),
        m({"v": 1, "job": job}) + b"\x00",                  # trailing byte
        m({"v": 1, "job": job}) + m({"v": 1, "job": job}),  # two frames in one
        b"", b"\xc1", b"\xc1\xc1\xc1",
        m({"v": 1, "job": job, "v2": {"deep": [[[[]]]]}}),
    ]
    return rng.choice(cases)


def oversize(rng, jid):
    pad = "p" * (MAX_FRAME + rng.randrange(1, 4 * MAX_FRAME))
    return m({"v": 1, "job": m({"id": jid, "type": "data.digest", "args": pad})})


def generate(rng, n):
    """n frames: (kind, bytes)."""
    now = int(time.time() * 1000)
    out = []
    for i in range(n):
        jid = job_id(i)
        x = rng.random()
        if x < 0.48:
            out.append(("valid", valid_frame(rng, jid)))
        elif x < 0.50:
            out.append(("valid redelivered",
                        valid_frame(rng, jid, attempt=rng.randrange(1, 4),
                                    error="worker lost", failed_at=now - 1000)))
        elif x < 0.57:
            out.append(("bitflip", bitflip(rng, valid_frame(rng, jid))))
        elif x < 0.64:
            out.append(("truncated", truncate(rng, valid_frame(rng, jid))))
        elif x < 0.70:
            out.append(("inserted", insert(rng, valid_frame(rng, jid))))
        elif x < 0.77:
            out.append(("wrong type", wrong_type(rng, jid)))
        elif x < 0.81:
            out.append(("huge length", huge_length(rng, jid)))
        elif x < 0.85:
            out.append(("other shape", other_shape(rng, jid)))
        elif x < 0.87:
            out.append(("oversize", oversize(rng, jid)))
        elif x < 0.90:
            job = valid_job(rng, jid, rng.random() < 0.5)
            job["expires_at"] = now - rng.randrange(1, 10**7)
            out.append(("expired", m({"v": 1, "job": m(job)})))
        elif x < 0.93:
            v = rng.choice([0, 2, 3, 255, 65536, 2**40])
            out.append(("bad version", m({"v": v, "job": m(valid_job(rng, jid, True))})))
        elif x < 0.96:
            job = valid_job(rng, jid, rng.random() < 0.5)
            job["type"] = rng.choice(["no.such", "sleep.", "SLEEP", "x" * 128, "a.b.c.d"])
            out.append(("unknown type", m({"v": 1, "job": m(job)})))
        elif x < 0.975:
            job = m(valid_job(rng, jid, False))
            out.append(("unverifiable signature",
                        m({"v": 1, "job": job, "kid": rng.choice(["k1", "nokey"]),
                           "mac": bytes(rng.randrange(256) for _ in range(32))})))
        elif x < 0.99:
            job = valid_job(rng, jid, False)
            job["reply_to"] = rng.choice(["jobq:{soak}:pending", "jobq:x", "jobq:"])
            out.append(("reply_to a jobq key", m({"v": 1, "job": m(job)})))
        else:
            job = valid_job(rng, jid, False)
            job["reply_to"] = NOT_A_LIST
            out.append(("reply_to not a list", m({"v": 1, "job": m(job)})))
    return out


def lenient_id(raw):
    """The job id a frame carries, read as leniently as the worker reads it
    (first object, trailing bytes ignored, maps as lists of pairs so a key
    may be a map or an array, ext types of any code, as msgpack allows and
    the worker accepts), or None."""
    def first(b):
        u = msgpack.Unpacker(raw=False, unicode_errors="surrogateescape",
                             strict_map_key=False, object_pairs_hook=list,
                             ext_hook=lambda code, data: (code, data))
        u.feed(b)
        return u.unpack()

    def get(pairs, name):
        if not isinstance(pairs, list):
            return None
        found = [v for kv in pairs if isinstance(kv, tuple) and len(kv) == 2
                 for k, v in [kv] if k == name]
        return found[-1] if found else None  # the last occurrence wins

    try:
        job = get(first(raw), "job")
        if not isinstance(job, bytes):
            return None
        jid = get(first(job), "id")
        return jid if isinstance(jid, str) else None
    except Exception:
        return None


def key(q, name):
    return f"jobq:{{{q}}}:{name}"


def account(c, q, frames):
    """Finds every pushed frame exactly once. Returns (summary, problems)."""
    def unpack(b):
        # Lenient about str fields that are not UTF-8: a damaged job's own
        # bytes may come back in `type` and `error` (test_soak.py checks
        # records for that separately).
        # Ext types of any code, and maps used as keys deep inside a
        # result (user.create echoes args) read as pairs: the records' own
        # keys are always strings.
        try:
            return msgpack.unpackb(b, raw=False, strict_map_key=False,
                                   unicode_errors="surrogateescape",
                                   ext_hook=lambda code, data: (code, data))
        except TypeError:
            return dict(msgpack.unpackb(b, raw=False, strict_map_key=False,
                                        unicode_errors="surrogateescape",
                                        ext_hook=lambda code, data: (code, data),
                                        object_pairs_hook=list))

    raws = [f for _, f in frames]
    kinds = [k for k, _ in frames]
    pushed = collections.Counter(raws)
    dead_recs = [unpack(d) for d in c.lrange(key(q, "dead"), 0, -1)]
    dead_by_bytes = collections.Counter(d.get("frame") for d in dead_recs)
    pending = collections.Counter(c.lrange(key(q, "pending"), 0, -1))
    ids = [lenient_id(f) for f in raws]

    # Result records: every key, so that strangers show too.
    results = {}
    rkeys = list(c.scan_iter(match=key(q, "result:*"), count=1000))
    for lo in range(0, len(rkeys), 1000):
        chunk = rkeys[lo:lo + 1000]
        for k, raw in zip(chunk, c.mget(chunk)):
            if raw is not None:
                results[k.decode().split(":result:", 1)[1]] = unpack(raw)
    ok_ids = {i for i, r in results.items() if r.get("status") == "ok"}
    id_frames = collections.Counter(i for i in ids if i is not None)

    problems = []
    examples = []
    vanished = collections.Counter()     # kind -> frames found nowhere
    doubled = collections.Counter()      # kind -> frames found more than once
    outcome = collections.Counter()      # (kind, where it ended) -> frames
    counted_ok = 0
    seen = set()
    for idx, raw in enumerate(raws):
        if raw in seen:                  # identical bytes: counted as a group
            continue
        seen.add(raw)
        k = pushed[raw]
        jid = ids[idx]
        ok = 1 if jid is not None and jid in ok_ids else 0
        if ok and (id_frames[jid] > 1 or k > 1):
            problems.append(f"generator: job id {jid} is carried by {id_frames[jid]} frames")
        counted_ok += ok
        d, p = dead_by_bytes[raw], pending[raw]
        where = "ok" if ok else "dead" if d else "pending" if p else "nowhere"
        outcome[(kinds[idx], where)] += k
        if ok + d + p < k:
            vanished[kinds[idx]] += k - (ok + d + p)
        elif ok + d + p > k:
            doubled[kinds[idx]] += ok + d + p - k
        if ok + d + p != k and len(examples) < 10:
            examples.append(f"frame #{idx} ({kinds[idx]}, {len(raw)} bytes, id {jid!r}) "
                            f"pushed {k}x ends {ok} ok + {d} dead + {p} pending: "
                            f"{raw[:48]!r}")
    if vanished:
        problems.append(f"{sum(vanished.values())} frames vanished (no ok result, no dead "
                        f"record, not pending): {dict(vanished)}")
    if doubled:
        problems.append(f"{sum(doubled.values())} frames found more than once: {dict(doubled)}")
    frame_set = set(raws)
    stray_dead = [d for d in dead_recs if d.get("frame") not in frame_set]
    stray_pending = [f for f in pending if f not in frame_set]
    carried = set(i for i in ids if i is not None)
    stray_ok = sorted(i for i in ok_ids if i not in carried)
    for d in stray_dead[:5]:
        problems.append(f"a dead record for bytes never pushed: {d.get('id')!r} "
                        f"{d.get('error')!r} {d.get('frame', b'')[:48]!r}")
    if stray_dead:
        problems.append(f"{len(stray_dead)} dead records match no pushed frame")
    if stray_pending:
        problems.append(f"{len(stray_pending)} pending frames were never pushed")
    if stray_ok:
        problems.append(f"{len(stray_ok)} ok results carry no pushed frame's id: {stray_ok[:5]}")
    st = {k.decode(): int(v) for k, v in c.hgetall(key(q, "stats")).items()}
    if st.get("processed", 0) != counted_ok:
        problems.append(f"stats processed {st.get('processed', 0)} != {counted_ok} frames "
                        f"that ended ok")
    if st.get("dead", 0) != len(dead_recs):
        problems.append(f"stats dead {st.get('dead', 0)} != {len(dead_recs)} dead records")
    replies = collections.Counter()
    for x in c.lrange(REPLIES, 0, -1):
        replies[unpack(x).get("id")] += 1
    twice = {i: n for i, n in replies.items() if n > 1}
    if twice:
        problems.append(f"{len(twice)} jobs replied more than once: {list(twice.items())[:5]}")
    problems.extend(examples)
    summary = {
        "frames": len(raws), "ok": counted_ok, "dead records": len(dead_recs),
        "pending": sum(pending.values()), "replies": sum(replies.values()), "stats": st,
        "by kind": {f"{kd}->{w}": n for (kd, w), n in sorted(outcome.items())},
    }
    return summary, problems
