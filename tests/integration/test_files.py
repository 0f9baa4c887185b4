"""file.read and file.write: confined to file-root. Hostile paths (.., absolute,
NUL, symlinks out of the root, a symlink swapped while jobs run) never touch
anything outside it; writes are atomic to readers; file-root unset disables
both. Each test checks a canary directory beside the root."""
import os
import shutil
import tempfile
import threading

import pytest

from conftest import collect, frame, push, wait_until

SECRET = b"canary: outside the root\n"


def snapshot(d):
    """Names, contents and mtimes under d, symlinks as their targets."""
    out = {}
    for base, dirs, files in os.walk(d):
        for n in dirs + files:
            p = os.path.join(base, n)
            st = os.lstat(p)
            if os.path.islink(p):
                out[p] = ("link", os.readlink(p))
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    out[p] = ("file", f.read(), st.st_mtime_ns, st.st_mode)
            else:
                out[p] = ("dir", st.st_mode)
    return out


@pytest.fixture
def tree():
    """top/root (the file-root) and top/outside (a canary and a directory)."""
    top = tempfile.mkdtemp(prefix="jobq-files-")
    root, out = os.path.join(top, "root"), os.path.join(top, "outside")
    os.makedirs(os.path.join(root, "sub"))
    os.makedirs(os.path.join(out, "dir"))
    with open(os.path.join(out, "canary"), "wb") as f:
        f.write(SECRET)
    with open(os.path.join(out, "dir", "canary"), "wb") as f:
        f.write(SECRET)
    with open(os.path.join(root, "sub", "hello.txt"), "wb") as f:
        f.write(b"hello from inside\n")
    yield top, root, out
    shutil.rmtree(top, ignore_errors=True)


def run_jobs(r, jobs, timeout=20):
    """jobs: {id: (type, args)}; returns {id: record}."""
    for id, (t, a) in jobs.items():
        push(r, "default", frame(id, t, a, reply_to="rep", max_attempts=2))
    return {x["id"]: x for x in collect(r, "rep", len(jobs), timeout)}


# (path, what the error says) for both handlers; write also names content.
HOSTILE = [
    ("../outside/canary", "'..' component"),
    ("sub/../../outside/canary", "'..' component"),
    ("a/../../x", "'..' component"),
    ("..", "'..' component"),
    ("/etc/passwd", "absolute paths are refused"),
    (os.path.join("/", "tmp", "x"), "absolute paths are refused"),
    ("sub/hello.txt\0../../outside/canary", "NUL byte"),
    ("", "path is empty"),
    ("to_etc/passwd", "leaves file-root"),
    ("to_outside/canary", "leaves file-root"),
    ("to_canary", None),  # read: refused; write: replaces the link itself
    ("chain1/canary", "leaves file-root"),
    ("chain_rel/canary", "leaves file-root"),
]


def hostile_links(root, out):
    os.symlink("/etc", os.path.join(root, "to_etc"))
    os.symlink(os.path.join(out, "dir"), os.path.join(root, "to_outside"))
    os.symlink(os.path.join(out, "canary"), os.path.join(root, "to_canary"))
    # a chain that stays inside for two hops, then leaves by a relative link
    os.symlink("chain2", os.path.join(root, "chain1"))
    os.symlink("sub/../chain3", os.path.join(root, "chain2"))
    os.symlink("../outside/dir", os.path.join(root, "chain3"))
    os.symlink("sub/../../outside/dir", os.path.join(root, "chain_rel"))
    # a link that stays inside: followed by openat2, refused by nofollow
    os.symlink("sub", os.path.join(root, "inside"))


@pytest.mark.parametrize("resolve", ["openat2", "nofollow"])
def test_hostile_paths_never_leave_the_root(r, workers, tree, resolve):
    top, root, out = tree
    hostile_links(root, out)
    before = snapshot(out)
    etc_before = os.stat("/etc").st_mtime_ns
    args = ["--file-root", root]
    if resolve == "nofollow":
        args += ["--handler-setting", "file.resolve=nofollow"]
    workers(*args)
    jobs = {}
    for i, (p, _) in enumerate(HOSTILE):
        jobs[f"r{i}"] = ("file.read", {"path": p})
        jobs[f"w{i}"] = ("file.write", {"path": p, "content": b"pwned"})
    jobs["in"] = ("file.read", {"path": "inside/hello.txt"})
    recs = run_jobs(r, jobs)
    for i, (p, why) in enumerate(HOSTILE):
        rd, wr = recs[f"r{i}"], recs[f"w{i}"]
        assert rd["status"] == "dead" and rd["attempts"] == 1, (p, rd)
        if why:
            assert why in rd["error"], (p, rd["error"])
            assert wr["status"] == "dead" and wr["attempts"] == 1, (p, wr)
            assert why in wr["error"], (p, wr["error"])
    # Writing "to_canary" replaced the link in the root, never its target.
    assert recs[f"w{[p for p, _ in HOSTILE].index('to_canary')}"]["status"] == "ok"
    assert not os.path.islink(os.path.join(root, "to_canary"))
    with open(os.path.join(root, "to_canary"), "rb") as f:
        assert f.read() == b"pwned"
    if resolve == "openat2":
        assert recs["in"]["status"] == "ok"
        assert recs["in"]["result"]["content"] == b"hello from inside\n"
    else:
        assert recs["in"]["status"] == "dead"
        assert "symlink" in recs["in"]["error"]
    assert snapshot(out) == before
    assert os.stat("/etc").st_mtime_ns == etc_before
    assert not [n for n in os.listdir(root) if n.startswith(".jobq-tmp-")]


def test_round_trip_and_plain_failures(r, workers, tree):
    top, root, out = tree
    os.mkfifo(os.path.join(root, "fifo"))
    with open(os.path.join(root, "big"), "wb") as f:
        f.write(b"x" * 2048)
    workers("--file-root", root, "--file-max-bytes", "1024")
    blob = bytes(range(256)) * 3
    recs = run_jobs(r, {
        "w1": ("file.write", {"path": "sub/blob.bin", "content": blob}),
        "w2": ("file.write", {"path": "./text.txt", "content": "héllo"}),
        "w3": ("file.write", {"path": "nodir/x", "content": b"x"}),
        "w4": ("file.write", {"path": "sub/", "content": b"x"}),
        "w5": ("file.write", {"path": "x", "content": b"y" * 1025}),
        "w6": ("file.write", {"path": "x"}),
        "r1": ("file.read", {"path": "missing.txt"}),
        "r2": ("file.read", {"path": "fifo"}),
        "r3": ("file.read", {"path": "big"}),
        "r4": ("file.read", {"path": "sub"}),
        "r5": ("file.read", {}),
    })
    assert recs["w1"]["status"] == "ok" and recs["w1"]["result"] == {"bytes": len(blob)}
    assert recs["w2"]["result"] == {"bytes": len("héllo".encode())}
    with open(os.path.join(root, "sub", "blob.bin"), "rb") as f:
        assert f.read() == blob
    with open(os.path.join(root, "text.txt"), "rb") as f:
        assert f.read() == "héllo".encode()
    for id, why in [("w3", "No such file"), ("w4", "names a directory"),
                    ("w5", "larger than file-max-bytes"),
                    ("w6", "Missing required field: content"),
                    ("r1", "No such file: missing.txt"),
                    ("r2", "not a regular file"),
                    ("r3", "more than file-max-bytes"),
                    ("r4", "not a regular file"),
                    ("r5", "Missing required field: path")]:
        assert recs[id]["status"] == "dead" and recs[id]["attempts"] == 1, recs[id]
        assert why in recs[id]["error"], (id, recs[id]["error"])
    back = run_jobs(r, {"b1": ("file.read", {"path": "sub/blob.bin"})})
    assert back["b1"]["result"] == {"content": blob}


def test_file_root_unset_disables_both(r, workers):
    workers()
    recs = run_jobs(r, {"r": ("file.read", {"path": "a"}),
                        "w": ("file.write", {"path": "a", "content": b"x"})})
    for rec in recs.values():
        assert rec["status"] == "dead" and rec["attempts"] == 1
        assert rec["error"] == ("file-root is not set: file.read and file.write "
                                "are disabled")


def test_symlink_swapped_while_jobs_run_never_escapes(r, workers, tree):
    """A thread flips root/flip between sub (inside) and the outside dir
    while reads and writes go through it: each job lands inside or is refused,
    and the outside is never read or written."""
    top, root, out = tree
    with open(os.path.join(root, "sub", "canary"), "wb") as f:
        f.write(b"inside\n")
    before = snapshot(out)
    link = os.path.join(root, "flip")
    os.symlink("sub", link)
    stop = threading.Event()
    flips = [0]

    def flipper():
        targets = ["sub", os.path.join(out, "dir"), "sub", "../outside/dir"]
        tmp = os.path.join(root, "flip.tmp")
        while not stop.is_set():
            os.symlink(targets[flips[0] % len(targets)], tmp)
            os.rename(tmp, link)  # atomic swap, as an attacker would
            flips[0] += 1

    workers("--file-root", root)
    t = threading.Thread(target=flipper)
    t.start()
    try:
        n = 150
        jobs = {}
        for i in range(n):
            jobs[f"r{i}"] = ("file.read", {"path": "flip/canary"})
            jobs[f"w{i}"] = ("file.write", {"path": f"flip/w{i % 5}", "content": b"w"})
        flips_at_start = flips[0]
        recs = run_jobs(r, jobs, timeout=60)
        flipped = flips[0] - flips_at_start
    finally:
        stop.set()
        t.join()
    assert flipped > 0
    for id, rec in recs.items():
        if rec["status"] == "ok":
            if id.startswith("r"):
                assert rec["result"]["content"] == b"inside\n", rec
        else:
            assert rec["status"] == "dead" and rec["attempts"] == 1, rec
            assert "leaves file-root" in rec["error"], rec
    assert snapshot(out) == before


def test_readers_never_see_a_partial_write(r, workers, tree):
    """Writes of two 2 MiB contents alternate on one file while readers (the
    test's own threads and file.read jobs) read it: every read is one whole
    content or the other."""
    top, root, out = tree
    size = 2 << 20
    a, b = b"a" * size, b"b" * size
    path = os.path.join(root, "big.bin")
    with open(path, "wb") as f:
        f.write(a)
    workers("--file-root", root, "--max-frame-bytes", str(16 << 20),
            "--max-string-bytes", str(8 << 20), "--file-max-bytes", str(16 << 20))
    stop = threading.Event()
    seen = {"a": 0, "b": 0, "bad": 0}

    def reader():
        while not stop.is_set():
            with open(path, "rb") as f:
                data = f.read()
            key = "a" if data == a else "b" if data == b else "bad"
            seen[key] += 1

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        n = 12
        for i in range(n):
            push(r, "default", frame(f"w{i}", "file.write",
                                     {"path": "big.bin", "content": b if i % 2 == 0 else a},
                                     reply_to="rep"))
            push(r, "default", frame(f"r{i}", "file.read", {"path": "big.bin"},
                                     reply_to="rep"))
        recs = collect(r, "rep", 2 * n, 60)
        wait_until(lambda: seen["a"] + seen["b"] > 0, 10, "a read by the test")
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert seen["bad"] == 0, seen
    for rec in recs:
        assert rec["status"] == "ok", rec
        if rec["type"] == "file.read":
            assert rec["result"]["content"] in (a, b)
        else:
            assert rec["result"] == {"bytes": size}
    assert not [n for n in os.listdir(root) if n.startswith(".jobq-tmp-")]


def test_time_limit_passing_mid_write_is_clean(r, workers, tree):
    """Writes with a 1 ms limit queue behind big ones on the helper pool: each
    ends ok or timed out, never half; the helper threads' late answers land
    in no job (the sanitizer builds check the memory), and the worker stops
    cleanly (the fixture checks its exit)."""
    top, root, out = tree
    size = 2 << 20
    workers("--file-root", root, "--max-frame-bytes", str(16 << 20),
            "--max-string-bytes", str(8 << 20), "--file-max-bytes", str(16 << 20))
    jobs = {f"big{i}": ("file.write", {"path": f"big{i}", "content": b"B" * size})
            for i in range(2)}
    for i in range(10):
        jobs[f"t{i}"] = ("file.write", {"path": f"t{i}", "content": b"T" * size})
    for id, (t, a) in jobs.items():
        fields = {"timeout_ms": 1} if id.startswith("t") else {}
        push(r, "default", frame(id, t, a, reply_to="rep", max_attempts=1, **fields))
    recs = {x["id"]: x for x in collect(r, "rep", len(jobs), 60)}
    for id, rec in recs.items():
        if rec["status"] != "ok":
            assert id.startswith("t") and rec["error"] == "timeout after 1 ms", rec
    for id, rec in recs.items():
        if rec["status"] == "ok":
            with open(os.path.join(root, id), "rb") as f:
                assert f.read() == (b"B" if id.startswith("big") else b"T") * size
    # A timed-out write still completes on its thread; its temporary is gone.
    wait_until(lambda: not [n for n in os.listdir(root) if n.startswith(".jobq-tmp-")],
               10, "no temporary files left")
