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

static void on_recovered(redisReply *rep, void *priv)
{
    struct wqueue *q = priv;
    if (rep && rep->type == REDIS_REPLY_INTEGER && rep->integer > 0) {
        log_warn("recovered %lld frames of lapsed workers on %s",
                 rep->integer, q->name);
        fetch_kick(q->w);
    } else if (rep && rep->type == REDIS_REPLY_ERROR) {
        log_warn("recovery on %s failed: %s", q->name, rep->str);
    }
}

void upkeep_beat(struct worker *w)
{
    if (!redis_ready(w->redis))
        return;
    uint64_t now = clock_wall_ms();
    char deadline[24], nows[24];
    snprintf(deadline, sizeof(deadline), "%" PRIu64, now + w->s->heartbeat_ttl_ms);
    snprintf(nows, sizeof(nows), "%" PRIu64, now);
    for (int i = 0; i < w->nq; i++) {
        struct wqueue *q = &w->q[i];
        const char *za[] = {"ZADD", q->keys.workers, deadline, w->s->worker_id};
        redis_cmd(w->redis, NULL, NULL, 4, za, NULL);
        if (w->stopping)
            continue;
        const char *ra[] = {q->keys.workers, q->keys.pending, q->keys.stats,
                            nows, q->keys.active_prefix, w->s->worker_id};
        redis_script(w->redis, SCRIPT_RECOVER, on_recovered, q, 3, 6, ra, NULL);
    }
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
    uint64_t now = clock_wall_ms();
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
        long long moved = rep->element[0]->integer;
        const redisReply *nx = rep->element[1];
        if (moved >= UPKEEP_PROMOTE_LIMIT)
            w->promote_next_ms = now; /* more are due: go again at once */
        else if (nx->type == REDIS_REPLY_STRING) {
            uint64_t next = strtoull(nx->str, NULL, 10);
            if (nx->str[0] != '-' && next < w->promote_next_ms)
                w->promote_next_ms = next;
        }
        if (moved > 0)
            fetch_kick(w);
    }
    if (--w->promote_left == 0) {
        uint64_t wait = w->promote_next_ms > now ? w->promote_next_ms - now : 0;
        arm(w->promote_ev, wait);
    }
}

static void promote_round(struct worker *w)
{
    uint64_t now = clock_wall_ms();
    w->promote_next_ms = now + UPKEEP_PROMOTE_MAX_MS;
    if (!redis_ready(w->redis)) {
        arm(w->promote_ev, UPKEEP_PROMOTE_MAX_MS);
        return;
    }
    char nows[24], limit[16];
    snprintf(nows, sizeof(nows), "%" PRIu64, now);
    snprintf(limit, sizeof(limit), "%d", UPKEEP_PROMOTE_LIMIT);
    w->promote_left = (unsigned)w->nq;
    for (int i = 0; i < w->nq; i++) {
        struct wqueue *q = &w->q[i];
        const char *a[] = {q->keys.delayed, q->keys.pending, nows, limit};
        if (redis_script(w->redis, SCRIPT_PROMOTE, on_promoted, q, 2, 4, a,
                         NULL) != 0 && --w->promote_left == 0)
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
