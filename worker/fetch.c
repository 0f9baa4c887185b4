/* Fetch (see fetch.h). */
#include "fetch.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "daemon.h"
#include "dispatch.h"
#include "log.h"
#include "redis.h"

/* Order of this round: strict queues as listed, then weighted queues by
 * smooth weighted round-robin (nginx's), so weights hold over time and no
 * weighted queue waits long behind another. */
static bool servable(const struct wqueue *q, uint64_t now)
{
    return !q->finish_broken && q->fetch_broken_until <= now;
}

static int round_order(struct worker *w, int *order)
{
    int n = 0, total = 0;
    uint64_t now = clock_mono_ms();
    for (int i = 0; i < w->nq; i++)
        if (!w->q[i].weight && servable(&w->q[i], now))
            order[n++] = i;
    int first_weighted = n;
    int weighted = 0;
    for (int i = 0; i < w->nq; i++)
        if (w->q[i].weight && servable(&w->q[i], now)) {
            weighted++;
            w->q[i].cw += (int)w->q[i].weight;
            total += (int)w->q[i].weight;
        }
    for (int k = first_weighted; k < first_weighted + weighted; k++) {
        int best = -1;
        for (int i = 0; i < w->nq; i++) {
            bool used = false;
            for (int j = first_weighted; j < k; j++)
                used |= order[j] == i;
            if (w->q[i].weight && servable(&w->q[i], now) && !used &&
                (best < 0 || w->q[i].cw > w->q[best].cw))
                best = i;
        }
        if (best < 0)
            break;
        if (k == first_weighted)
            w->q[best].cw -= total;
        order[n++] = best;
    }
    return n;
}

struct take {
    struct worker *w;
    int order[SETTINGS_MAX_QUEUES];
    int n, pos;
    unsigned want, got;
};

static void take_next(struct take *t);
static void kick(struct worker *w, bool filling);

#define FETCH_RETRY_MS 250

/* A reply was lost or refused: a take may have moved frames we never saw,
 * so reconcile before taking again, once Redis answers. */
static void fetch_retry_later(struct worker *w)
{
    w->reconcile_wanted = true;
    struct timeval tv = {0, FETCH_RETRY_MS * 1000};
    evtimer_add(w->fetch_retry, &tv);
}

/* Redis refused q's keys (a wrong type, a failing script): the script
 * checked types before writing, so nothing moved. Log it at most once a
 * second, leave q aside for a while and serve the other queues. */
static void set_aside(struct worker *w, struct wqueue *q, const char *what,
                      const char *err)
{
    log_limited(&q->fetch_log, LOG_ERROR,
                "%s on %s failed: %s; serving the "
                "other queues and trying it again in %d ms",
                what, q->name, err, FETCH_BROKEN_MS);
    q->fetch_broken_until = clock_mono_ms() + FETCH_BROKEN_MS;
    struct timeval tv = clock_timeval(FETCH_BROKEN_MS);
    if (!evtimer_pending(w->fetch_retry, NULL))
        evtimer_add(w->fetch_retry, &tv);
}

void fetch_on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    if (w->reconcile_wanted)
        fetch_on_ready(w);
    else
        fetch_kick(w);
}
static void block_all(struct worker *w);

static void on_take(redisReply *rep, void *priv)
{
    struct take *t = priv;
    struct worker *w = t->w;
    struct wqueue *q = &w->q[t->order[t->pos]];
    w->take_reserved = 0;
    if (rep && rep->type == REDIS_REPLY_ERROR) {
        set_aside(w, q, "take", rep->str);
        t->pos++;
        if (t->pos < t->n && !w->stopping) {
            take_next(t);
            return;
        }
        unsigned got = t->got;
        free(t);
        if (w->stopping)
            daemon_progress(w);
        else if (got == 0)
            block_all(w);
        else
            fetch_kick(w);
        return;
    }
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        free(t);
        fetch_retry_later(w);
        daemon_progress(w); /* a stopping worker waits on this reply */
        return;
    }
    for (size_t i = 0; i < rep->elements; i++) {
        redisReply *e = rep->element[i];
        if (e->type == REDIS_REPLY_STRING && !w->stopping)
            dispatch_frame(w, q, e->str, e->len);
    }
    t->got += (unsigned)rep->elements;
    t->pos++;
    if (t->got < t->want && t->pos < t->n && !w->stopping) {
        take_next(t);
        return;
    }
    unsigned got = t->got;
    /* A full batch of the most a take moves: the window is larger than a
     * batch and still filling, so go on at once rather than wait for it
     * to drain to the refill mark. */
    bool filling = got == FETCH_BATCH_MAX;
    free(t);
    if (w->stopping) {
        daemon_progress(w);
        return;
    }
    if (got == 0)
        block_all(w);
    else
        kick(w, filling);
}

static void take_next(struct take *t)
{
    struct worker *w = t->w;
    struct wqueue *q = &w->q[t->order[t->pos]];
    unsigned want = t->want - t->got;
    char n[16], max[24], deadmax[24], budget[24];
    snprintf(n, sizeof(n), "%u", want);
    snprintf(budget, sizeof(budget), "%d", FETCH_BATCH_BYTES);
    snprintf(max, sizeof(max), "%" PRIu64, w->s->max_frame_bytes);
    snprintf(deadmax, sizeof(deadmax), "%" PRIu64, w->s->dead_max);
    const char *argv[] = {
        q->keys.pending, q->keys.active, q->keys.dead, q->keys.stats, n, max,
        w->wid,          deadmax,        budget};
    w->take_reserved = want;
    if (redis_script(w->redis, SCRIPT_TAKE, on_take, t, 4, 9, argv, NULL) !=
        0) {
        w->take_reserved = 0;
        free(t);
    }
}

struct blocked {
    struct worker *w;
    struct wqueue *q;
};

static void on_set_aside(redisReply *rep, void *priv)
{
    struct wqueue *q = priv;
    if (rep && rep->type == REDIS_REPLY_ERROR)
        log_limited(&q->fetch_log, LOG_ERROR,
                    "moving oversized frames of %s to dead failed: %s", q->name,
                    rep->str);
}

/* A blocking take handed over a frame over max-frame-bytes: drop this copy
 * at once and let Redis move it (and any like it) to the dead list, so the
 * worker never holds more than the one reply that brought it. */
static void set_aside_big(struct worker *w, struct wqueue *q, size_t len)
{
    log_limited(&q->reply_log, LOG_WARN,
                "frame on %s is dead: frame too large (%zu bytes, limit "
                "%" PRIu64 ")",
                q->name, len, w->s->max_frame_bytes);
    char max[24], deadmax[24];
    snprintf(max, sizeof(max), "%" PRIu64, w->s->max_frame_bytes);
    snprintf(deadmax, sizeof(deadmax), "%" PRIu64, w->s->dead_max);
    const char *a[] = {q->keys.active, q->keys.dead, q->keys.stats, max,
                       w->wid,         deadmax};
    redis_script(w->redis, SCRIPT_SETASIDE, on_set_aside, q, 3, 6, a, NULL);
}

static void on_blmove(redisReply *rep, void *priv)
{
    struct blocked *b = priv;
    struct worker *w = b->w;
    struct wqueue *q = b->q;
    free(b);
    q->blocking = false;
    w->blocking_n--;
    if (!rep) {
        fetch_retry_later(w);
        daemon_progress(w);
        return;
    }
    if (rep->type == REDIS_REPLY_STRING && rep->len > w->s->max_frame_bytes)
        set_aside_big(w, q, rep->len);
    else if (rep->type == REDIS_REPLY_STRING && !w->stopping)
        dispatch_frame(w, q, rep->str, rep->len);
    else if (rep->type == REDIS_REPLY_ERROR) {
        set_aside(w, q, "blocking take", rep->str);
        daemon_progress(w);
        return;
    }
    if (w->stopping) {
        daemon_progress(w);
        return;
    }
    if (w->reconcile_wanted && !w->reconciling)
        fetch_on_ready(w);
    else if (rep->type == REDIS_REPLY_STRING || w->blocking_n == 0)
        fetch_kick(w);
}

/* Every queue was empty: wait on each (highest priority first) for as many
 * as there are free slots. */
static void block_all(struct worker *w)
{
    int order[SETTINGS_MAX_QUEUES];
    int n = round_order(w, order);
    /* Well under the heartbeat TTL: a BLMOVE sent just before this worker
     * froze can still move a frame into its active list, and that frame
     * must land before the list's recovery is over (beat.lua). */
    uint64_t block_ms = w->s->heartbeat_ttl_ms / 4;
    if (block_ms > FETCH_BLOCK_MS)
        block_ms = FETCH_BLOCK_MS;
    char timeout[24];
    snprintf(timeout, sizeof(timeout), "%.3f", (double)block_ms / 1000.0);
    for (int i = 0; i < n && worker_free_slots(w) > 0; i++) {
        struct wqueue *q = &w->q[order[i]];
        if (q->blocking)
            continue;
        const char *argv[] = {"BLMOVE", q->keys.pending, q->keys.active,
                              "RIGHT",  "LEFT",          timeout};
        struct blocked *b = malloc(sizeof(*b));
        *b = (struct blocked){w, q};
        if (redis_blocking(w->redis, q->index, on_blmove, b, block_ms, 6, argv,
                           NULL) != 0) {
            free(b);
            continue;
        }
        q->blocking = true;
        w->blocking_n++;
    }
}

void fetch_kick(struct worker *w)
{
    kick(w, false);
}

/* Outcomes waiting for Redis, but for those of queues it refuses: those
 * are held apart and take nothing from the others (set aside above). */
static unsigned backlog(const struct worker *w)
{
    unsigned n = w->finishing;
    for (int i = 0; i < w->nq; i++)
        if (w->q[i].finish_broken)
            n -= w->q[i].finishing;
    return n;
}

static void kick(struct worker *w, bool filling)
{
    if (w->stopping || w->reconciling || w->take_reserved ||
        !redis_ready(w->redis) || backlog(w) > FINISH_BACKLOG_MAX)
        return;
    unsigned free_slots = worker_free_slots(w);
    /* Refill in halves of the window (or whole batches, for a window of
     * thousands) while jobs are running: a take sent for the first free
     * slot would hold the one take in flight and keep every batch tiny.
     * An idle worker takes whatever it can. */
    unsigned running = w->cpu_inflight + w->io_inflight;
    unsigned window = worker_window(w);
    if (window > w->io_slots) /* no take is larger than the io slots */
        window = w->io_slots;
    unsigned low = window / 2;
    if (low > FETCH_BATCH_MAX)
        low = FETCH_BATCH_MAX;
    if (!running || filling || low == 0)
        low = 1;
    if (free_slots == 0 || free_slots < low)
        return;
    struct take *t = calloc(1, sizeof(*t));
    t->w = w;
    t->n = round_order(w, t->order);
    if (t->n == 0) { /* every queue set aside: the retry timer comes back */
        free(t);
        return;
    }
    t->want = free_slots < FETCH_BATCH_MAX ? free_slots : FETCH_BATCH_MAX;
    take_next(t);
}

bool fetch_idle(const struct worker *w)
{
    return w->take_reserved == 0 && w->blocking_n == 0 && !w->reconciling;
}

static void on_orphans(redisReply *rep, void *priv)
{
    struct wqueue *q = priv;
    struct worker *w = q->w;
    if (rep && rep->type == REDIS_REPLY_INTEGER && rep->integer > 0)
        log_warn("returned %lld frames of %s whose take reply was lost",
                 rep->integer, q->name);
    if (rep && rep->type == REDIS_REPLY_ERROR)
        set_aside(w, q, "returning orphaned frames", rep->str);
    bool failed = !rep;
    if (--w->reconcile_left == 0) {
        w->reconciling = false;
        if (failed)
            fetch_retry_later(w);
        else
            fetch_kick(w);
    } else if (failed) {
        w->reconcile_wanted = true;
    }
}

/* Frames this worker holds for q: every live job taken from q. */
static int held_frames(struct worker *w, struct wqueue *q, const char **argv,
                       size_t *lens, int max)
{
    int n = 0;
    for (struct jobq_ctx *c = w->live.lnext; c != &w->live && n < max;
         c = c->lnext)
        if (c->q == q) {
            argv[n] = c->raw;
            lens[n++] = c->rawlen;
        }
    return n;
}

void fetch_on_ready(struct worker *w)
{
    if (w->reconciling || w->stopping || !redis_ready(w->redis))
        return;
    if (w->take_reserved || w->blocking_n) {
        /* Wait for replies still owed on other connections: a frame they
         * carry must not be mistaken for an orphan. */
        w->reconcile_wanted = true;
        return;
    }
    w->reconciling = true;
    w->reconcile_wanted = false;
    w->reconcile_left = (unsigned)w->nq;
    int max = (int)w->live_n + 2;
    const char **argv = malloc(sizeof(*argv) * (size_t)max);
    size_t *lens = malloc(sizeof(*lens) * (size_t)max);
    for (int i = 0; i < w->nq; i++) {
        struct wqueue *q = &w->q[i];
        argv[0] = q->keys.active;
        lens[0] = strlen(q->keys.active);
        argv[1] = q->keys.pending;
        lens[1] = strlen(q->keys.pending);
        int n = held_frames(w, q, argv + 2, lens + 2, max - 2);
        if (redis_script(w->redis, SCRIPT_ORPHANS, on_orphans, q, 2, 2 + n,
                         argv, lens) != 0) {
            if (--w->reconcile_left == 0) {
                w->reconciling = false;
                fetch_retry_later(w);
            }
        }
    }
    free(argv);
    free(lens);
}
