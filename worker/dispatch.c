/* Dispatch (see dispatch.h). */
#include "dispatch.h"

#include <event2/event.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "clock.h"
#include "cpupool.h"
#include "finish.h"
#include "handoff.h"
#include "log.h"
#include "recheck.h"
#include "record.h"
#include "utf8.h"
#include "xalloc.h"

struct dispatch {
    struct worker *w;
    struct handoff *handoff;
    struct cpupool *cpu;
    struct recheck *recheck;
    unsigned cpu_slots, io_slots, cpu_inflight, io_inflight;
    uint64_t cpu_run_ns; /* moving average of a CPU handler's run time */
    unsigned io_share[SETTINGS_MAX_QUEUES];
    struct task *staged_first, *staged_last; /* CPU jobs not yet submitted */
    unsigned staged_n;
    unsigned on_thread; /* abandoned CPU jobs a pool thread still runs */
};

static uint64_t max_attempts(const struct jobq_ctx *ctx)
{
    if (ctx->has_job && ctx->job.max_attempts)
        return ctx->job.max_attempts;
    return ctx->w->s->default_max_attempts;
}

/* A notify job carrying the result record, enqueued by the finishing
 * script atomically with the completion. Our key vouches only for what a
 * producer's key vouched for. */
static void encode_notify(struct jobq_ctx *ctx, uint64_t now)
{
    const struct worker *w = ctx->w;
    msgpack_sbuffer job;
    msgpack_sbuffer_init(&job);
    record_notify_job(&job, &ctx->job, ctx->rec.data, ctx->rec.size, now);
    if (w->keys && ctx->verified) {
        unsigned char mac[FRAME_MAC_BYTES];
        sign_mac(w->keys, w->keys->k[0].kid, job.data, job.size, mac);
        frame_encode_new(&ctx->notify, job.data, job.size, w->keys->k[0].kid,
                         mac);
    } else {
        frame_encode_new(&ctx->notify, job.data, job.size, NULL, NULL);
    }
    msgpack_sbuffer_destroy(&job);
}

static const char *const outcome_names[] = {"none", "ok", "retry", "dead",
                                            "skip"};

/* Turns what happened into what finish writes, and hands ctx to finish. */
static void settle(struct jobq_ctx *ctx)
{
    struct worker *w = ctx->w;
    uint64_t now = clock_wall_ms();
    unsigned attempts = ctx->attempt
                            ? ctx->attempt
                            : (unsigned)(ctx->has_frame ? ctx->fr.attempt : 0);
    const struct job *job = ctx->has_job ? &ctx->job : NULL;
    if (ctx->out == OUT_SKIP) {
        /* already finished ok by another run: nothing more to write */
    } else if (!ctx->failed) {
        ctx->out = OUT_OK;
        record_result(&ctx->rec, job, ctx->q->name, true, ctx->result.data,
                      ctx->result.size, NULL, attempts, now, w->wid);
        record_event(&ctx->event, job, "ok", ctx->attempt, now, NULL);
        if (ctx->job.notify.ptr)
            encode_notify(ctx, now);
    } else if (ctx->fail_kind == JOBQ_RETRYABLE && job &&
               ctx->attempt < max_attempts(ctx)) {
        ctx->out = OUT_RETRY;
        frame_encode_retry(&ctx->retry, &ctx->fr, ctx->attempt, ctx->err,
                           strlen(ctx->err), now);
        ctx->due_ms =
            now + backoff_delay_ms(w->s->retry_base_ms, w->s->retry_max_ms,
                                   ctx->attempt, backoff_draw());
        record_event(&ctx->event, job, "retry", ctx->attempt, now, ctx->err);
    } else {
        ctx->out = OUT_DEAD;
        record_dead(&ctx->dead, ctx->raw, ctx->rawlen, job, ctx->err, now,
                    w->wid);
        record_event(&ctx->event, job, "dead", attempts, now, ctx->err);
        if (job) {
            record_result(&ctx->rec, job, ctx->q->name, false, NULL, 0,
                          ctx->err, attempts, now, w->wid);
            if (ctx->job.notify.ptr)
                encode_notify(ctx, now);
        }
    }
    if (log_enabled(LOG_DEBUG))
        log_debug("job %s on %s: %s%s%s", ctx->id[0] ? ctx->id : "?",
                  ctx->q->name, outcome_names[ctx->out],
                  ctx->failed ? ": " : "", ctx->failed ? ctx->err : "");
    ctx->state = JOB_SETTLED;
    finish_add(w->finish, ctx);
}

static void reject(struct jobq_ctx *ctx, const char *reason)
{
    snprintf(ctx->err, sizeof(ctx->err), "%s", reason);
    ctx->failed = true;
    ctx->fail_kind = JOBQ_PERMANENT;
    /* finish logs the death at warn once it lands, with its fields. */
    log_debug("frame on %s is dead: %s", ctx->q->name, reason);
    settle(ctx);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct jobq_ctx *ctx = arg;
    (void)fd;
    (void)what;
    ctx->timed_out = true;
    if (ctx->h->cls == JOBQ_CLASS_CPU) {
        /* A pool thread cannot be stopped from outside: the handler sees
         * the flag and returns; the attempt counts as timed out. */
        atomic_store(&ctx->cancelled, 1);
        log_warn("job %s (%s) passed its %llu ms limit; cancelling", ctx->id,
                 ctx->h->type, (unsigned long long)ctx->timeout_ms);
        return;
    }
    ctx->h->cancel(ctx);
    dispatch_complete(ctx);
}

static void run_cpu(struct task *t)
{
    struct jobq_ctx *ctx = container_of(t, struct jobq_ctx, task);
    uint64_t t0 = clock_mono_ns();
    if (ctx->h->cpu(ctx) != 0 && !ctx->failed)
        jobq_fail(ctx, JOBQ_RETRYABLE, "handler %s failed without a message",
                  ctx->h->type);
    ctx->run_ns = clock_mono_ns() - t0;
}

/* The CPU window follows the moving average of run time (CPU_LOOKAHEAD_NS
 * of work per thread). */
static void adapt_cpu_slots(struct dispatch *d, uint64_t run_ns)
{
    int64_t avg = (int64_t)d->cpu_run_ns;
    avg += ((int64_t)run_ns - avg) / 8;
    d->cpu_run_ns = (uint64_t)(avg > 1 ? avg : 1);
    uint64_t per = CPU_LOOKAHEAD_NS / d->cpu_run_ns;
    if (per < CPU_SLOTS_MIN_PER_THREAD)
        per = CPU_SLOTS_MIN_PER_THREAD;
    if (per > CPU_SLOTS_MAX_PER_THREAD)
        per = CPU_SLOTS_MAX_PER_THREAD;
    d->cpu_slots = (unsigned)per * d->w->s->cpu_threads;
}

static void start(struct dispatch *d, struct jobq_ctx *ctx)
{
    struct worker *w = d->w;
    ctx->started_ms = clock_mono_ms();
    if (!ctx->deadline)
        ctx->deadline = evtimer_new(w->base, on_deadline, ctx);
    struct timeval tv = clock_timeval(ctx->timeout_ms);
    evtimer_add(ctx->deadline, &tv);
    bool io = ctx->h->cls != JOBQ_CLASS_CPU;
    unsigned *share = &d->io_share[ctx->q->index];
    *share = io ? *share + (IO_SHARE_ONE - *share + 15) / 16
                : *share - (*share + 15) / 16;
    if (io) {
        ctx->state = JOB_RUNNING;
        d->io_inflight++;
        ctx->h->start(ctx);
        return;
    }
    /* A take brings jobs in bursts: they go to the pool in one lock and
     * one wake-up, from the tick once this round of callbacks is over. */
    ctx->state = JOB_STAGED;
    d->cpu_inflight++;
    ctx->task.run = run_cpu;
    ctx->task.next = NULL;
    if (d->staged_last)
        d->staged_last->next = &ctx->task;
    else
        d->staged_first = &ctx->task;
    d->staged_last = &ctx->task;
    d->staged_n++;
    worker_wake(w);
}

void dispatch_submit(struct dispatch *d)
{
    if (!d->staged_n)
        return;
    for (struct task *t = d->staged_first; t; t = t->next)
        container_of(t, struct jobq_ctx, task)->state = JOB_RUNNING;
    cpupool_submit(d->cpu, d->staged_first, d->staged_last, d->staged_n);
    d->staged_first = d->staged_last = NULL;
    d->staged_n = 0;
}

void dispatch_complete(struct jobq_ctx *ctx)
{
    struct dispatch *d = ctx->w->dispatch;
    if (ctx->state != JOB_RUNNING)
        return;
    evtimer_del(ctx->deadline);
    /* Answers still out (a file op on the helper pool, a publish) must not
     * land in a settled context: they only release what they hold. */
    jobctx_end_ops(ctx);
    if (ctx->h->cls == JOBQ_CLASS_CPU)
        d->cpu_inflight--;
    else
        d->io_inflight--;
    if (ctx->timed_out) {
        uint64_t took = clock_mono_ms() - ctx->started_ms;
        if (ctx->h->cls == JOBQ_CLASS_CPU && took > ctx->timeout_ms + 1000)
            log_warn("job %s (%s) overran its limit by %llu ms", ctx->id,
                     ctx->h->type,
                     (unsigned long long)(took - ctx->timeout_ms));
        msgpack_sbuffer_clear(&ctx->result);
        jobq_fail(ctx, JOBQ_RETRYABLE, "timeout after %llu ms",
                  (unsigned long long)ctx->timeout_ms);
    }
    settle(ctx);
}

/* The handoff brings a CPU job back from the pool. */
static void deliver(struct task *t, void *arg)
{
    struct dispatch *d = arg;
    struct jobq_ctx *ctx = container_of(t, struct jobq_ctx, task);
    if (ctx->state == JOB_ABANDONED) {
        d->on_thread--;
        jobctx_free(ctx);
        return;
    }
    adapt_cpu_slots(d, ctx->run_ns);
    dispatch_complete(ctx);
}

static void on_rechecked(struct jobq_ctx *ctx, bool finished_ok)
{
    struct dispatch *d = ctx->w->dispatch;
    if (ctx->state == JOB_ABANDONED) {
        jobctx_free(ctx);
        return;
    }
    if (finished_ok) {
        ctx->out = OUT_SKIP;
        settle(ctx);
        return;
    }
    start(d, ctx);
    /* The check held a slot; with it free, fetch may take more. */
    worker_wake(ctx->w);
}

/* reply_to may name any list outside this deployment: "P:..." is ours. */
static bool reply_to_is_ours(const struct worker *w, const struct job *job)
{
    size_t pl = strlen(w->s->prefix);
    return job->reply_to.ptr && job->reply_to.len > pl &&
           memcmp(job->reply_to.ptr, w->s->prefix, pl) == 0 &&
           job->reply_to.ptr[pl] == ':';
}

/* A frame whose MAC does not check out, or an unsigned one where every
 * job must be signed, is dead before its job is decoded. */
static const char *check_signature(const struct worker *w, struct jobq_ctx *ctx)
{
    const struct frame *fr = &ctx->fr;
    if (!fr->mac.ptr)
        return w->s->require_signed ? "unsigned job" : NULL;
    enum sign_result sr = w->keys
                              ? sign_verify(w->keys, fr->kid.ptr, fr->kid.len,
                                            (const unsigned char *)fr->mac.ptr,
                                            fr->job.ptr, fr->job.len)
                              : SIGN_UNKNOWN_KID;
    if (sr == SIGN_UNKNOWN_KID)
        return "unknown signing key";
    if (sr == SIGN_BAD_MAC)
        return "bad signature";
    ctx->verified = true;
    return NULL;
}

void dispatch_frame(struct dispatch *d, struct wqueue *q, const char *raw,
                    size_t len)
{
    struct worker *w = d->w;
    struct jobq_ctx *ctx = jobctx_new(w->jobs, w, q, raw, len);
    char err[FRAME_ERROR_MAX];
    if (frame_decode(ctx->raw, len, &w->lim, &ctx->fr, err, sizeof(err)) != 0)
        return reject(ctx, err);
    ctx->has_frame = true;
    const struct frame *fr = &ctx->fr;
    const char *refused = check_signature(w, ctx);
    if (refused)
        return reject(ctx, refused);
    if (job_decode(fr, &w->lim, &ctx->job, err, sizeof(err)) != 0)
        return reject(ctx, err);
    ctx->has_job = true;
    memcpy(ctx->id, ctx->job.id.ptr, ctx->job.id.len);
    keys_result(&q->keys, ctx->job.id.ptr, ctx->job.id.len, ctx->result_key,
                sizeof(ctx->result_key));
    if (reply_to_is_ours(w, &ctx->job)) {
        /* Pushing there could expire or corrupt another queue's keys: the
         * job is refused unrun, and nothing is pushed anywhere. */
        ctx->job.reply_to.ptr = NULL;
        ctx->job.reply_to.len = 0;
        return reject(ctx, "reply_to names a jobq key");
    }
    if (ctx->job.expires_at && clock_wall_ms() > ctx->job.expires_at)
        return reject(ctx, "expired");
    if (fr->attempt >= max_attempts(ctx)) {
        /* The frame's error is bookkeeping outside the signed bytes: it
         * may explain an unsigned job's death, never a signed one's, and
         * only as valid UTF-8 (records are read as strict msgpack). */
        if (ctx->verified || !fr->error.ptr || !fr->error.len ||
            !utf8_valid(fr->error.ptr, fr->error.len) ||
            memchr(fr->error.ptr, 0, fr->error.len))
            return reject(ctx, "attempts exhausted");
        snprintf(err, sizeof(err), "attempts exhausted: %.*s",
                 (int)fr->error.len, fr->error.ptr);
        return reject(ctx, err);
    }
    ctx->attempt = (unsigned)fr->attempt + 1;
    ctx->h = registry_find(&w->reg, ctx->job.type.ptr, ctx->job.type.len);
    if (!ctx->h) {
        jobq_fail(ctx, JOBQ_RETRYABLE, "unknown handler: %.*s",
                  (int)ctx->job.type.len, ctx->job.type.ptr);
        return settle(ctx);
    }
    ctx->timeout_ms = ctx->job.timeout_ms  ? ctx->job.timeout_ms
                      : ctx->h->timeout_ms ? ctx->h->timeout_ms
                                           : w->s->default_timeout_ms;
    if (fr->attempt > 0 && recheck_start(d->recheck, ctx) == 0)
        return;
    start(d, ctx);
}

void dispatch_abandon_all(struct dispatch *d)
{
    struct worker *w = d->w;
    /* Staged jobs go to the pool now, to come back abandoned like the
     * rest. */
    dispatch_submit(d);
    for (struct jobq_ctx *ctx = jobs_first(w->jobs), *next; ctx; ctx = next) {
        next = jobs_next(w->jobs, ctx);
        if (ctx->state == JOB_CHECKING) {
            ctx->state = JOB_ABANDONED; /* freed when the check returns */
            continue;
        }
        if (ctx->state != JOB_RUNNING)
            continue;
        ctx->state = JOB_ABANDONED;
        evtimer_del(ctx->deadline);
        if (ctx->h->cls == JOBQ_CLASS_CPU) {
            d->cpu_inflight--;
            d->on_thread++;
            atomic_store(&ctx->cancelled, 1); /* freed when it comes back */
        } else {
            d->io_inflight--;
            ctx->h->cancel(ctx);
            jobctx_free(ctx);
        }
    }
}

struct dispatch *dispatch_new(struct worker *w, const int *cores, int ncores,
                              char *err, size_t errlen)
{
    struct dispatch *d = xcalloc(1, sizeof(*d));
    d->w = w;
    /* Start narrow: grow as fast jobs are seen, never hoard slow ones. */
    d->cpu_slots = w->s->cpu_threads * CPU_SLOTS_MIN_PER_THREAD;
    d->cpu_run_ns = CPU_LOOKAHEAD_NS / CPU_SLOTS_MIN_PER_THREAD;
    d->io_slots = w->s->io_concurrency;
    d->handoff = handoff_new(w->base, deliver, d);
    d->cpu =
        cpupool_new(w->s->cpu_threads, cores, ncores, d->handoff, err, errlen);
    if (!d->cpu) {
        handoff_free(d->handoff);
        free(d);
        return NULL;
    }
    d->recheck = recheck_new(w, on_rechecked);
    return d;
}

bool dispatch_free(struct dispatch *d)
{
    if (!d)
        return true;
    if (d->on_thread || d->cpu_inflight)
        return false;
    cpupool_free(d->cpu);
    handoff_free(d->handoff);
    recheck_free(d->recheck);
    free(d);
    return true;
}

void dispatch_load(const struct dispatch *d, struct dispatch_load *out)
{
    *out = (struct dispatch_load){
        .cpu_slots = d->cpu_slots,
        .io_slots = d->io_slots,
        .cpu_inflight = d->cpu_inflight,
        .io_inflight = d->io_inflight,
        .checking = recheck_pending(d->recheck),
    };
}

unsigned dispatch_io_share(const struct dispatch *d, int qi)
{
    return d->io_share[qi];
}

unsigned long long dispatch_rechecks(const struct dispatch *d)
{
    return recheck_total(d->recheck);
}
