/* Upkeep (see upkeep.h). */
#include "upkeep.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "redis.h"
#include "xalloc.h"

struct uqueue {
    struct upkeep *u;
    struct wqueue *q;
    char sweep_cursor[24]; /* SCAN cursor, "0" between rounds */
    struct log_limit beat_log, promote_log;
};

struct upkeep {
    struct worker *w;
    struct event *heartbeat_ev, *promote_ev, *sweep_ev;
    unsigned promote_left;
    uint64_t promote_next_ms;
    struct uqueue q[SETTINGS_MAX_QUEUES];
};

static void arm(struct event *ev, uint64_t ms)
{
    struct timeval tv = clock_timeval(ms);
    evtimer_add(ev, &tv);
}

/* Often enough that two beats are missed before the deadline passes. */
static uint64_t beat_interval(const struct worker *w)
{
    uint64_t ms = w->s->heartbeat_ttl_ms / 3;
    return ms > 5000 ? 5000 : ms;
}

static void beat_queue(struct uqueue *uq);

static void on_beat_reply(redisReply *rep, void *priv)
{
    struct uqueue *uq = priv;
    struct wqueue *q = uq->q;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
        long long moved = rep->element[0]->integer;
        if (moved > 0) {
            log_warn("recovered %lld frames of lapsed workers on %s", moved,
                     q->name);
            worker_wake(uq->u->w);
        }
        /* One call moves a bounded share (beat.lua): go on for the rest. */
        if (rep->element[1]->integer == 1)
            beat_queue(uq);
    } else if (rep && rep->type == REDIS_REPLY_ERROR) {
        log_limited(&uq->beat_log, LOG_ERROR,
                    "heartbeat and recovery on %s failed: %s", q->name,
                    rep->str);
    }
}

/* The deadline is set by the script on the Redis server's clock: see
 * common/scripts/beat.lua. */
static void beat_queue(struct uqueue *uq)
{
    struct worker *w = uq->u->w;
    struct wqueue *q = uq->q;
    if (!redis_ready(w->redis))
        return;
    char ttl[24], deadmax[24];
    snprintf(ttl, sizeof(ttl), "%" PRIu64, w->s->heartbeat_ttl_ms);
    snprintf(deadmax, sizeof(deadmax), "%" PRIu64, w->s->dead_max);
    const char *a[] = {q->keys.workers,
                       q->keys.pending,
                       q->keys.stats,
                       q->keys.clock,
                       q->keys.dead,
                       w->wid,
                       ttl,
                       q->keys.active_prefix,
                       w->stopping ? "0" : "1",
                       deadmax};
    redis_script(w->redis, SCRIPT_BEAT, on_beat_reply, uq, 5, 10, a, NULL);
}

void upkeep_beat(struct upkeep *u)
{
    for (int i = 0; i < u->w->nq; i++)
        beat_queue(&u->q[i]);
}

static void on_beat(evutil_socket_t fd, short what, void *arg)
{
    struct upkeep *u = arg;
    (void)fd;
    (void)what;
    upkeep_beat(u);
    arm(u->heartbeat_ev, beat_interval(u->w));
}

static void on_promoted(redisReply *rep, void *priv)
{
    struct uqueue *uq = priv;
    struct upkeep *u = uq->u;
    struct wqueue *q = uq->q;
    uint64_t now = clock_mono_ms();
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
        long long moved = rep->element[0]->integer;
        /* ms until the next due frame on the Redis clock, at most a day
         * (promote.lua), so a due time of 1e20 or inf waits like none. */
        long long wait = rep->element[1]->integer;
        if (moved >= UPKEEP_PROMOTE_LIMIT)
            u->promote_next_ms = now; /* more are due: go again at once */
        else if (wait >= 0 && now + (uint64_t)wait < u->promote_next_ms)
            u->promote_next_ms = now + (uint64_t)wait;
        if (moved > 0)
            worker_wake(u->w);
    } else if (rep && rep->type == REDIS_REPLY_ERROR) {
        log_limited(&uq->promote_log, LOG_ERROR,
                    "moving due frames on %s failed: %s", q->name, rep->str);
    }
    if (--u->promote_left == 0) {
        uint64_t wait = u->promote_next_ms > now ? u->promote_next_ms - now : 0;
        arm(u->promote_ev, wait);
    }
}

static void promote_round(struct upkeep *u)
{
    struct worker *w = u->w;
    /* Monotonic: the due times themselves are judged on the Redis clock
     * (promote.lua); this only times the next call. */
    uint64_t now = clock_mono_ms();
    u->promote_next_ms = now + UPKEEP_PROMOTE_MAX_MS;
    if (!redis_ready(w->redis)) {
        arm(u->promote_ev, UPKEEP_PROMOTE_MAX_MS);
        return;
    }
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", UPKEEP_PROMOTE_LIMIT);
    u->promote_left = (unsigned)w->nq;
    for (int i = 0; i < w->nq; i++) {
        struct wqueue *q = &w->q[i];
        const char *a[] = {q->keys.delayed, q->keys.pending, q->keys.clock,
                           q->keys.workers, limit};
        if (redis_script(w->redis, SCRIPT_PROMOTE, on_promoted, &u->q[i], 4, 5,
                         a, NULL) != 0 &&
            --u->promote_left == 0)
            arm(u->promote_ev, UPKEEP_PROMOTE_MAX_MS);
    }
}

static void on_promote(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    promote_round(arg);
}

static void on_swept(redisReply *rep, void *priv)
{
    struct uqueue *uq = priv;
    struct wqueue *q = uq->q;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_STRING) {
        snprintf(uq->sweep_cursor, sizeof(uq->sweep_cursor), "%s",
                 rep->element[0]->str);
        if (rep->element[1]->integer > 0)
            log_warn("%lld active lists on %s had no worker on record; "
                     "they are recovered once their deadline passes",
                     rep->element[1]->integer, q->name);
    } else if (rep && rep->type == REDIS_REPLY_ERROR) {
        log_limited(&uq->beat_log, LOG_ERROR, "sweep on %s failed: %s", q->name,
                    rep->str);
    }
}

/* One SCAN step per queue whose round is under way, a new round once a
 * minute: a rare repair, so it never costs Redis more than a step a
 * second. */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct upkeep *u = arg;
    struct worker *w = u->w;
    (void)fd;
    (void)what;
    static const char *const starting = "start";
    bool going = false;
    char ttl[24], count[16];
    snprintf(ttl, sizeof(ttl), "%" PRIu64, w->s->heartbeat_ttl_ms);
    snprintf(count, sizeof(count), "%d", UPKEEP_SWEEP_COUNT);
    for (int i = 0; i < w->nq && redis_ready(w->redis) && !w->stopping; i++) {
        struct uqueue *uq = &u->q[i];
        struct wqueue *q = uq->q;
        if (strcmp(uq->sweep_cursor, "0") == 0)
            continue; /* this queue's round is over */
        const char *cur =
            strcmp(uq->sweep_cursor, starting) == 0 ? "0" : uq->sweep_cursor;
        const char *a[] = {q->keys.workers, cur, q->keys.active_prefix, ttl,
                           count};
        redis_script(w->redis, SCRIPT_SWEEP, on_swept, uq, 1, 5, a, NULL);
        going = true;
    }
    if (going) {
        arm(u->sweep_ev, UPKEEP_SWEEP_STEP_MS);
        return;
    }
    for (int i = 0; i < w->nq; i++)
        snprintf(u->q[i].sweep_cursor, sizeof(u->q[i].sweep_cursor), "%s",
                 starting);
    arm(u->sweep_ev, UPKEEP_SWEEP_ROUND_MS);
}

struct upkeep *upkeep_new(struct worker *w)
{
    struct upkeep *u = xcalloc(1, sizeof(*u));
    u->w = w;
    u->heartbeat_ev = evtimer_new(w->base, on_beat, u);
    u->promote_ev = evtimer_new(w->base, on_promote, u);
    u->sweep_ev = evtimer_new(w->base, on_sweep, u);
    for (int i = 0; i < w->nq; i++) {
        u->q[i].u = u;
        u->q[i].q = &w->q[i];
        snprintf(u->q[i].sweep_cursor, sizeof(u->q[i].sweep_cursor), "start");
    }
    arm(u->sweep_ev, UPKEEP_SWEEP_STEP_MS);
    arm(u->heartbeat_ev, beat_interval(w));
    arm(u->promote_ev, 0);
    return u;
}

/* After Redis is freed: no reply can come back to these. */
void upkeep_free(struct upkeep *u)
{
    if (!u)
        return;
    event_free(u->heartbeat_ev);
    event_free(u->promote_ev);
    event_free(u->sweep_ev);
    free(u);
}
