/* Finish: sends outcomes to Redis, one FINISH script per queue for every
 * batch of outcomes that completed in one loop iteration (result, reply_to,
 * stats, event, notify and the removal from active, atomically). While Redis is
 * away the outcomes are held and re-sent; a re-sent outcome that already landed
 * is fenced by the script (its frame is gone from active), so re-sending is
 * always safe. Loop thread only. */
#ifndef JOBQ_FINISH_H
#define JOBQ_FINISH_H

#include "worker.h"

/* Takes ownership of ctx (settled) and frees it once acknowledged. */
void finish_add(struct worker *w, struct jobq_ctx *ctx);
/* Send everything held now (Redis is back, or the flush event fired). */
void finish_flush(struct worker *w);
/* Event callbacks for w->flush_ev and w->finish_retry. */
void finish_on_event(int fd, short what, void *arg);
#endif
