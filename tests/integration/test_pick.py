"""PICK (common/scripts/pick.lua): io-class frames move out of the oldest
part of pending into a worker's active list; every other frame stays, in
order, whatever its bytes."""
import os

import msgpack
import pytest
import redis

from conftest import ROOT

PENDING, ACTIVE = "jobq:{q}:pending", "jobq:{q}:active:w1"
PAUSED = "jobq:{q}:paused"
IO = ("sleep", "http.request")
MAX = 4096


def composed(name):
    """The script text the worker loads: common/scripts.c concatenates the
    files (SCRIPT_PICK = LUA_PRELUDE LUA_MSGPACK LUA_BUMP LUA_MAPGET LUA_PICK) byte for byte."""
    d = os.path.join(ROOT, "common", "scripts")
    parts = {"pick": ("prelude", "msgpack", "bump", "mapget", "pick")}[name]
    text = ""
    for p in parts:
        with open(os.path.join(d, p + ".lua")) as f:
            text += f.read()
    return text


@pytest.fixture
def pick(r):
    sha = r.script_load(composed("pick"))

    def run(want=100, scan=256, max_bytes=MAX, budget=4 << 20, walks=1 << 20, types=IO):
        rep = r.evalsha(sha, 3, PENDING, ACTIVE, PAUSED, want, scan, max_bytes, budget, walks,
                        *types)
        assert isinstance(rep[-1], int)
        return rep[:-1], rep[-1]
    return run


def job(type_, n, **extra):
    return dict(id=f"{type_}-{n}", type=type_, args={"n": n}, **extra)


def frame(j, **extra):
    return msgpack.packb(dict(v=1, job=msgpack.packb(j, use_bin_type=True), **extra),
                         use_bin_type=True)


def P(x):
    return msgpack.packb(x, use_bin_type=True)


def frame_of(job_bytes):
    return P({"v": 1, "job": job_bytes})


def cpu(n):
    return frame(job("password.hash", n))


def io(n, type_="sleep"):
    return frame(job(type_, n))


def enqueue(r, frames):
    """frames oldest first, pushed the way producers push them."""
    for f in frames:
        r.lpush(PENDING, f)


def pending(r):
    """pending oldest first."""
    return r.lrange(PENDING, 0, -1)[::-1]


def test_io_frames_move_in_order_and_only_they(r, pick):
    q = [cpu(1), io(1), cpu(2), io(2, "http.request"), cpu(3), cpu(4), io(3)]
    enqueue(r, q)
    moved, left = pick()
    assert moved == [io(1), io(2, "http.request"), io(3)]
    assert left == 4
    assert pending(r) == [cpu(1), cpu(2), cpu(3), cpu(4)]
    # Where TAKE (LMOVE RIGHT LEFT, oldest first) would have put them.
    assert r.lrange(ACTIVE, 0, -1) == [io(3), io(2, "http.request"), io(1)]


def test_a_paused_queue_gives_nothing(r, pick):
    enqueue(r, [cpu(1), io(1)])
    r.set(PAUSED, "1")
    moved, left = pick()
    # {-1}: the paused mark, where the length of pending would be
    assert moved == [] and left == -1
    assert pending(r) == [cpu(1), io(1)] and r.llen(ACTIVE) == 0


def test_lands_left_of_frames_already_active(r, pick):
    r.lpush(ACTIVE, b"held")
    enqueue(r, [cpu(1), io(1), io(2)])
    moved, left = pick()
    assert moved == [io(1), io(2)] and left == 1
    assert r.lrange(ACTIVE, 0, -1) == [io(2), io(1), b"held"]


def test_want_is_respected(r, pick):
    enqueue(r, [io(1), cpu(1), io(2), io(3), cpu(2)])
    moved, left = pick(want=2)
    assert moved == [io(1), io(2)] and left == 3
    assert pending(r) == [cpu(1), io(3), cpu(2)]
    moved, left = pick(want=0)
    assert moved == [] and left == 3


def test_scan_is_respected(r, pick):
    enqueue(r, [cpu(i) for i in range(10)] + [io(1)])
    moved, left = pick(scan=10)
    assert moved == [] and left == 11
    assert r.llen(ACTIVE) == 0
    moved, left = pick(scan=11)
    assert moved == [io(1)] and left == 10


def test_scan_counts_moved_frames_too(r, pick):
    enqueue(r, [io(1), cpu(1), cpu(2), io(2)])
    moved, left = pick(scan=3)
    assert moved == [io(1)] and left == 3
    assert pending(r) == [cpu(1), cpu(2), io(2)]


def test_scan_zero_or_garbage_moves_nothing(r, pick):
    enqueue(r, [io(1), io(2)])
    assert pick(scan=0) == ([], 2)
    assert pick(scan="x", want="y") == ([], 2)
    assert pending(r) == [io(1), io(2)]


def test_byte_budget_stops_the_scan(r, pick):
    fat = [frame(job("password.hash", i, pad="x" * 900)) for i in range(5)]
    enqueue(r, fat + [io(1)])
    moved, left = pick(budget=2500)  # reads 3 frames: 2700 bytes
    assert moved == [] and left == 6
    moved, left = pick(budget=10 ** 6)
    assert moved == [io(1)] and left == 5


def test_no_io_types_moves_nothing(r, pick):
    enqueue(r, [io(1)])
    assert pick(types=()) == ([], 1)
    assert pick(types=("http.request",)) == ([], 1)


def nested(depth, leaf="sleep"):
    v = leaf
    for _ in range(depth):
        v = [v]
    return v


def hostile():
    """Frames that must be passed over; each holds the bytes of an io type
    name, so none is passed over merely for lacking it."""
    big = frame(job("sleep", 0, pad="y" * MAX))
    assert len(big) > MAX
    return [
        b"\xc1 sleep not msgpack",
        b"sleep",
        msgpack.packb(["sleep", 1]),  # msgpack, not a map
        msgpack.packb({"v": 1, "sleep": b"x"}),  # no job
        msgpack.packb({"v": 1, "job": b"\xc1sleep"}, use_bin_type=True),  # job not msgpack
        msgpack.packb({"v": 1, "job": msgpack.packb("sleep")}, use_bin_type=True),  # job not a map
        msgpack.packb({"v": 1, "job": 7, "sleep": 1}),  # job not a string
        frame({"id": "a", "type": 5, "sleep": 1}),  # type an integer
        frame({"id": "b", "kind": "sleep"}),  # no type
        frame({"id": "c", "type": ["sleep"]}),  # type an array
        frame(job("sleep", 1)) + b"\x00",  # trailing bytes
        frame(job("sleep", 2)).replace(b"\xa1v\x01", b"\xa1v\x02"),  # v 2
        msgpack.packb({"v": 1, "job": msgpack.packb(job("sleep", 3)) + b"\xc0"},
                      use_bin_type=True),  # job with trailing bytes
        b"\x81\xc0\xa5sleep",  # a map with a nil key: cmsgpack raises
        big,  # over max frame bytes
        frame(job("sleep", 4, deep=nested(40))),  # job nested deeper than 32
        frame_of(b"\x83" + P("id") + P("s5") + P("type") + P("sleep") + P("deep")
                 + b"\x91" * 3000 + b"\xc0"),  # 3000 deep
        frame(job("sleep", 6, many=list(range(5000)))),  # a walk past WALK_MAX
        msgpack.packb({"v": 1, "job": msgpack.packb(job("sleep", 7))},
                      use_bin_type=False),  # job a str, not bin
        frame(job("sleep", 8)).replace(b"\xa4type", b"\xa4typo"),
        frame(job("sleep", 9))[:-1],  # truncated
        frame_of(msgpack.packb(job("sleep", 10))[:-3]),  # job truncated
        msgpack.packb({"v": 1, "job": msgpack.packb(job("sleep", 11)), "k": None},
                      use_bin_type=True)[:-1] + b"\xdd",  # a truncated length
        msgpack.packb({"v": 1, "job": msgpack.packb(job("sleep", 12)), "x": nested(40)},
                      use_bin_type=True),  # frame nested deeper than 32
        b"\x81\xa3job" + b"\x91" * 3000 + b"\xa5sleep",
        b"\xdf\xff\xff\xff\xff\xa5sleep",  # a map claiming 2^32 entries
        b"\xdd\xff\xff\xff\xff\xa5sleep",
        frame(job("sleepy", 7)),  # a type that only contains an io name
        frame(job("password.hash", 8, note="sleep")),
    ]


def test_hostile_frames_are_passed_over_untouched_and_in_order(r, pick):
    bad = hostile()
    q = []
    for i, h in enumerate(bad):
        q += [h, io(i)]
    enqueue(r, q)
    moved, left = pick(scan=1000)
    assert moved == [io(i) for i in range(len(bad))]
    assert left == len(bad)
    assert pending(r) == bad
    # Within the limit and 32 deep: still an io job.
    ok = frame(job("sleep", 99, deep=nested(30)))
    r.lpush(PENDING, ok)
    assert pick(scan=1000) == ([ok], len(bad))


def test_duplicates_take_the_oldest_copy(r, pick):
    enqueue(r, [io(1), cpu(1), io(1)])
    moved, left = pick(want=1)
    assert moved == [io(1)] and left == 2
    assert pending(r) == [cpu(1), io(1)]
    r.delete(PENDING, ACTIVE)
    enqueue(r, [cpu(1), io(1), cpu(1), io(1), io(2)])
    moved, left = pick()
    assert moved == [io(1), io(1), io(2)] and left == 2
    assert pending(r) == [cpu(1), cpu(1)]
    assert r.lrange(ACTIVE, 0, -1) == [io(2), io(1), io(1)]


def test_duplicate_of_a_passed_over_frame(r, pick):
    h = b"\xc1 sleep"
    enqueue(r, [h, io(1), h, io(2)])
    moved, left = pick()
    assert moved == [io(1), io(2)] and left == 2
    assert pending(r) == [h, h]


@pytest.mark.parametrize("key,setup", [
    (PENDING, lambda r: r.set(PENDING, "x")),
    (PENDING, lambda r: r.hset(PENDING, "a", "b")),
    (ACTIVE, lambda r: r.set(ACTIVE, "x")),
    (ACTIVE, lambda r: r.zadd(ACTIVE, {"a": 1})),
])
def test_wrong_key_types_are_errors_and_move_nothing(r, pick, key, setup):
    setup(r)
    if key == ACTIVE:
        enqueue(r, [io(1), cpu(1)])
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        pick()
    if key == ACTIVE:
        assert pending(r) == [io(1), cpu(1)]
    assert r.type(key) != b"list"


def test_pending_absent(r, pick):
    assert pick() == ([], 0)
    assert not r.exists(ACTIVE)


def test_reply_ends_with_the_length_of_pending(r, pick):
    enqueue(r, [cpu(1), io(1), cpu(2)])
    assert pick(want=0) == ([], 3)
    assert pick() == ([io(1)], 2)
    assert pick() == ([], 2)
    r.delete(PENDING)
    enqueue(r, [io(2)])
    assert pick() == ([io(2)], 0)


def test_frames_the_worker_reads_are_picked_in_any_encoding(r, pick):
    j = job("sleep", 1)
    variants = [
        frame(j, kid="k1", mac=b"m" * 32, attempt=2, error="boom", failed_at=1),
        frame(job("sleep", 2, pad="z" * 70000)),  # job a bin32, frame a map
        b"\x82\xa1v\xcc\x01\xa3job" + P(P(job("sleep", 3))),  # v as uint8
        frame_of(b"\x82\xd9\x04type\xd9\x05sleep\xa2id\xa2s4"),  # str8 key and type
        frame_of(b"\x82\xa4type\xa3cpu\xa4type\xa5sleep"),  # the last type wins
        P(dict({f"x{i}": i for i in range(20)}, v=1, job=P(job("sleep", 5)))),  # map16
        frame(job("sleep", 6, many=list(range(4000)))),  # within WALK_MAX
    ]
    q = []
    for i, v in enumerate(variants):
        q += [cpu(i), v]
    enqueue(r, q)
    moved, left = pick(max_bytes=1 << 20, scan=1000)
    assert moved == variants and left == len(variants)
    assert pending(r) == [cpu(i) for i in range(len(variants))]


def test_walk_budget_bounds_a_pick_over_hostile_frames(r, pick):
    """CPU frames a producer stuffed with an io type's name are each walked:
    the walk budget, not scan * WALK_MAX, bounds what one PICK costs."""
    heavy = [frame(dict(job("password.hash", n), args={"password": "sleep",
                                                       "pad": [0] * 4000}))
             for n in range(50)]
    enqueue(r, heavy + [io(1)])
    moved, left = pick(walks=10000)
    assert moved == [] and left == 51  # stopped after a few frames
    moved, left = pick(walks=1 << 20)
    assert moved == [io(1)] and left == 50
    assert pending(r) == heavy
