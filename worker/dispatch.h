/* Dispatch: decode and verify a taken frame, find its handler, run it on
 * the CPU pool or the loop under a time limit, and turn what happened into
 * an outcome for finish. Loop thread only. */
#ifndef JOBQ_DISPATCH_H
#define JOBQ_DISPATCH_H

#include <event2/util.h>
#include <stddef.h>

#include "task.h"
#include "worker.h"

/* Takes a copy of the frame bytes. */
void dispatch_frame(struct worker *w, struct wqueue *q, const char *raw,
                    size_t len);

/* An attempt ended (IO handlers via jobq_done, CPU via the handoff). */
void dispatch_complete(struct jobq_ctx *ctx);

/* Event callback: hands the CPU jobs started in this round of callbacks
 * to the pool at once. */
void dispatch_on_submit(evutil_socket_t fd, short what, void *arg);

/* Handoff delivery: a CPU task came back. */
void dispatch_deliver(struct task *t, void *arg);

/* Shutdown after the grace period: stop every running attempt without an
 * outcome; their frames stay in active for the final requeue. */
void dispatch_abandon_all(struct worker *w);

struct event_base *dispatch_loop(struct worker *w);
/* Finished with a context: it goes back to the pool. */
void jobctx_free(struct jobq_ctx *ctx);
/* At exit: the pool's contexts go back to malloc. */
void dispatch_free_pool(struct worker *w);
#endif
