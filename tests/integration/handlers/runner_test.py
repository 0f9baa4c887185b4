"""A runner for test_user_handlers, on the example Python library."""
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "..", "examples", "runners", "python"))
from jobq_runner import PermanentError, run  # noqa: E402


def ok(args, job):
    return {"args": args, "attempt": job["attempt"], "pid": os.getpid(),
            "deadline_ms": job["deadline_ms"]}


def fail(args, job):
    if args.get("permanent"):
        raise PermanentError(args["message"])
    raise RuntimeError(args["message"])


async def sleep(args, job):
    await asyncio.sleep(args["ms"] / 1000)
    return {"slept": args["ms"]}


async def crash(args, job):
    await asyncio.sleep(args["after_ms"] / 1000)
    if job["attempt"] == 1:
        os._exit(3)
    return {"attempt": job["attempt"]}


def hang(args, job):
    if job["attempt"] == 1:
        time.sleep(3600)  # blocks the whole runner
    return {"attempt": job["attempt"]}


def garble(args, job):
    if job["attempt"] == 1:
        os.write(1, b"this is not an answer\n")
    return {"attempt": job["attempt"]}


async def flood(args, job):
    end = time.time() + args["ms"] / 1000
    while time.time() < end:
        os.write(2, b"flood " * 1000 + b"\n")
        await asyncio.sleep(0)
    return {"flooded": True}


run({"t.ok": ok, "t.fail": fail, "t.sleep": sleep, "t.crash": crash,
     "t.hang": hang, "t.garble": garble, "t.flood": flood})
