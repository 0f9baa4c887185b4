/* Upkeep (see upkeep.h). */
#include "upkeep.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fetch.h"
#include "log.h"
#include "redis.h"

static void arm(struct event *ev, uint64_t ms)
{
    if (!ev)
        return; /* stopped: a late reply must not re-arm anything */
    struct timeval tv = clock_timeval(ms);
    evtimer_add(ev, &tv);
}

/* Often enough that two beats are missed before the deadline passes. */
static uint64_t beat_interval(const struct worker *w)
{
    uint64_t ms = w->s->heartbeat_ttl_ms / 3;
    return ms > 5000 ? 5000 : ms;
}

static void beat_queue(struct worker *w, struct wqueue *q);

static void on_beat_reply(redisReply *rep, void *priv)
{
    struct wqueue *q = priv;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
        long long moved = rep->element[0]->integer;
        if (moved > 0) {
            log_warn("recovered %lld frames of lapsed workers on %s", moved,
                     q->name);
            fetch_kick(q->w);
        }
        /* One call moves a bounded share (beat.lua): go on for the rest. */
        if (rep->element[1]->integer == 1)
            beat_queue(q->w, q);
    } else if (rep && rep->type == REDIS_REPLY_ERROR) {
        log_limited(&q->beat_log, LOG_ERROR,
                    "heartbeat and recovery on %s failed: %s", q->name,
                    rep->str);
    }
}

/* The deadline is set by the script on the Redis server's clock: see
 * common/scripts/beat.lua. */
static void beat_queue(struct worker *w, struct wqueue *q)
{
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
    redis_script(w->redis, SCRIPT_BEAT, on_beat_reply, q, 5, 10, a, NULL);
}

void upkeep_beat(struct worker *w)
{
    for (int i = 0; i < w->nq; i++)
        beat_queue(w, &w->q[i]);
}

static void on_beat(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    upkeep_beat(w);
    arm(w->heartbeat_ev, beat_interval(w));
}

static void promote_round(struct worker *w);

static void on_promoted(redisReply *rep, void *priv)
{
    struct wqueue *q = priv;
    struct worker *w = q->w;
    uint64_t now = clock_mono_ms();
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
        long long moved = rep->element[0]->integer;
        /* ms until the next due frame on the Redis clock, at most a day
         * (promote.lua), so a due time of 1e20 or inf waits like none. */
        long long wait = rep->element[1]->integer;
        if (moved >= UPKEEP_PROMOTE_LIMIT)
            w->promote_next_ms = now; /* more are due: go again at once */
        else if (wait >= 0 && now + (uint64_t)wait < w->promote_next_ms)
            w->promote_next_ms = now + (uint64_t)wait;
        if (moved > 0)
            fetch_kick(w);
    } else if (rep && rep->type == REDIS_REPLY_ERROR) {
        log_limited(&q->promote_log, LOG_ERROR,
                    "moving due frames on %s failed: %s", q->name, rep->str);
    }
    if (--w->promote_left == 0) {
        uint64_t wait = w->promote_next_ms > now ? w->promote_next_ms - now : 0;
        arm(w->promote_ev, wait);
    }
}

static void promote_round(struct worker *w)
{
    /* Monotonic: the due times themselves are judged on the Redis clock
     * (promote.lua); this only times the next call. */
    uint64_t now = clock_mono_ms();
    w->promote_next_ms = now + UPKEEP_PROMOTE_MAX_MS;
    if (!redis_ready(w->redis)) {
        arm(w->promote_ev, UPKEEP_PROMOTE_MAX_MS);
        return;
    }
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", UPKEEP_PROMOTE_LIMIT);
    w->promote_left = (unsigned)w->nq;
    for (int i = 0; i < w->nq; i++) {
        struct wqueue *q = &w->q[i];
        const char *a[] = {q->keys.delayed, q->keys.pending, q->keys.clock,
                           q->keys.workers, limit};
        if (redis_script(w->redis, SCRIPT_PROMOTE, on_promoted, q, 4, 5, a,
                         NULL) != 0 &&
            --w->promote_left == 0)
            arm(w->promote_ev, UPKEEP_PROMOTE_MAX_MS);
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
    struct wqueue *q = priv;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_STRING) {
        snprintf(q->sweep_cursor, sizeof(q->sweep_cursor), "%s",
                 rep->element[0]->str);
        if (rep->element[1]->integer > 0)
            log_warn("%lld active lists on %s had no worker on record; "
                     "they are recovered once their deadline passes",
                     rep->element[1]->integer, q->name);
    } else if (rep && rep->type == REDIS_REPLY_ERROR) {
        log_limited(&q->beat_log, LOG_ERROR, "sweep on %s failed: %s", q->name,
                    rep->str);
    }
}

/* One SCAN step per queue whose round is under way, a new round once a
 * minute: a rare repair, so it never costs Redis more than a step a
 * second. */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    static const char *const starting = "start";
    bool going = false;
    char ttl[24], count[16];
    snprintf(ttl, sizeof(ttl), "%" PRIu64, w->s->heartbeat_ttl_ms);
    snprintf(count, sizeof(count), "%d", UPKEEP_SWEEP_COUNT);
    for (int i = 0; i < w->nq && redis_ready(w->redis) && !w->stopping; i++) {
        struct wqueue *q = &w->q[i];
        if (strcmp(q->sweep_cursor, "0") == 0)
            continue; /* this queue's round is over */
        const char *cur =
            strcmp(q->sweep_cursor, starting) == 0 ? "0" : q->sweep_cursor;
        const char *a[] = {q->keys.workers, cur, q->keys.active_prefix, ttl,
                           count};
        redis_script(w->redis, SCRIPT_SWEEP, on_swept, q, 1, 5, a, NULL);
        going = true;
    }
    if (going) {
        arm(w->sweep_ev, UPKEEP_SWEEP_STEP_MS);
        return;
    }
    for (int i = 0; i < w->nq; i++)
        snprintf(w->q[i].sweep_cursor, sizeof(w->q[i].sweep_cursor), "%s",
                 starting);
    arm(w->sweep_ev, UPKEEP_SWEEP_ROUND_MS);
}

void upkeep_start(struct worker *w)
{
    w->heartbeat_ev = evtimer_new(w->base, on_beat, w);
    w->promote_ev = evtimer_new(w->base, on_promote, w);
    w->sweep_ev = evtimer_new(w->base, on_sweep, w);
    for (int i = 0; i < w->nq; i++)
        snprintf(w->q[i].sweep_cursor, sizeof(w->q[i].sweep_cursor), "start");
    arm(w->sweep_ev, UPKEEP_SWEEP_STEP_MS);
    arm(w->heartbeat_ev, beat_interval(w));
    arm(w->promote_ev, 0);
}

void upkeep_stop(struct worker *w)
{
    if (w->heartbeat_ev)
        event_free(w->heartbeat_ev);
    if (w->promote_ev)
        event_free(w->promote_ev);
    if (w->sweep_ev)
        event_free(w->sweep_ev);
    w->heartbeat_ev = w->promote_ev = w->sweep_ev = NULL;
}
