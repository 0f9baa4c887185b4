/* Fetch: takes frames from the served queues into this worker's active
 * lists, never more than there are free slots. Under backlog one TAKE
 * script per queue fills the free slots in one round trip; when every
 * queue is empty, one BLMOVE per queue waits on its own connection. After
 * a dropped connection it first returns frames whose take reply was lost
 * (the ORPHANS script) before taking more. Loop thread only. */
#ifndef JOBQ_FETCH_H
#define JOBQ_FETCH_H

#include "worker.h"

/* Longest a BLMOVE waits (a quarter of the heartbeat TTL when that is
 * less): also bounds how late a stopping worker learns that a blocked
 * fetch is done. */
#define FETCH_BLOCK_MS 1000
/* How long a queue whose keys Redis refuses is left aside. */
#define FETCH_BROKEN_MS 1000
/* Most frames one TAKE moves (Lua's unpack() limit is about 8000), and
 * about the most bytes (a backlog of large frames must not hold Redis). */
#define FETCH_BATCH_MAX 1000
#define FETCH_BATCH_BYTES (4 << 20)

/* Take more if slots are free. Cheap to call often. */
void fetch_kick(struct worker *w);
/* Redis is (again) up: reconcile, then take. */
void fetch_on_ready(struct worker *w);
/* The fetch_retry timer's callback (arg: the worker). */
void fetch_on_retry(int fd, short what, void *arg);
/* Nothing taken and no reply owed. */
bool fetch_idle(const struct worker *w);
#endif
