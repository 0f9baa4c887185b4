/* Dispatch (see dispatch.h). */
#include "dispatch.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "clock.h"
#include "cpupool.h"
#include "fetch.h"
#include "finish.h"
#include "log.h"
#include "redis.h"
#include "utf8.h"

#define NOTIFY_TYPE "webhook.post"

struct event_base *dispatch_loop(struct worker *w)
{
    return w->base;
}

/* Finished contexts are kept for the next jobs with their buffers and
 * timer, so a job costs no malloc for them: up to CTX_POOL_MAX of them (a
 * window's worth), and no buffer that grew past CTX_KEEP_BYTES (one big
 * job must not pin its memory). */
#define CTX_POOL_MAX 256
#define CTX_KEEP_BYTES 16384

static void sbuf_reuse(msgpack_sbuffer *sb)
{
    if (sb->alloc > CTX_KEEP_BYTES) {
        msgpack_sbuffer_destroy(sb);
        msgpack_sbuffer_init(sb);
    } else {
        msgpack_sbuffer_clear(sb);
    }
}

static struct jobq_ctx *ctx_new(struct worker *w, struct wqueue *q,
                                const char *raw, size_t len)
{
    struct jobq_ctx *ctx = w->ctx_pool;
    if (ctx) {
        w->ctx_pool = ctx->next;
        w->ctx_pool_n--;
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
        ctx = calloc(1, sizeof(*ctx));
    }
    atomic_init(&ctx->cancelled, 0);
    if (ctx->rawcap < len || !ctx->raw) {
        free(ctx->raw);
        ctx->rawcap = len > 256 ? len : 256;
        ctx->raw = malloc(ctx->rawcap);
    }
    memcpy(ctx->raw, raw, len);
    ctx->rawlen = len;
    ctx->w = w;
    ctx->q = q;
    msgpack_packer_init(&ctx->pk, &ctx->result, msgpack_sbuffer_write);
    ctx->lnext = w->live.lnext;
    ctx->lprev = &w->live;
    w->live.lnext->lprev = ctx;
    w->live.lnext = ctx;
    w->live_n++;
    snprintf(ctx->result_key, sizeof(ctx->result_key), "%s",
             q->keys.result_prefix);
    return ctx;
}

static void ctx_destroy(struct jobq_ctx *ctx)
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

void jobctx_free(struct jobq_ctx *ctx)
{
    struct worker *w = ctx->w;
    ctx->lprev->lnext = ctx->lnext;
    ctx->lnext->lprev = ctx->lprev;
    w->live_n--;
    if (w->ctx_pool_n >= CTX_POOL_MAX || ctx->rawcap > CTX_KEEP_BYTES) {
        ctx_destroy(ctx);
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
    ctx->next = w->ctx_pool;
    w->ctx_pool = ctx;
    w->ctx_pool_n++;
}

void dispatch_free_pool(struct worker *w)
{
    while (w->ctx_pool) {
        struct jobq_ctx *ctx = w->ctx_pool;
        w->ctx_pool = ctx->next;
        ctx_destroy(ctx);
    }
    w->ctx_pool_n = 0;
}

static uint64_t max_attempts(const struct jobq_ctx *ctx)
{
    if (ctx->has_job && ctx->job.max_attempts)
        return ctx->job.max_attempts;
    return ctx->w->s->default_max_attempts;
}

static void pack_kv_str(msgpack_packer *pk, const char *k, const char *v,
                        size_t len)
{
    mp_pack_cstr(pk, k);
    mp_pack_str(pk, v, len);
}

static void pack_kv_uint(msgpack_packer *pk, const char *k, uint64_t v)
{
    mp_pack_cstr(pk, k);
    msgpack_pack_uint64(pk, v);
}

/* The result record: status "ok" with the handler's result, or "dead"
 * with the error. */
static void encode_record(struct jobq_ctx *ctx, bool ok, unsigned attempts,
                          uint64_t now)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, &ctx->rec, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 8);
    pack_kv_str(&pk, "id", ctx->job.id.ptr, ctx->job.id.len);
    pack_kv_str(&pk, "queue", ctx->q->name, strlen(ctx->q->name));
    pack_kv_str(&pk, "type", ctx->job.type.ptr, ctx->job.type.len);
    mp_pack_cstr(&pk, "status");
    mp_pack_cstr(&pk, ok ? "ok" : "dead");
    if (ok) {
        mp_pack_cstr(&pk, "result");
        msgpack_sbuffer_write(&ctx->rec, ctx->result.data, ctx->result.size);
    } else {
        pack_kv_str(&pk, "error", ctx->err, strlen(ctx->err));
    }
    pack_kv_uint(&pk, "attempts", attempts);
    pack_kv_uint(&pk, "finished_at", now);
    pack_kv_str(&pk, "worker", ctx->w->wid, strlen(ctx->w->wid));
}

static void encode_event(struct jobq_ctx *ctx, const char *status,
                         unsigned attempt, uint64_t now)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, &ctx->event, msgpack_sbuffer_write);
    bool ok = strcmp(status, "ok") == 0;
    msgpack_pack_map(&pk, (ctx->has_job ? 2 : 0) + 3 + (ok ? 0 : 1));
    if (ctx->has_job) {
        pack_kv_str(&pk, "id", ctx->job.id.ptr, ctx->job.id.len);
        pack_kv_str(&pk, "type", ctx->job.type.ptr, ctx->job.type.len);
    }
    mp_pack_cstr(&pk, "status");
    mp_pack_cstr(&pk, status);
    pack_kv_uint(&pk, "attempt", attempt);
    pack_kv_uint(&pk, "at", now);
    if (!ok)
        pack_kv_str(&pk, "error", ctx->err, strlen(ctx->err));
}

static void encode_dead(struct jobq_ctx *ctx, uint64_t now)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, &ctx->dead, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4 + (ctx->has_job ? 2 : 0));
    mp_pack_cstr(&pk, "frame");
    mp_pack_bin(&pk, ctx->raw, ctx->rawlen);
    pack_kv_str(&pk, "error", ctx->err, strlen(ctx->err));
    pack_kv_uint(&pk, "at", now);
    pack_kv_str(&pk, "worker", ctx->w->wid, strlen(ctx->w->wid));
    if (ctx->has_job) {
        pack_kv_str(&pk, "id", ctx->job.id.ptr, ctx->job.id.len);
        pack_kv_str(&pk, "type", ctx->job.type.ptr, ctx->job.type.len);
    }
}

/* A webhook.post job carrying the result record, enqueued by the finishing
 * script atomically with the completion. Its id derives from the job's, so
 * a redelivered completion names the same notification. */
static void encode_notify(struct jobq_ctx *ctx, uint64_t now)
{
    char nid[JOB_ID_MAX + 1];
    if (ctx->job.id.len + 7 <= JOB_ID_MAX) {
        snprintf(nid, sizeof(nid), "%.*s:notify", (int)ctx->job.id.len,
                 ctx->job.id.ptr);
    } else {
        unsigned char h[16];
        crypto_generichash(h, sizeof(h), (const unsigned char *)ctx->job.id.ptr,
                           ctx->job.id.len, NULL, 0);
        memcpy(nid, "notify:", 7);
        sodium_bin2hex(nid + 7, sizeof(nid) - 7, h, sizeof(h));
    }
    msgpack_sbuffer job;
    msgpack_sbuffer_init(&job);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &job, msgpack_sbuffer_write);
    bool tp = ctx->job.traceparent.ptr != NULL;
    msgpack_pack_map(&pk, 4 + (tp ? 1 : 0));
    pack_kv_str(&pk, "id", nid, strlen(nid));
    pack_kv_str(&pk, "type", NOTIFY_TYPE, strlen(NOTIFY_TYPE));
    mp_pack_cstr(&pk, "args");
    msgpack_pack_map(&pk, 2);
    pack_kv_str(&pk, "url", ctx->job.notify.ptr, ctx->job.notify.len);
    mp_pack_cstr(&pk, "payload");
    msgpack_sbuffer_write(&job, ctx->rec.data, ctx->rec.size);
    pack_kv_uint(&pk, "created_at", now);
    if (tp)
        pack_kv_str(&pk, "traceparent", ctx->job.traceparent.ptr,
                    ctx->job.traceparent.len);
    const struct worker *w = ctx->w;
    /* Our key vouches only for what a producer's key vouched for. */
    if (w->have_keys && ctx->verified) {
        unsigned char mac[FRAME_MAC_BYTES];
        sign_mac(&w->keys, w->keys.k[0].kid, job.data, job.size, mac);
        frame_encode_new(&ctx->notify, job.data, job.size, w->keys.k[0].kid,
                         mac);
    } else {
        frame_encode_new(&ctx->notify, job.data, job.size, NULL, NULL);
    }
    msgpack_sbuffer_destroy(&job);
}

/* Turns what happened into what finish writes. */
static void settle(struct jobq_ctx *ctx)
{
    struct worker *w = ctx->w;
    uint64_t now = clock_wall_ms();
    unsigned attempts = ctx->attempt
                            ? ctx->attempt
                            : (unsigned)(ctx->has_frame ? ctx->fr.attempt : 0);
    if (ctx->out == OUT_SKIP) {
        /* already finished ok by another run: nothing more to write */
    } else if (!ctx->failed) {
        ctx->out = OUT_OK;
        if (ctx->result.size == 0)
            msgpack_pack_nil(&ctx->pk);
        encode_record(ctx, true, attempts, now);
        encode_event(ctx, "ok", ctx->attempt, now);
        if (ctx->job.notify.ptr)
            encode_notify(ctx, now);
    } else if (ctx->fail_kind == JOBQ_RETRYABLE && ctx->has_job &&
               ctx->attempt < max_attempts(ctx)) {
        ctx->out = OUT_RETRY;
        frame_encode_retry(&ctx->retry, &ctx->fr, ctx->attempt, ctx->err,
                           strlen(ctx->err), now);
        ctx->due_ms =
            now + backoff_delay_ms(w->s->retry_base_ms, w->s->retry_max_ms,
                                   ctx->attempt, backoff_draw());
        encode_event(ctx, "retry", ctx->attempt, now);
    } else {
        ctx->out = OUT_DEAD;
        encode_dead(ctx, now);
        encode_event(ctx, "dead", attempts, now);
        if (ctx->has_job) {
            encode_record(ctx, false, attempts, now);
            if (ctx->job.notify.ptr)
                encode_notify(ctx, now);
        }
    }
    if (log_enabled(LOG_DEBUG))
        log_debug(
            "job %s on %s: %s%s%s", ctx->id[0] ? ctx->id : "?", ctx->q->name,
            (const char *[]){"none", "ok", "retry", "dead", "skip"}[ctx->out],
            ctx->failed ? ": " : "", ctx->failed ? ctx->err : "");
    finish_add(w, ctx);
}

static void reject(struct jobq_ctx *ctx, const char *reason)
{
    snprintf(ctx->err, sizeof(ctx->err), "%s", reason);
    ctx->failed = true;
    ctx->fail_kind = JOBQ_PERMANENT;
    log_warn("frame on %s is dead: %s", ctx->q->name, reason);
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

/* The CPU window follows the moving average of run time (see worker.h). */
static void adapt_cpu_slots(struct worker *w, uint64_t run_ns)
{
    int64_t avg = (int64_t)w->cpu_run_ns;
    avg += ((int64_t)run_ns - avg) / 8;
    w->cpu_run_ns = (uint64_t)(avg > 1 ? avg : 1);
    uint64_t per = CPU_LOOKAHEAD_NS / w->cpu_run_ns;
    if (per < CPU_SLOTS_MIN_PER_THREAD)
        per = CPU_SLOTS_MIN_PER_THREAD;
    if (per > CPU_SLOTS_MAX_PER_THREAD)
        per = CPU_SLOTS_MAX_PER_THREAD;
    w->cpu_slots = (unsigned)per * w->s->cpu_threads;
}

static void start(struct jobq_ctx *ctx)
{
    struct worker *w = ctx->w;
    ctx->running = true;
    ctx->started_ms = clock_mono_ms();
    if (!ctx->deadline)
        ctx->deadline = evtimer_new(w->base, on_deadline, ctx);
    struct timeval tv = clock_timeval(ctx->timeout_ms);
    evtimer_add(ctx->deadline, &tv);
    bool io = ctx->h->cls != JOBQ_CLASS_CPU;
    /* A moving average over about 16 jobs that reaches both ends. */
    w->io_share = io ? w->io_share + (IO_SHARE_ONE - w->io_share + 15) / 16
                     : w->io_share - (w->io_share + 15) / 16;
    if (!io) {
        w->cpu_inflight++;
        ctx->task.run = run_cpu;
        /* A take brings jobs in bursts: they go to the pool in one lock
         * and one wake-up, once this round of callbacks is over. */
        ctx->task.next = NULL;
        if (w->staged_last)
            w->staged_last->next = &ctx->task;
        else
            w->staged_first = &ctx->task;
        w->staged_last = &ctx->task;
        w->staged_n++;
        event_active(w->submit_ev, EV_TIMEOUT, 0);
    } else {
        w->io_inflight++;
        ctx->h->start(ctx);
    }
}

void dispatch_on_submit(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    if (!w->staged_n)
        return;
    cpupool_submit(w->cpu, w->staged_first, w->staged_last, w->staged_n);
    w->staged_first = w->staged_last = NULL;
    w->staged_n = 0;
}

void dispatch_complete(struct jobq_ctx *ctx)
{
    struct worker *w = ctx->w;
    if (!ctx->running)
        return;
    ctx->running = false;
    evtimer_del(ctx->deadline);
    if (ctx->h->cls == JOBQ_CLASS_CPU)
        w->cpu_inflight--;
    else
        w->io_inflight--;
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
    fetch_kick(w);
}

void dispatch_deliver(struct task *t, void *arg)
{
    struct jobq_ctx *ctx = container_of(t, struct jobq_ctx, task);
    (void)arg;
    if (ctx->abandoned) {
        jobctx_free(ctx);
        return;
    }
    adapt_cpu_slots(ctx->w, ctx->run_ns);
    dispatch_complete(ctx);
}

/* A redelivered job whose result already says ok is finished unrun. */
static void on_result_checked(redisReply *rep, void *priv)
{
    struct jobq_ctx *ctx = priv;
    ctx->checking = false;
    ctx->w->cpu_inflight--; /* held while the check was out */
    if (ctx->abandoned) {
        jobctx_free(ctx);
        return;
    }
    if (rep && rep->type == REDIS_REPLY_STRING) {
        msgpack_unpacked un;
        msgpack_unpacked_init(&un);
        size_t off = 0;
        char err[80];
        /* A record of any size: 0 entries means no count limit (the
         * pre-scan still bounds every count by the bytes left). */
        bool ok = mp_check(rep->str, rep->len, 0, err, sizeof(err)) == 0 &&
                  msgpack_unpack_next(&un, rep->str, rep->len, &off) ==
                      MSGPACK_UNPACK_SUCCESS &&
                  mp_str_eq(mp_map_get(&un.data, "status") ?: &un.data, "ok");
        msgpack_unpacked_destroy(&un);
        if (ok) {
            log_info("job %s already finished ok; not running it again",
                     ctx->id);
            ctx->out = OUT_SKIP;
            settle(ctx);
            fetch_kick(ctx->w);
            return;
        }
    }
    start(ctx);
    /* The check held a slot; with it free again, take more. */
    fetch_kick(ctx->w);
}

/* reply_to may name any list outside this deployment: "P:..." is ours. */
static bool reply_to_is_ours(const struct worker *w, const struct job *job)
{
    size_t pl = strlen(w->s->prefix);
    return job->reply_to.ptr && job->reply_to.len > pl &&
           memcmp(job->reply_to.ptr, w->s->prefix, pl) == 0 &&
           job->reply_to.ptr[pl] == ':';
}

void dispatch_frame(struct worker *w, struct wqueue *q, const char *raw,
                    size_t len)
{
    struct jobq_ctx *ctx = ctx_new(w, q, raw, len);
    char err[FRAME_ERROR_MAX];
    if (frame_decode(ctx->raw, len, &w->lim, &ctx->fr, err, sizeof(err)) != 0)
        return reject(ctx, err);
    ctx->has_frame = true;
    const struct frame *fr = &ctx->fr;
    if (fr->mac.ptr) {
        enum sign_result sr =
            w->have_keys ? sign_verify(&w->keys, fr->kid.ptr, fr->kid.len,
                                       (const unsigned char *)fr->mac.ptr,
                                       fr->job.ptr, fr->job.len)
                         : SIGN_UNKNOWN_KID;
        if (sr == SIGN_UNKNOWN_KID)
            return reject(ctx, "unknown signing key");
        if (sr == SIGN_BAD_MAC)
            return reject(ctx, "bad signature");
        ctx->verified = true;
    } else if (w->s->require_signed) {
        return reject(ctx, "unsigned job");
    }
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
    if (fr->attempt > 0) {
        const char *argv[] = {"GET", ctx->result_key};
        w->cpu_inflight++; /* the slot is taken while the check is out */
        ctx->checking = true;
        if (redis_cmd(w->redis, on_result_checked, ctx, 2, argv, NULL) == 0)
            return;
        ctx->checking = false;
        w->cpu_inflight--;
    }
    start(ctx);
}

void dispatch_abandon_all(struct worker *w)
{
    /* Staged jobs go to the pool now, to come back abandoned like the
     * rest. */
    dispatch_on_submit(-1, 0, w);
    for (struct jobq_ctx *ctx = w->live.lnext, *next; ctx != &w->live;
         ctx = next) {
        next = ctx->lnext;
        if (ctx->checking)
            ctx->abandoned = true; /* freed when the check comes back */
        if (!ctx->running)
            continue;
        ctx->running = false;
        ctx->abandoned = true;
        evtimer_del(ctx->deadline);
        if (ctx->h->cls == JOBQ_CLASS_CPU) {
            w->cpu_inflight--;
            atomic_store(&ctx->cancelled, 1); /* freed when it comes back */
        } else {
            w->io_inflight--;
            ctx->h->cancel(ctx);
            jobctx_free(ctx);
        }
    }
}
