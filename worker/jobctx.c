/* Job contexts and their pool (see jobctx.h). */
#include "jobctx.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* Finished contexts are kept for the next jobs: up to CTX_POOL_MAX of them
 * (a window's worth), and none whose buffers grew past CTX_KEEP_BYTES (one
 * big job must not pin its memory). */
#define CTX_POOL_MAX 256
#define CTX_KEEP_BYTES 16384

struct jobs {
    struct jobq_ctx live; /* sentinel of the live list */
    unsigned live_n;
    struct jobq_ctx *pool;
    unsigned pool_n;
};

struct jobs *jobs_new(void)
{
    struct jobs *j = xcalloc(1, sizeof(*j));
    j->live.lnext = j->live.lprev = &j->live;
    return j;
}

unsigned jobs_live(const struct jobs *j)
{
    return j->live_n;
}

struct jobq_ctx *jobs_first(struct jobs *j)
{
    return j->live.lnext == &j->live ? NULL : j->live.lnext;
}

struct jobq_ctx *jobs_next(struct jobs *j, struct jobq_ctx *ctx)
{
    return ctx->lnext == &j->live ? NULL : ctx->lnext;
}

static void sbuf_reuse(msgpack_sbuffer *sb)
{
    if (sb->alloc > CTX_KEEP_BYTES) {
        msgpack_sbuffer_destroy(sb);
        msgpack_sbuffer_init(sb);
    } else {
        msgpack_sbuffer_clear(sb);
    }
}

static void destroy(struct jobq_ctx *ctx)
{
    frame_free(&ctx->fr);
    job_free(&ctx->job);
    if (ctx->deadline)
        event_free(ctx->deadline);
    msgpack_sbuffer_destroy(&ctx->result);
    msgpack_sbuffer_destroy(&ctx->rec);
    msgpack_sbuffer_destroy(&ctx->dead);
    msgpack_sbuffer_destroy(&ctx->retry);
    msgpack_sbuffer_destroy(&ctx->event);
    msgpack_sbuffer_destroy(&ctx->notify);
    free(ctx->raw);
    free(ctx);
}

struct jobq_ctx *jobctx_new(struct jobs *j, struct worker *w, struct wqueue *q,
                            const char *raw, size_t len)
{
    struct jobq_ctx *ctx = j->pool;
    if (ctx) {
        j->pool = ctx->next;
        j->pool_n--;
        /* Everything but the kept buffers and timer starts from zero. */
        struct jobq_ctx kept = *ctx;
        memset(ctx, 0, sizeof(*ctx));
        ctx->raw = kept.raw;
        ctx->rawcap = kept.rawcap;
        ctx->deadline = kept.deadline;
        ctx->result = kept.result;
        ctx->rec = kept.rec;
        ctx->dead = kept.dead;
        ctx->retry = kept.retry;
        ctx->event = kept.event;
        ctx->notify = kept.notify;
        ctx->fr.zone = kept.fr.zone;
        ctx->job.zone = kept.job.zone;
    } else {
        ctx = xcalloc(1, sizeof(*ctx));
    }
    atomic_init(&ctx->cancelled, 0);
    if (ctx->rawcap < len || !ctx->raw) {
        free(ctx->raw);
        ctx->rawcap = len > 256 ? len : 256;
        ctx->raw = xmalloc(ctx->rawcap);
    }
    memcpy(ctx->raw, raw, len);
    ctx->rawlen = len;
    ctx->jobs = j;
    ctx->w = w;
    ctx->q = q;
    ctx->state = JOB_DECODED;
    msgpack_packer_init(&ctx->pk, &ctx->result, xsbuffer_write);
    ctx->lnext = j->live.lnext;
    ctx->lprev = &j->live;
    j->live.lnext->lprev = ctx;
    j->live.lnext = ctx;
    j->live_n++;
    return ctx;
}

void jobctx_free(struct jobq_ctx *ctx)
{
    struct jobs *j = ctx->jobs;
    jobctx_end_ops(ctx); /* a pooled context must not be answered into */
    ctx->lprev->lnext = ctx->lnext;
    ctx->lnext->lprev = ctx->lprev;
    j->live_n--;
    if (j->pool_n >= CTX_POOL_MAX || ctx->rawcap > CTX_KEEP_BYTES) {
        destroy(ctx);
        return;
    }
    if (ctx->deadline)
        evtimer_del(ctx->deadline);
    job_release(&ctx->job);
    frame_release(&ctx->fr);
    sbuf_reuse(&ctx->result);
    sbuf_reuse(&ctx->rec);
    sbuf_reuse(&ctx->dead);
    sbuf_reuse(&ctx->retry);
    sbuf_reuse(&ctx->event);
    sbuf_reuse(&ctx->notify);
    ctx->next = j->pool;
    j->pool = ctx;
    j->pool_n++;
}

void jobs_free(struct jobs *j)
{
    if (!j)
        return;
    while (j->live.lnext != &j->live) {
        struct jobq_ctx *ctx = j->live.lnext;
        ctx->lprev->lnext = ctx->lnext;
        ctx->lnext->lprev = ctx->lprev;
        destroy(ctx);
    }
    while (j->pool) {
        struct jobq_ctx *ctx = j->pool;
        j->pool = ctx->next;
        destroy(ctx);
    }
    free(j);
}

const char *jobctx_state_name(enum jobctx_state s)
{
    static const char *const names[] = {"decoded",  "checking", "staged",
                                        "running",  "settled",  "finishing",
                                        "abandoned"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

void jobctx_op_attach(struct jobq_ctx *ctx, struct jobctx_op *op)
{
    op->ctx = ctx;
    op->next = ctx->ops;
    ctx->ops = op;
}

void jobctx_op_detach(struct jobctx_op *op)
{
    if (!op->ctx)
        return;
    for (struct jobctx_op **pp = &op->ctx->ops; *pp; pp = &(*pp)->next)
        if (*pp == op) {
            *pp = op->next;
            break;
        }
    op->ctx = NULL;
    op->next = NULL;
}

void jobctx_end_ops(struct jobq_ctx *ctx)
{
    for (struct jobctx_op *op = ctx->ops, *next; op; op = next) {
        next = op->next;
        op->ctx = NULL;
        op->next = NULL;
    }
    ctx->ops = NULL;
}
