import sys

from redis import Redis
from rq import Queue

from jobs import hash_password, sleep, sum_squares, transform

q = Queue("bench", connection=Redis(port=int(sys.argv[1])))
workload, n = sys.argv[2], int(sys.argv[3])


def job(k):
    if workload == "sleep":
        return Queue.prepare_data(sleep, (1000,))
    if workload == "sum_squares":
        return Queue.prepare_data(sum_squares, ({"n": 10},))
    if workload == "hash":
        return Queue.prepare_data(hash_password, (f"Secret{k}x",))
    return Queue.prepare_data(transform, ({"id": k, "username": "User_1",
                                           "email": "User1@Example.COM", "full_name": "User One",
                                           "created_at": 1700000000000},))


for i in range(0, n, 1000):
    q.enqueue_many([job(k) for k in range(i, min(n, i + 1000))])
