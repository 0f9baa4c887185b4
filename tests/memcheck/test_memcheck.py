"""valgrind memcheck of the worker over a 10000-job run: cpu and io jobs,
retries, dead frames, a graceful stop. Run by tests/run.sh on the plain
build (valgrind and sanitizers do not mix)."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from conftest import WORKER, RedisServer, frame, key, stats, wait_until  # noqa: E402

N = 10000


def test_10000_jobs_leak_nothing():
    assert shutil.which("valgrind"), "valgrind is not installed"
    srv = RedisServer().start()
    log = tempfile.NamedTemporaryFile(prefix="jobq-memcheck-", suffix=".log", delete=False)
    try:
        r = srv.client()
        p = r.pipeline(transaction=False)
        for i in range(N):
            if i % 100 == 0:
                f = b"\xc1bad"                        # dead at once
            elif i % 100 == 1:
                f = frame(f"u{i}", "no.such", {}, max_attempts=1)  # unknown handler
            elif i % 10 == 2:
                f = frame(f"s{i}", "sleep", {"ms": 5}, reply_to="rep")
            else:
                f = frame(f"t{i}", "data.transform", {"id": i, "username": "U", "email": "E"},
                          reply_to="rep")
            p.lpush(key("default", "pending"), f)
        p.execute()
        w = subprocess.Popen(["valgrind", "--leak-check=full", "--show-leak-kinds=definite",
                              "--errors-for-leak-kinds=definite", "--error-exitcode=99",
                              f"--log-file={log.name}", WORKER, "--redis", srv.url(),
                              "--http", "off", "--cpu-threads", "2"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def finished():
            s = stats(r)
            return s.get("processed", 0) + s.get("dead", 0) == N
        wait_until(finished, 300, "all jobs finished under valgrind")
        w.send_signal(signal.SIGTERM)
        rc = w.wait(timeout=120)
        report = open(log.name).read()
        summary = re.search(r"definitely lost: ([\d,]+) bytes", report)
        print(report[-1500:])
        assert rc == 0, f"worker exited {rc}"
        assert summary is None or summary.group(1) == "0", summary.group(0)
        assert "ERROR SUMMARY: 0 errors" in report
        assert r.llen("rep") == N - N // 100 * 2
    finally:
        srv.cleanup()
