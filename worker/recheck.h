/* Recheck: before a redelivered job runs again, its result record is
 * looked up; a job whose record already says ok (its finish landed, then
 * its worker died before the reply came) is finished unrun. Loop thread
 * only. */
#ifndef JOBQ_RECHECK_H
#define JOBQ_RECHECK_H

#include <stdbool.h>

#include "jobctx.h"
#include "worker.h"

struct recheck;

/* done(ctx, finished_ok) runs once per check, when its reply comes (or
 * the connection drops: then finished_ok is false and the job runs). */
typedef void (*recheck_done_fn)(struct jobq_ctx *ctx, bool finished_ok);

struct recheck *recheck_new(struct worker *w, recheck_done_fn done);
void recheck_free(struct recheck *rc);

/* Looks ctx's result up; ctx goes to JOB_CHECKING. Returns 0, or -1 when
 * Redis is away (ctx untouched: run it). */
int recheck_start(struct recheck *rc, struct jobq_ctx *ctx);

/* Checks out now, and checks made / jobs found finished since start. */
unsigned recheck_pending(const struct recheck *rc);
unsigned long long recheck_total(const struct recheck *rc);
unsigned long long recheck_found(const struct recheck *rc);
#endif
