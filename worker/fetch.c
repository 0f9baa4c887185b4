/* Fetch (see fetch.h). */
#include "fetch.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "dispatch.h"
#include "log.h"
#include "redis.h"

/* Order of this round: strict queues as listed, then weighted queues by
 * smooth weighted round-robin (nginx's), so weights hold over time and no
 * weighted queue waits long behind another. */
static int round_order(struct worker *w, int *order)
{
    int n = 0, total = 0;
    for (int i = 0; i < w->nq; i++)
        if (!w->q[i].weight)
            order[n++] = i;
    int first_weighted = n;
    for (int i = 0; i < w->nq; i++)
        if (w->q[i].weight) {
            w->q[i].cw += (int)w->q[i].weight;
            total += (int)w->q[i].weight;
        }
    for (int k = first_weighted; k < w->nq; k++) {
        int best = -1;
        for (int i = 0; i < w->nq; i++) {
            bool used = false;
            for (int j = first_weighted; j < k; j++)
                used |= order[j] == i;
            if (w->q[i].weight && !used &&
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

void fetch_on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fetch_on_ready(arg);
}
static void block_all(struct worker *w);

static void on_take(redisReply *rep, void *priv)
{
    struct take *t = priv;
    struct worker *w = t->w;
    struct wqueue *q = &w->q[t->order[t->pos]];
    w->take_reserved = 0;
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        if (rep && rep->type == REDIS_REPLY_ERROR)
            log_warn("take on %s failed: %s", q->name, rep->str);
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
    char n[16];
    snprintf(n, sizeof(n), "%u", want);
    const char *argv[] = {q->keys.pending, q->keys.active, n};
    w->take_reserved = want;
    if (redis_script(w->redis, SCRIPT_TAKE, on_take, t, 2, 3, argv, NULL) != 0) {
        w->take_reserved = 0;
        free(t);
    }
}

struct blocked {
    struct worker *w;
    struct wqueue *q;
};

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
    if (rep->type == REDIS_REPLY_STRING && !w->stopping)
        dispatch_frame(w, q, rep->str, rep->len);
    else if (rep->type == REDIS_REPLY_ERROR) {
        log_warn("blocking take on %s failed: %s", q->name, rep->str);
        fetch_retry_later(w);
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
    for (int i = 0; i < n && worker_free_slots(w) > 0; i++) {
        struct wqueue *q = &w->q[order[i]];
        if (q->blocking)
            continue;
        char timeout[16];
        snprintf(timeout, sizeof(timeout), "%d", FETCH_BLOCK_S);
        const char *argv[] = {"BLMOVE", q->keys.pending, q->keys.active,
                              "RIGHT", "LEFT", timeout};
        struct blocked *b = malloc(sizeof(*b));
        *b = (struct blocked){w, q};
        if (redis_blocking(w->redis, q->index, on_blmove, b,
                           FETCH_BLOCK_S * 1000, 6, argv, NULL) != 0) {
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

static void kick(struct worker *w, bool filling)
{
    if (w->stopping || w->reconciling || w->take_reserved ||
        !redis_ready(w->redis) || w->finishing > FINISH_BACKLOG_MAX)
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
    bool failed = !rep || rep->type == REDIS_REPLY_ERROR;
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
