/* Sampler (see sampler.h). A round is one SAMPLE call per queue, sent in
 * one go; waiters queue behind the round and run when its last reply is
 * in (or lost: they see the samples kept from before). */
#include "sampler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "redis.h"
#include "xalloc.h"

struct waiter {
    sampler_fn fn;
    void *arg;
    struct waiter *next;
};

struct sampler {
    struct worker *w;
    struct sampler_queue q[SETTINGS_MAX_QUEUES];
    /* The oldest pending frame's hash and when it was first seen there,
     * for jobs without created_at: their age counts from then. */
    char oldest_sha[SETTINGS_MAX_QUEUES][41];
    uint64_t oldest_seen[SETTINGS_MAX_QUEUES];
    uint64_t last_round; /* monotonic ms a round was sent; 0: never */
    unsigned outstanding;
    bool sampled; /* a round has landed: there is something to answer */
    struct waiter *waiters, **tail;
    uint64_t rounds;
    struct log_limit log;
};

struct reply_ctx {
    struct sampler *s;
    int qi;
};

struct sampler *sampler_new(struct worker *w)
{
    struct sampler *s = xcalloc(1, sizeof(*s));
    s->w = w;
    s->tail = &s->waiters;
    return s;
}

void sampler_free(struct sampler *s)
{
    if (!s)
        return;
    for (int i = 0; i < SETTINGS_MAX_QUEUES; i++)
        free(s->q[i].workers);
    while (s->waiters) {
        struct waiter *x = s->waiters;
        s->waiters = x->next;
        free(x);
    }
    free(s);
}

static void run_waiters(struct sampler *s)
{
    struct waiter *x = s->waiters;
    s->waiters = NULL;
    s->tail = &s->waiters;
    while (x) {
        struct waiter *next = x->next;
        x->fn(x->arg);
        free(x);
        x = next;
    }
}

static uint64_t uint_of(const redisReply *e)
{
    if (e->type == REDIS_REPLY_INTEGER)
        return e->integer > 0 ? (uint64_t)e->integer : 0;
    if (e->type == REDIS_REPLY_STRING)
        return strtoull(e->str, NULL, 10);
    return 0;
}

static void take_stats(struct sampler_queue *q, const redisReply *h)
{
    q->processed = q->failed = q->retried = q->deaths = 0;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const redisReply *k = h->element[i], *v = h->element[i + 1];
        if (k->type != REDIS_REPLY_STRING)
            continue;
        uint64_t n = uint_of(v);
        if (strcmp(k->str, "processed") == 0)
            q->processed = n;
        else if (strcmp(k->str, "failed") == 0)
            q->failed = n;
        else if (strcmp(k->str, "retried") == 0)
            q->retried = n;
        else if (strcmp(k->str, "dead") == 0)
            q->deaths = n;
    }
}

static void take_workers(struct sampler_queue *q, const redisReply *ws)
{
    free(q->workers);
    q->nworkers = 0;
    q->workers = xcalloc(ws->elements / 3 + 1, sizeof(*q->workers));
    for (size_t i = 0; i + 2 < ws->elements; i += 3) {
        struct sampler_worker *x = &q->workers[q->nworkers++];
        const redisReply *id = ws->element[i];
        snprintf(x->id, sizeof(x->id), "%.*s",
                 id->type == REDIS_REPLY_STRING ? (int)id->len : 0,
                 id->type == REDIS_REPLY_STRING ? id->str : "");
        x->deadline_ms = uint_of(ws->element[i + 1]);
        x->active = uint_of(ws->element[i + 2]);
    }
}

/* Reply: {now, pending, delayed, active, dead, created_at, sha, paused,
 * stats, workers} (sample.lua). */
static bool take_sample(struct sampler *s, int qi, const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 10 ||
        r->element[8]->type != REDIS_REPLY_ARRAY ||
        r->element[9]->type != REDIS_REPLY_ARRAY)
        return false;
    struct sampler_queue *q = &s->q[qi];
    uint64_t now = uint_of(r->element[0]);
    uint64_t processed = q->processed, failed = q->failed, prev_at = q->at_ms;
    bool had = q->valid;
    q->at_ms = now;
    q->pending = uint_of(r->element[1]);
    q->delayed = uint_of(r->element[2]);
    q->active = uint_of(r->element[3]);
    q->dead = uint_of(r->element[4]);
    long long created = r->element[5]->type == REDIS_REPLY_INTEGER
                            ? r->element[5]->integer
                            : -1;
    const redisReply *sha = r->element[6];
    q->paused = uint_of(r->element[7]) != 0;
    take_stats(q, r->element[8]);
    take_workers(q, r->element[9]);
    if (q->pending == 0 || sha->type != REDIS_REPLY_STRING) {
        q->oldest_age_ms = -1;
        s->oldest_sha[qi][0] = 0;
    } else {
        /* A job without created_at counts from when a sample first saw
         * its frame at the head of pending. */
        if (strncmp(s->oldest_sha[qi], sha->str, 40) != 0) {
            snprintf(s->oldest_sha[qi], 41, "%.*s", (int)sha->len, sha->str);
            s->oldest_seen[qi] = now;
        }
        uint64_t from = created >= 0 ? (uint64_t)created : s->oldest_seen[qi];
        q->oldest_age_ms = now > from ? (int64_t)(now - from) : 0;
    }
    if (had && now > prev_at) {
        double dt = (double)(now - prev_at) / 1000.0;
        q->processed_rate = q->processed >= processed
                                ? (double)(q->processed - processed) / dt
                                : 0;
        q->failed_rate =
            q->failed >= failed ? (double)(q->failed - failed) / dt : 0;
    }
    q->valid = true;
    return true;
}

static void on_sample(redisReply *rep, void *priv)
{
    struct reply_ctx *rc = priv;
    struct sampler *s = rc->s;
    if (!take_sample(s, rc->qi, rep))
        log_limited(&s->log, LOG_WARN,
                    "sampling queue %s for metrics failed: %s",
                    s->w->q[rc->qi].name,
                    rep && rep->type == REDIS_REPLY_ERROR ? rep->str
                    : rep                                 ? "unexpected reply"
                                                          : "no reply");
    free(rc);
    if (--s->outstanding == 0) {
        s->sampled = true;
        run_waiters(s);
    }
}

static void send_round(struct sampler *s)
{
    struct worker *w = s->w;
    char most[16];
    snprintf(most, sizeof(most), "%d", SAMPLER_WORKERS_MAX);
    s->last_round = clock_mono_ms();
    s->rounds++;
    for (int i = 0; i < w->nq; i++) {
        const struct keys *k = &w->q[i].keys;
        const char *argv[] = {k->pending,       k->delayed, k->dead,
                              k->workers,       k->stats,   k->paused,
                              k->active_prefix, most};
        struct reply_ctx *rc = xmalloc(sizeof(*rc));
        *rc = (struct reply_ctx){s, i};
        if (redis_script(w->redis, SCRIPT_SAMPLE, on_sample, rc, 6, 8, argv,
                         NULL) != 0) {
            free(rc);
            continue;
        }
        s->outstanding++;
    }
}

void sampler_want(struct sampler *s, sampler_fn fn, void *arg)
{
    struct waiter *x = xcalloc(1, sizeof(*x));
    x->fn = fn;
    x->arg = arg;
    *s->tail = x;
    s->tail = &x->next;
    uint64_t now = clock_mono_ms();
    if (!s->outstanding &&
        (!s->last_round || now - s->last_round >= SAMPLER_INTERVAL_MS))
        send_round(s);
    /* Once a round has landed, a reader is answered from the last sample
     * at once while the next is out: a Redis that hangs must not make
     * scrapes time out when they matter most. Only the first waits. */
    if (!s->outstanding || s->sampled)
        run_waiters(s);
}

void sampler_stale(struct sampler *s)
{
    s->last_round = 0;
}

const struct sampler_queue *sampler_queue(const struct sampler *s, int qi)
{
    return &s->q[qi];
}

uint64_t sampler_rounds(const struct sampler *s)
{
    return s->rounds;
}
