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

void upkeep_start(struct worker *w)
{
    w->heartbeat_ev = evtimer_new(w->base, on_beat, w);
    w->promote_ev = evtimer_new(w->base, on_promote, w);
    arm(w->heartbeat_ev, beat_interval(w));
    arm(w->promote_ev, 0);
}

void upkeep_stop(struct worker *w)
{
    if (w->heartbeat_ev)
        event_free(w->heartbeat_ev);
    if (w->promote_ev)
        event_free(w->promote_ev);
    w->heartbeat_ev = w->promote_ev = NULL;
}
