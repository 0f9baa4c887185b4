/* Dispatch: decode and verify a taken frame, find its handler, run it on
 * the CPU pool (which dispatch owns) or the loop under a time limit, and
 * turn what happened into an outcome for finish. Loop thread only. */
#ifndef JOBQ_DISPATCH_H
#define JOBQ_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "jobctx.h"
#include "worker.h"

/* How much CPU work is taken ahead of the pool: about CPU_LOOKAHEAD_NS of
 * work per thread, judged by a moving average of handler run time, so the
 * threads stay busy across a finish and a take round trip for microsecond
 * jobs (up to the max), while slow jobs (argon2id) stay near two per thread
 * and one replica cannot hoard a backlog its peers could be running. */
#define CPU_LOOKAHEAD_NS 2000000u
#define CPU_SLOTS_MIN_PER_THREAD 2u
#define CPU_SLOTS_MAX_PER_THREAD 256u
/* The share of io jobs among those started from a queue, in 1/IO_SHARE_ONE:
 * a moving average over about 16 jobs. */
#define IO_SHARE_ONE 1024u

struct dispatch;

/* Starts the CPU pool (threads pinned to cores[i % ncores]; ncores 0: not
 * pinned). Returns NULL with a reason in err. */
struct dispatch *dispatch_new(struct worker *w, const int *cores, int ncores,
                              char *err, size_t errlen);
/* Joins the pool and frees what dispatch holds. Returns false, freeing
 * nothing, while an abandoned CPU handler still runs on a thread (it
 * cannot be joined: the process exit ends it). */
bool dispatch_free(struct dispatch *d);

/* A frame was taken from q: takes a copy of its bytes. */
void dispatch_frame(struct dispatch *d, struct wqueue *q, const char *raw,
                    size_t len);
/* An io attempt ended (jobq_done). */
void dispatch_complete(struct jobq_ctx *ctx);
/* The tick: hands the CPU jobs staged in this turn to the pool at once. */
void dispatch_submit(struct dispatch *d);
/* Shutdown after the grace period: stop every running attempt without an
 * outcome; their frames stay in active for the final requeue. */
void dispatch_abandon_all(struct dispatch *d);

/* What fetch sizes its takes by. */
struct dispatch_load {
    unsigned cpu_slots;    /* CPU window (adaptive) */
    unsigned io_slots;     /* io-concurrency */
    unsigned cpu_inflight; /* staged or running on the pool */
    unsigned io_inflight;  /* running on the loop */
    unsigned checking;     /* redelivered, result being looked up */
    unsigned cpu_busy;     /* pool threads running a handler now */
};
void dispatch_load(const struct dispatch *d, struct dispatch_load *out);
/* Share of io jobs among those lately started from queue index qi. */
unsigned dispatch_io_share(const struct dispatch *d, int qi);
unsigned long long dispatch_rechecks(const struct dispatch *d);
#endif
