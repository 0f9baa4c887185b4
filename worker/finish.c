/* Finish (see finish.h). */
#include "finish.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "redis.h"
#include "xalloc.h"

struct fqueue {
    struct jobq_ctx *head, *tail; /* outcomes not yet sent */
    unsigned held;                /* not yet acknowledged */
    bool broken;                  /* its last batch was refused */
    uint64_t retry_at;            /* monotonic ms: not sent before */
    struct log_limit log, reply_log;
};

struct finish {
    struct worker *w;
    struct fqueue q[SETTINGS_MAX_QUEUES];
    unsigned held;
    struct event *retry_ev;
    struct finish_counts n;
};

struct batch {
    struct finish *f;
    struct wqueue *q;
    struct jobq_ctx *head;
    unsigned n;
};

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    finish_flush(arg);
}

struct finish *finish_new(struct worker *w)
{
    struct finish *f = xcalloc(1, sizeof(*f));
    f->w = w;
    f->retry_ev = evtimer_new(w->base, on_retry, f);
    return f;
}

void finish_free(struct finish *f)
{
    if (!f)
        return;
    event_free(f->retry_ev);
    free(f);
}

void finish_add(struct finish *f, struct jobq_ctx *ctx)
{
    /* The attempt's duration as the worker saw it, from its start to its
     * outcome (not counting the time to land it); 0 for a frame that
     * never started (dead or retried before its handler ran). */
    ctx->duration_ms = ctx->started_ms ? clock_mono_ms() - ctx->started_ms : 0;
    struct fqueue *fq = &f->q[ctx->q->index];
    ctx->next = NULL;
    if (fq->tail)
        fq->tail->next = ctx;
    else
        fq->head = ctx;
    fq->tail = ctx;
    f->held++;
    fq->held++;
    worker_wake(f->w);
}

/* Puts a batch that did not land back in front, in order, and sends it
 * again soon (not at every tick: a refusing Redis is not to be spun on). */
static void hold(struct batch *b)
{
    struct finish *f = b->f;
    struct fqueue *fq = &f->q[b->q->index];
    struct jobq_ctx *last = b->head;
    for (struct jobq_ctx *c = b->head; c; c = c->next) {
        c->state = JOB_SETTLED;
        last = c;
    }
    last->next = fq->head;
    if (!fq->head)
        fq->tail = last;
    fq->head = b->head;
    fq->retry_at = clock_mono_ms() + FINISH_RETRY_MS;
    struct timeval tv = clock_timeval(FINISH_RETRY_MS);
    evtimer_add(f->retry_ev, &tv);
}

static void count(struct finish *f, const struct jobq_ctx *ctx, char landed)
{
    if (landed == '0') {
        f->n.late++;
        log_info("late finish of job %s on %s: another worker recovered "
                 "it and owns its result",
                 ctx->id[0] ? ctx->id : "?", ctx->q->name);
        return;
    }
    switch (ctx->out) {
    case OUT_OK:
        f->n.ok++;
        break;
    case OUT_RETRY:
        f->n.retry++;
        break;
    case OUT_DEAD:
        f->n.dead++;
        break;
    default:
        f->n.skip++;
        break;
    }
}

/* One line per landed outcome: a retry or a death at warn, so failures
 * show at the default level; a job that finished at info in JSON mode
 * (for log shippers, which index the fields) and at debug in text mode
 * (where a line per job would bury everything else). Nothing is formatted
 * when the level is off: at 100k jobs/s this is on the hot path. */
static void log_outcome(const struct jobq_ctx *ctx, const struct wqueue *q)
{
    static const char *const what[] = {
        "", "job finished", "job failed, will retry", "job dead", ""};
    enum log_level lv = ctx->out == OUT_OK
                            ? (log_format_json() ? LOG_INFO : LOG_DEBUG)
                            : LOG_WARN;
    if ((ctx->out != OUT_OK && ctx->out != OUT_RETRY && ctx->out != OUT_DEAD) ||
        !log_enabled(lv))
        return;
    const struct job *job = ctx->has_job ? &ctx->job : NULL;
    unsigned attempt = ctx->attempt     ? ctx->attempt
                       : ctx->has_frame ? (unsigned)ctx->fr.attempt
                                        : 0;
    struct log_field fl[8];
    size_t n = 0;
    fl[n++] = log_str("job_id", ctx->id[0] ? ctx->id : NULL);
    fl[n++] = log_str("queue", q->name);
    fl[n++] = job ? log_strn("type", job->type.ptr, job->type.len)
                  : log_str("type", NULL);
    fl[n++] = log_int("attempt", (long long)attempt);
    fl[n++] = log_int("duration_ms", (long long)ctx->duration_ms);
    fl[n++] = job ? log_strn("traceparent", job->traceparent.ptr,
                             job->traceparent.len)
                  : log_str("traceparent", NULL);
    if (ctx->out != OUT_OK)
        fl[n++] = log_str("error", ctx->err);
    if (ctx->out == OUT_RETRY) {
        uint64_t now = clock_wall_ms();
        fl[n++] =
            log_int("retry_in_ms", ctx->due_ms > now ? ctx->due_ms - now : 0);
    }
    log_fields(lv, what[ctx->out], n, fl);
}

static void on_finished(redisReply *rep, void *priv)
{
    struct batch *b = priv;
    struct finish *f = b->f;
    struct fqueue *fq = &f->q[b->q->index];
    if (!rep || rep->type != REDIS_REPLY_STRING || rep->len != b->n) {
        /* A refusal (a key of the queue holds another type) sets the
         * queue aside: fetch stops taking from it until a batch lands,
         * and the other queues go on. */
        if (rep)
            fq->broken = true;
        log_limited(&fq->log, rep ? LOG_ERROR : LOG_WARN,
                    "finishing %u jobs on %s failed (%s); holding them", b->n,
                    b->q->name,
                    rep && rep->type == REDIS_REPLY_ERROR ? rep->str
                                                          : "no reply");
        hold(b);
        free(b);
        return;
    }
    fq->broken = false;
    struct jobq_ctx *ctx = b->head;
    for (size_t i = 0; i < b->n; i++) {
        struct jobq_ctx *next = ctx->next;
        if (rep->str[i] == 'r')
            log_limited(&fq->reply_log, LOG_WARN,
                        "job %s on %s finished, but its reply_to %.*s "
                        "could not be pushed (it holds another type)",
                        ctx->id, b->q->name, (int)ctx->job.reply_to.len,
                        ctx->job.reply_to.ptr);
        count(f, ctx, rep->str[i]);
        if (rep->str[i] != '0')
            log_outcome(ctx, b->q);
        jobctx_free(ctx);
        ctx = next;
    }
    f->held -= b->n;
    fq->held -= b->n;
    free(b);
    worker_wake(f->w);
}

static const char *kind_name(enum outcome o)
{
    switch (o) {
    case OUT_OK:
        return "ok";
    case OUT_RETRY:
        return "retry";
    case OUT_DEAD:
        return "dead";
    default:
        return "skip";
    }
}

static int send_batch(struct finish *f, struct batch *b)
{
    struct worker *w = f->w;
    struct wqueue *q = b->q;
    int argc =
        FINISH_FIXED_KEYS + 2 * (int)b->n + 3 + FINISH_FIELDS_MAX * (int)b->n;
    const char **argv = xmalloc(sizeof(*argv) * (size_t)argc);
    size_t *lens = xmalloc(sizeof(*lens) * (size_t)argc);
    char(*due)[24] = xmalloc(sizeof(*due) * b->n);
    char ttl[24], deadmax[24];
    snprintf(ttl, sizeof(ttl), "%" PRIu64, w->s->result_ttl_s * 1000);
    snprintf(deadmax, sizeof(deadmax), "%" PRIu64, w->s->dead_max);
    int a = 0;
#define ARG(p, l) (argv[a] = (p), lens[a++] = (l))
#define CARG(p) ARG(p, strlen(p))
#define SBARG(sb) ARG((sb).data ? (sb).data : "", (sb).size)
    CARG(q->keys.active);
    CARG(q->keys.pending);
    CARG(q->keys.delayed);
    CARG(q->keys.dead);
    CARG(q->keys.stats);
    for (struct jobq_ctx *c = b->head; c; c = c->next)
        CARG(c->result_key);
    for (struct jobq_ctx *c = b->head; c; c = c->next)
        if (c->has_job && c->job.reply_to.ptr)
            ARG(c->job.reply_to.ptr, c->job.reply_to.len);
        else
            ARG("", 0);
    CARG(q->keys.events);
    CARG(ttl);
    CARG(deadmax);
    unsigned i = 0;
    for (struct jobq_ctx *c = b->head; c; c = c->next, i++) {
        CARG(kind_name(c->out));
        ARG(c->raw, c->rawlen);
        switch (c->out) {
        case OUT_OK:
            SBARG(c->rec);
            SBARG(c->event);
            SBARG(c->notify);
            break;
        case OUT_RETRY:
            snprintf(due[i], sizeof(due[i]), "%" PRIu64, c->due_ms);
            SBARG(c->retry);
            CARG(due[i]);
            SBARG(c->event);
            break;
        case OUT_DEAD:
            SBARG(c->dead);
            SBARG(c->rec);
            SBARG(c->event);
            SBARG(c->notify);
            break;
        default:
            break;
        }
    }
#undef ARG
#undef CARG
#undef SBARG
    int rc = redis_script(w->redis, SCRIPT_FINISH, on_finished, b,
                          FINISH_FIXED_KEYS + 2 * (int)b->n, a, argv, lens);
    free(argv);
    free(lens);
    free(due);
    return rc;
}

void finish_flush(struct finish *f)
{
    struct worker *w = f->w;
    uint64_t now = clock_mono_ms();
    for (int i = 0; i < w->nq; i++) {
        struct fqueue *fq = &f->q[i];
        if (fq->retry_at > now) {
            if (!evtimer_pending(f->retry_ev, NULL)) {
                struct timeval tv = clock_timeval(fq->retry_at - now);
                evtimer_add(f->retry_ev, &tv);
            }
            continue;
        }
        while (fq->head && redis_ready(w->redis)) {
            struct batch *b = xcalloc(1, sizeof(*b));
            b->f = f;
            b->q = &w->q[i];
            b->head = fq->head;
            struct jobq_ctx *last = fq->head;
            b->n = 1;
            while (last->next && b->n < FINISH_BATCH_MAX) {
                last = last->next;
                b->n++;
            }
            fq->head = last->next;
            if (!fq->head)
                fq->tail = NULL;
            last->next = NULL;
            for (struct jobq_ctx *c = b->head; c; c = c->next)
                c->state = JOB_FINISHING;
            if (send_batch(f, b) != 0) {
                hold(b);
                free(b);
                break;
            }
        }
    }
}

unsigned finish_held(const struct finish *f)
{
    return f->held;
}

unsigned finish_backlog(const struct finish *f)
{
    unsigned n = f->held;
    for (int i = 0; i < f->w->nq; i++)
        if (f->q[i].broken)
            n -= f->q[i].held;
    return n;
}

bool finish_queue_broken(const struct finish *f, int qi)
{
    return f->q[qi].broken;
}

void finish_counts(const struct finish *f, struct finish_counts *out)
{
    *out = f->n;
}
