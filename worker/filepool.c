/* Helper pool for file access (see filepool.h). */
#include "filepool.h"

#include <stdio.h>
#include <stdlib.h>

#include "cpupool.h"
#include "handoff.h"
#include "jobctx.h"
#include "task.h"
#include "xalloc.h"

/* One offloaded request. The task crosses to a thread and back; every
 * other field is the loop's. */
struct fileop {
    struct task task;
    struct jobctx_op link; /* tied to the attempt while it runs */
    jobq_offload_fn run;
    jobq_offload_done_fn done;
    void *arg;
    struct fileop *prev, *next; /* every request out */
};

struct filepool {
    struct handoff *handoff;
    struct cpupool *pool;
    struct fileop *out; /* submitted, not yet back */
    unsigned nout;
};

static void run_op(struct task *t)
{
    struct fileop *op = container_of(t, struct fileop, task);
    op->run(op->arg);
}

static void unlink_op(struct filepool *fp, struct fileop *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else
        fp->out = op->next;
    if (op->next)
        op->next->prev = op->prev;
    fp->nout--;
}

/* Back on the loop: the attempt gets its answer if it still runs. */
static void deliver(struct task *t, void *arg)
{
    struct filepool *fp = arg;
    struct fileop *op = container_of(t, struct fileop, task);
    unlink_op(fp, op);
    struct jobq_ctx *ctx = op->link.ctx;
    jobctx_op_detach(&op->link);
    jobq_offload_done_fn done = op->done;
    void *a = op->arg;
    free(op);
    done(ctx, a);
}

struct filepool *filepool_new(struct event_base *base, unsigned nthreads,
                              char *err, size_t errlen)
{
    struct filepool *fp = xcalloc(1, sizeof(*fp));
    fp->handoff = handoff_new(base, deliver, fp);
    if (!fp->handoff) {
        snprintf(err, errlen, "cannot make the helper pool's wake-up");
        free(fp);
        return NULL;
    }
    fp->pool = cpupool_new(nthreads, NULL, 0, fp->handoff, err, errlen);
    if (!fp->pool) {
        handoff_free(fp->handoff);
        free(fp);
        return NULL;
    }
    return fp;
}

int filepool_submit(struct filepool *fp, struct jobq_ctx *ctx,
                    jobq_offload_fn run, jobq_offload_done_fn done, void *arg)
{
    for (const struct jobctx_op *o = ctx->ops; o; o = o->next)
        if (o->owner == fp)
            return JOBQ_EBUSY;
    struct fileop *op = xcalloc(1, sizeof(*op));
    op->run = run;
    op->done = done;
    op->arg = arg;
    op->task.run = run_op;
    op->link.owner = fp;
    jobctx_op_attach(ctx, &op->link);
    op->next = fp->out;
    if (fp->out)
        fp->out->prev = op;
    fp->out = op;
    fp->nout++;
    cpupool_submit(fp->pool, &op->task, &op->task, 1);
    return JOBQ_OK;
}

unsigned filepool_outstanding(const struct filepool *fp)
{
    return fp->nout;
}

void filepool_free(struct filepool *fp)
{
    if (!fp)
        return;
    /* After the join no thread holds a request: the rest are either in
     * the handoff's queue or were never taken. Both are ours to release. */
    cpupool_free(fp->pool);
    while (fp->out) {
        struct fileop *op = fp->out;
        unlink_op(fp, op);
        jobctx_op_detach(&op->link);
        op->done(NULL, op->arg);
        free(op);
    }
    handoff_free(fp->handoff);
    free(fp);
}
