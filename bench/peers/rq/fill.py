import sys

from redis import Redis
from rq import Queue

from transform import transform

q = Queue("bench", connection=Redis(port=int(sys.argv[1])))
n = int(sys.argv[2])
for i in range(0, n, 1000):
    q.enqueue_many([Queue.prepare_data(transform, ({"id": k, "username": "User_1",
                    "email": "User1@Example.COM", "full_name": "User One",
                    "created_at": 1700000000000},)) for k in range(i, min(n, i + 1000))])
