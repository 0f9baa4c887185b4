/* Fetch: takes frames from the served queues into this worker's active
 * lists, never more than the room dispatch has, by class: a TAKE (blind,
 * oldest first) asks for no more than the CPU room, and a PICK script
 * fills the io room with io frames only, even from behind CPU frames in
 * the same list, so io work never waits on CPU work and no CPU frame is
 * hoarded. How soon a queue is picked again after finding nothing follows
 * the class mix seen on it. When every queue is
 * empty, one BLMOVE per queue waits on its own connection. After a dropped
 * connection it first returns frames whose take reply was lost (the
 * ORPHANS script) before taking more. Loop thread only. */
#ifndef JOBQ_FETCH_H
#define JOBQ_FETCH_H

#include <stdbool.h>

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
/* A PICK looks at the oldest FETCH_PICK_SCAN frames of pending. One that
 * finds no io frame there is not repeated on that queue for
 * FETCH_PICK_MISS_MS, doubling while it keeps missing to
 * FETCH_PICK_MISS_MAX_MS, or to FETCH_PICK_MISS_IO_MS on a queue where
 * io jobs are common (a sixteenth or more of those started lately). */
#define FETCH_PICK_SCAN 256
/* msgpack items a PICK may walk per frame it looks at, in all: an io job
 * is a few dozen; CPU frames stuffed with an io type's name stop the
 * PICK early instead of holding Redis (pick.lua). */
#define FETCH_PICK_WALK_PER_FRAME 64
#define FETCH_PICK_MISS_MS 25
#define FETCH_PICK_MISS_IO_MS 100
#define FETCH_PICK_MISS_MAX_MS 400

struct fetch;

struct fetch *fetch_new(struct worker *w);
void fetch_free(struct fetch *f);

/* The tick: take more where there is room. Cheap to call often. */
void fetch_refill(struct fetch *f);
/* Redis is (again) up: reconcile, then take. */
void fetch_on_ready(struct fetch *f);
/* Nothing being taken and no reply owed. */
bool fetch_idle(const struct fetch *f);
#endif
