"""jobq runner library for Python: the standard library only.

jobq-worker starts this process and keeps it running; it writes one JSON
request a line on stdin, {"id", "type", "args", "attempt", "deadline_ms"},
and reads one answer a line from stdout, {"id", "result"} or
{"id", "error", "permanent"}, in any order. A plain function runs at once,
one at a time; an `async def` handler runs as a task, so many overlap and
answer as they finish.

    from jobq_runner import run, PermanentError
    def greet(args, job):
        if "name" not in args:
            raise PermanentError("Missing required field: name")  # dead now
        return {"greeting": "hello " + args["name"]}
    run({"greet": greet})

Any other exception fails the attempt retryably. print() goes to stderr
(the worker logs it): stdout belongs to the protocol.
"""
import json
import sys

# asyncio and inspect are imported by run(): a program that only takes
# PermanentError from here (an exec command sharing a runner's handlers)
# starts about 90 ms sooner without them.


class PermanentError(Exception):
    """Raise to fail the job at once, without retries."""


def _failure(req, e):
    return {"id": req.get("id"), "error": str(e) or type(e).__name__,
            "permanent": isinstance(e, PermanentError)}


def run(handlers):
    """Serves handlers ({type: fn(args, job)}) until stdin ends."""
    import asyncio

    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print() must not break the protocol
    asyncio.run(_serve(handlers, out))


async def _serve(handlers, out):
    import asyncio
    import inspect

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                 sys.stdin)
    tasks = set()

    def answer(msg):
        out.write(json.dumps(msg, separators=(",", ":")).encode() + b"\n")

    async def run_task(req, fn):
        try:
            msg = {"id": req["id"], "result": await fn(req.get("args"), req)}
        except Exception as e:  # noqa: BLE001 -- every failure is an answer
            msg = _failure(req, e)
        answer(msg)
        out.flush()

    rest = b""
    while True:
        chunk = await reader.read(1 << 16)
        if not chunk:
            break
        *lines, rest = (rest + chunk).split(b"\n")
        for line in lines:
            req = json.loads(line)
            fn = handlers.get(req.get("type"))
            if fn is None:
                answer({"id": req.get("id"), "permanent": True,
                        "error": f"no handler for {req.get('type')}"})
            elif inspect.iscoroutinefunction(fn):
                t = asyncio.ensure_future(run_task(req, fn))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
            else:
                try:
                    answer({"id": req["id"], "result": fn(req.get("args"), req)})
                except Exception as e:  # noqa: BLE001
                    answer(_failure(req, e))
        out.flush()  # one write for every answer a read brought
    if tasks:
        await asyncio.wait(tasks)
