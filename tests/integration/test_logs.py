"""Log lines an operator reads: every retry and death at warn with the
job's fields, every finished job at info in JSON mode (with job_id, queue,
type, attempt, duration_ms, traceparent), and text mode one readable line
per event with per-job lines kept at debug."""
import json

from conftest import collect, frame, key, push, wait_until

TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def lines_json(w):
    """Every line the worker wrote, each of which must be a JSON object."""
    out = []
    for line in w.output().splitlines():
        out.append(json.loads(line))  # a line that is not JSON fails here
    return out


def find(lines, msg, job_id):
    return [x for x in lines if x.get("msg") == msg and x.get("job_id") == job_id]


def test_json_lines_carry_the_fields_of_finished_retried_and_dead_jobs(r, workers):
    w = workers("--log-format", "json", "--log-level", "info",
                "--retry-base-ms", "1", "--retry-max-ms", "5")
    push(r, "default", frame("ok-1", "sleep", {"ms": 200}, reply_to="replies",
                             traceparent=TRACE))
    # No worker serves this type: attempt 1 is retried, attempt 2 is dead.
    push(r, "default", frame("no-handler", "nosuch.type", {}, max_attempts=2))
    push(r, "default", b"\x93not a frame")
    assert collect(r, "replies", 1, 10)[0]["status"] == "ok"
    wait_until(lambda: r.llen(key("default", "dead")) == 2, 10, "two dead frames")

    def settled():
        ls = lines_json(w)
        return ls if (find(ls, "job finished", "ok-1") and
                      find(ls, "job dead", "no-handler") and
                      find(ls, "job dead", None)) else None
    lines = wait_until(settled, 10, "the finished, retry and dead lines")

    done, = find(lines, "job finished", "ok-1")
    assert done["level"] == "info"
    assert done["queue"] == "default" and done["type"] == "sleep"
    assert done["attempt"] == 1 and done["traceparent"] == TRACE
    # the handler slept 200 ms (its timer may fire a few ms early against
    # the wall, as libevent measures from the time cached at its turn)
    assert isinstance(done["duration_ms"], int) and done["duration_ms"] >= 150
    assert "error" not in done

    retry, = find(lines, "job failed, will retry", "no-handler")
    assert retry["level"] == "warn" and retry["attempt"] == 1
    assert retry["type"] == "nosuch.type" and retry["queue"] == "default"
    assert retry["error"] == "unknown handler: nosuch.type"
    assert retry["traceparent"] is None and retry["retry_in_ms"] >= 0

    dead, = find(lines, "job dead", "no-handler")
    assert dead["level"] == "warn" and dead["attempt"] == 2
    assert dead["error"] == "unknown handler: nosuch.type"

    # A frame that cannot be read has no id or type, and still its line.
    garbage, = find(lines, "job dead", None)
    assert garbage["level"] == "warn" and garbage["queue"] == "default"
    assert garbage["type"] is None and garbage["error"]


def test_text_mode_is_one_line_per_failure_and_keeps_finished_jobs_at_debug(r, workers):
    w = workers("--log-format", "text", "--log-level", "info")
    push(r, "default", frame("fine", "sleep", {"ms": 0}, reply_to="replies"))
    assert collect(r, "replies", 1, 10)[0]["status"] == "ok"
    push(r, "default", frame("invalid", "user.validate", {"username": "al"}))
    # A producer-chosen traceparent with a quote, a space and a newline.
    push(r, "default", frame("odd", "nosuch.type", {}, max_attempts=1,
                             traceparent='x "y"\nz'))

    def dead_lines():
        ls = [ln for ln in w.output().splitlines() if " job dead " in ln]
        return ls if len(ls) == 2 else None
    lines = wait_until(dead_lines, 10, "the dead jobs' lines")
    line, = [ln for ln in lines if "job_id=invalid " in ln]
    assert " warn  job dead job_id=invalid queue=default type=user.validate " \
        "attempt=1 duration_ms=" in line
    assert line.endswith(' error="Missing required field: email"')
    odd, = [ln for ln in lines if "job_id=odd " in ln]
    # the newline is \x0a (one line), then quoted as a value: \\x0a
    assert ' traceparent="x \\"y\\"\\\\x0az" ' in odd
    assert odd.endswith(' error="unknown handler: nosuch.type"')
    # The ok job landed before the dead one was even pushed: at info, text
    # mode has no line for it.
    assert "fine" not in w.output()
