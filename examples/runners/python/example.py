"""An example runner: `--runner "example.sum_squares,example.greet=python3
examples/runners/python/example.py"`."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jobq_runner import PermanentError, run  # noqa: E402


def sum_squares(args, job):
    n = args.get("n") if isinstance(args, dict) else None
    if not isinstance(n, int) or n < 0:
        raise PermanentError("n must be a whole number")
    return {"sum": sum(i * i for i in range(n))}


def greet(args, job):
    if not isinstance(args, dict) or "name" not in args:
        raise PermanentError("Missing required field: name")
    return {"greeting": f"hello {args['name']}", "attempt": job["attempt"]}


if __name__ == "__main__":
    run({"example.sum_squares": sum_squares, "example.greet": greet})
