"""Enqueue-to-completion latency for single jobs sent one at a time to an
idle RQ worker. RQ has no completion notice, so the client polls the job's
status as RQ users do; beside it, a PING loop on the same client."""
import json
import sys
import time

from redis import Redis
from rq import Queue

from jobs import transform

r = Redis(port=int(sys.argv[1]))
n = int(sys.argv[2])
q = Queue("lat", connection=r)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


rtt = []
for _ in range(n):
    t = time.perf_counter()
    r.ping()
    rtt.append(time.perf_counter() - t)
lat = []
for i in range(n):
    t = time.perf_counter()
    job = q.enqueue(transform, {"id": i, "username": "User_1", "email": "User1@Example.COM",
                                "full_name": "User One", "created_at": 1700000000000})
    while job.get_status(refresh=True) != "finished":
        pass
    lat.append(time.perf_counter() - t)
print(json.dumps({"n": n, "rtt_us": pct(rtt, 0.5) * 1e6, "p50_us": pct(lat, 0.5) * 1e6,
                  "p99_us": pct(lat, 0.99) * 1e6, "p999_us": pct(lat, 0.999) * 1e6}))
