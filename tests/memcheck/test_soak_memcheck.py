"""valgrind memcheck of the worker over 1000 frames of the mutation soak's
generator (tests/integration/soak_frames.py): no memory error, nothing
definitely lost, a clean stop, and every frame found exactly once as in the
soak. Run by tests/run.sh on the plain build (valgrind and sanitizers do not
mix)."""
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import soak_frames  # noqa: E402
from conftest import WORKER, RedisServer, key  # noqa: E402

N = 1000
Q = "soak"


def test_1000_mutated_frames_under_memcheck():
    assert shutil.which("valgrind"), "valgrind is not installed"
    seed = int(os.environ.get("JOBQ_SOAK_SEED", random.randrange(1 << 31)))
    print(f"\nsoak memcheck seed {seed}")
    frames = soak_frames.generate(random.Random(seed), N)
    srv = RedisServer().start()
    log = tempfile.NamedTemporaryFile(prefix="jobq-memcheck-soak-", suffix=".log", delete=False)
    wlog = tempfile.NamedTemporaryFile(prefix="jobq-memcheck-soak-worker-", suffix=".log",
                                       delete=False)
    w = None
    try:
        r = srv.client()
        r.set(soak_frames.NOT_A_LIST, "a string, not a list")
        r.lpush(key(Q, "pending"), *[f for _, f in frames])
        w = subprocess.Popen(["valgrind", "--leak-check=full", "--show-leak-kinds=definite",
                              "--errors-for-leak-kinds=definite", "--error-exitcode=99",
                              f"--log-file={log.name}", WORKER, "--redis", srv.url(),
                              "--http", "off", "--queues", Q, "--cpu-threads", "2",
                              "--log-level", "warn", *soak_frames.WORKER_ARGS],
                             stdout=subprocess.DEVNULL, stderr=wlog)

        def settled():
            p = r.pipeline(transaction=False)
            p.llen(key(Q, "pending"))
            p.zcard(key(Q, "delayed"))
            pending, delayed = p.execute()
            active = sum(r.llen(k) for k in r.scan_iter(match=key(Q, "active:*")))
            return pending == 0 and delayed == 0 and active == 0

        deadline = time.time() + 300
        while not settled():
            assert w.poll() is None, f"worker exited {w.returncode} under valgrind"
            assert time.time() < deadline, "frames not drained under valgrind in 300 s"
            time.sleep(0.1)
        assert w.poll() is None, f"worker exited {w.returncode} under valgrind"
        w.send_signal(signal.SIGTERM)
        rc = w.wait(timeout=120)
        report = open(log.name).read()
        print(report[-1500:])
        print(f"valgrind log {log.name}, worker log {wlog.name}")
        summary = re.search(r"definitely lost: ([\d,]+) bytes", report)
        acc, problems = soak_frames.account(r, Q, frames)
        print(f"soak memcheck: seed={seed} {acc}")
        assert rc == 0, f"worker exited {rc}"
        assert summary is None or summary.group(1) == "0", summary.group(0)
        assert "ERROR SUMMARY: 0 errors" in report
        assert not problems, "\n".join(problems[:40])
        os.unlink(log.name)
        os.unlink(wlog.name)
    finally:
        if w and w.poll() is None:
            w.kill()
            w.wait()
        srv.cleanup()
