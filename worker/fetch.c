/* Fetch (see fetch.h). */
#include "fetch.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dispatch.h"
#include "finish.h"
#include "jobctx.h"
#include "log.h"
#include "redis.h"
#include "xalloc.h"

#define FETCH_RETRY_MS 250

struct fqueue {
    int cw;        /* smooth weighted round-robin state */
    bool blocking; /* a BLMOVE is outstanding on this queue's slot */
    /* A queue whose keys Redis refuses (a wrong type, a failing script)
     * is set aside until then, so the other queues go on being served. */
    uint64_t broken_until; /* monotonic ms */
    uint64_t pick_at;      /* monotonic ms: no PICK before */
    unsigned pick_miss_ms; /* the next wait after a PICK that finds none */
    struct log_limit log, reply_log;
};

struct fetch {
    struct worker *w;
    struct fqueue q[SETTINGS_MAX_QUEUES];
    unsigned reserved;   /* room asked for by the outstanding take */
    unsigned blocking_n; /* outstanding BLMOVEs */
    bool taking;         /* a take round is out */
    bool again;          /* the tick asked for a refill while it was out */
    bool reconciling, reconcile_wanted;
    unsigned reconcile_left;
    struct event *retry_ev;
    struct event *pick_ev; /* the earliest pick_at of a queue that missed */
    uint64_t pick_wake_at;
    /* PICK's arguments past the fixed ones: the io job types. */
    const char **io_types;
    int n_io;
};

/* Room now, by class. A TAKE moves frames blindly, so it asks for no
 * more than the CPU room (io frames it brings are a bonus): a worker never
 * holds more CPU frames than its window, whatever a queue's mix was. The
 * io room is filled by PICK, which moves only io frames, from behind CPU
 * frames too. */
struct room {
    unsigned take, pick, low;
};

static unsigned sub(unsigned a, unsigned b)
{
    return a > b ? a - b : 0;
}

static void room_for(const struct fetch *f, bool filling, struct room *r)
{
    struct dispatch_load l;
    dispatch_load(f->w->dispatch, &l);
    unsigned held = f->reserved + f->blocking_n;
    unsigned io_free = sub(l.io_slots, l.io_inflight + held);
    unsigned cpu_free = sub(l.cpu_slots, l.cpu_inflight + l.checking + held);
    r->pick = io_free;
    r->take = cpu_free < io_free ? cpu_free : io_free;
    /* Refill in halves of the CPU window while jobs run: a take sent for
     * the first free slot would hold the one take in flight and keep
     * every batch tiny. An idle worker takes whatever it can. */
    unsigned running = l.cpu_inflight + l.io_inflight + l.checking;
    r->low = l.cpu_slots / 2;
    if (r->low > FETCH_BATCH_MAX)
        r->low = FETCH_BATCH_MAX;
    if (!running || filling || r->low == 0)
        r->low = 1;
}

static bool servable(const struct fetch *f, int qi, uint64_t now)
{
    return !finish_queue_broken(f->w->finish, qi) &&
           f->q[qi].broken_until <= now;
}

/* Order of this round: strict queues as listed, then weighted queues by
 * smooth weighted round-robin (nginx's), so weights hold over time and no
 * weighted queue waits long behind another. */
static int round_order(struct fetch *f, int *order)
{
    struct worker *w = f->w;
    int n = 0, total = 0;
    uint64_t now = clock_mono_ms();
    for (int i = 0; i < w->nq; i++)
        if (!w->q[i].weight && servable(f, i, now))
            order[n++] = i;
    int first_weighted = n;
    int weighted = 0;
    for (int i = 0; i < w->nq; i++)
        if (w->q[i].weight && servable(f, i, now)) {
            weighted++;
            f->q[i].cw += (int)w->q[i].weight;
            total += (int)w->q[i].weight;
        }
    for (int k = first_weighted; k < first_weighted + weighted; k++) {
        int best = -1;
        for (int i = 0; i < w->nq; i++) {
            bool used = false;
            for (int j = first_weighted; j < k; j++)
                used |= order[j] == i;
            if (w->q[i].weight && servable(f, i, now) && !used &&
                (best < 0 || f->q[i].cw > f->q[best].cw))
                best = i;
        }
        if (best < 0)
            break;
        if (k == first_weighted)
            f->q[best].cw -= total;
        order[n++] = best;
    }
    return n;
}

/* A round of takes: each queue in order gets a TAKE or a PICK for its
 * room, until the room is used up. */
struct take {
    struct fetch *f;
    int order[SETTINGS_MAX_QUEUES];
    int n, pos;
    bool pick;        /* the call out is a PICK */
    unsigned want;    /* frames it asked for */
    bool full;        /* a TAKE brought all it asked for: the round is over */
    bool picked;      /* a PICK came back: the rest of the round only picks */
    unsigned io_left; /* the io room the round began with, not yet asked for */
    bool filling;
    unsigned got;
    bool empty[SETTINGS_MAX_QUEUES]; /* its pending list was empty */
};

static void take_step(struct take *t);
static void kick(struct fetch *f, bool filling);
static void block_all(struct fetch *f, const bool *empty);

static void arm(struct fetch *f, uint64_t ms)
{
    struct timeval tv = clock_timeval(ms);
    if (!evtimer_pending(f->retry_ev, NULL))
        evtimer_add(f->retry_ev, &tv);
}

/* A reply was lost or refused: a take may have moved frames we never saw,
 * so reconcile before taking again, once Redis answers. */
static void retry_later(struct fetch *f)
{
    f->reconcile_wanted = true;
    arm(f, FETCH_RETRY_MS);
}

/* Redis refused q's keys (a wrong type, a failing script): the script
 * checked types before writing, so nothing moved. Log it at most once a
 * second, leave q aside for a while and serve the other queues. */
static void set_aside(struct fetch *f, struct wqueue *q, const char *what,
                      const char *err)
{
    log_limited(&f->q[q->index].log, LOG_ERROR,
                "%s on %s failed: %s; serving the "
                "other queues and trying it again in %d ms",
                what, q->name, err, FETCH_BROKEN_MS);
    f->q[q->index].broken_until = clock_mono_ms() + FETCH_BROKEN_MS;
    arm(f, FETCH_BROKEN_MS);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct fetch *f = arg;
    (void)fd;
    (void)what;
    if (f->reconcile_wanted)
        fetch_on_ready(f);
    else
        kick(f, false);
}

/* The round is over: wait on empty queues if nothing came, else go on. */
static void take_done(struct take *t)
{
    struct fetch *f = t->f;
    struct worker *w = f->w;
    f->taking = false;
    bool again = f->again;
    f->again = false;
    bool empty[SETTINGS_MAX_QUEUES];
    memcpy(empty, t->empty, sizeof(empty));
    unsigned got = t->got;
    bool filling = t->filling;
    free(t);
    if (w->stopping) {
        worker_wake(w); /* the stop check waits on this reply */
        return;
    }
    /* Ticks that came while the round was out (jobs finished, room came
     * back) get their refill now; a round that found nothing and saw no
     * such tick waits on the empty queues instead of asking again. */
    if (got == 0)
        block_all(f, empty);
    if (got > 0 || again)
        kick(f, filling);
}

/* A PICK that found no io frame among the oldest of a non-empty pending
 * list: not again on that queue for a while (see fetch.h). */
static void pick_missed(struct fetch *f, int qi)
{
    struct fqueue *fq = &f->q[qi];
    if (!fq->pick_miss_ms)
        fq->pick_miss_ms = FETCH_PICK_MISS_MS;
    fq->pick_at = clock_mono_ms() + fq->pick_miss_ms;
    if (!evtimer_pending(f->pick_ev, NULL) || fq->pick_at < f->pick_wake_at) {
        struct timeval tv = clock_timeval(fq->pick_miss_ms);
        evtimer_add(f->pick_ev, &tv);
        f->pick_wake_at = fq->pick_at;
    }
    /* The class mix seen on the queue sets how long it may keep missing:
     * a queue that carries io jobs is looked at again sooner. */
    unsigned max = dispatch_io_share(f->w->dispatch, qi) >= IO_SHARE_ONE / 16
                       ? FETCH_PICK_MISS_IO_MS
                       : FETCH_PICK_MISS_MAX_MS;
    fq->pick_miss_ms *= 2;
    if (fq->pick_miss_ms > max)
        fq->pick_miss_ms = max;
}

static void on_take(redisReply *rep, void *priv)
{
    struct take *t = priv;
    struct fetch *f = t->f;
    struct worker *w = f->w;
    int qi = t->order[t->pos];
    struct wqueue *q = &w->q[qi];
    f->reserved = 0;
    if (rep && rep->type == REDIS_REPLY_ERROR) {
        set_aside(f, q, t->pick ? "pick" : "take", rep->str);
    } else if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        free(t);
        f->taking = false;
        retry_later(f);
        worker_wake(w); /* a stopping worker waits on this reply */
        return;
    } else {
        unsigned frames = 0;
        long long left = -1; /* PICK: pending's length after it */
        for (size_t i = 0; i < rep->elements; i++) {
            redisReply *e = rep->element[i];
            if (e->type == REDIS_REPLY_STRING) {
                frames++;
                if (!w->stopping)
                    dispatch_frame(w->dispatch, q, e->str, e->len);
            } else if (e->type == REDIS_REPLY_INTEGER) {
                left = e->integer;
            }
        }
        t->got += frames;
        if (t->pick) {
            if (frames)
                f->q[qi].pick_miss_ms = 0;
            else if (left > 0)
                pick_missed(f, qi);
            t->empty[qi] = left == 0;
            t->picked = true;
        } else {
            t->empty[qi] = frames == 0;
            t->full = frames == t->want;
            t->picked |= t->full;
            /* A full batch of the most a take moves: the window is larger
             * than a batch and still filling, so go on at once rather
             * than wait for it to drain to the refill mark. */
            t->filling |= frames == FETCH_BATCH_MAX;
        }
    }
    /* A round hands out the room there was when it began, in queue order:
     * a queue whose TAKE came back full used the CPU room up, and the rest
     * of the round only picks, starting with that queue's own io frames;
     * a queue that ran short passes the rest on. Room that came back
     * while a call was out is the next round's, in the next weighted
     * order, so no queue keeps the turn by being quick. */
    if (t->pick || !t->full || !rep || rep->type != REDIS_REPLY_ARRAY)
        t->pos++;
    if (w->stopping || t->pos >= t->n)
        take_done(t);
    else
        take_step(t);
}

static int send_take(struct take *t, struct wqueue *q, unsigned want)
{
    struct fetch *f = t->f;
    const struct settings *s = f->w->s;
    char n[16], max[24], deadmax[24], budget[24];
    snprintf(n, sizeof(n), "%u", want);
    snprintf(budget, sizeof(budget), "%d", FETCH_BATCH_BYTES);
    snprintf(max, sizeof(max), "%" PRIu64, s->max_frame_bytes);
    snprintf(deadmax, sizeof(deadmax), "%" PRIu64, s->dead_max);
    const char *argv[] = {
        q->keys.pending, q->keys.active, q->keys.dead, q->keys.stats, n, max,
        f->w->wid,       deadmax,        budget};
    t->pick = false;
    return redis_script(f->w->redis, SCRIPT_TAKE, on_take, t, 4, 9, argv, NULL);
}

/* A queue whose jobs are mostly io is picked from in whole batches (its
 * frames are the io room's); one of CPU jobs is looked at no deeper than
 * FETCH_PICK_SCAN, for the io frames hidden among them. */
static int send_pick(struct take *t, struct wqueue *q, unsigned want)
{
    struct fetch *f = t->f;
    unsigned scan = FETCH_PICK_SCAN;
    if (dispatch_io_share(f->w->dispatch, q->index) >= IO_SHARE_ONE / 2 &&
        want > scan)
        scan = want;
    char n[16], scans[16], max[24], budget[24], walks[24];
    snprintf(n, sizeof(n), "%u", want);
    snprintf(scans, sizeof(scans), "%u", scan);
    snprintf(max, sizeof(max), "%" PRIu64, f->w->s->max_frame_bytes);
    snprintf(budget, sizeof(budget), "%d", FETCH_BATCH_BYTES);
    snprintf(walks, sizeof(walks), "%u", scan * FETCH_PICK_WALK_PER_FRAME);
    int argc = 7 + f->n_io;
    const char **argv = xmalloc(sizeof(*argv) * (size_t)argc);
    argv[0] = q->keys.pending;
    argv[1] = q->keys.active;
    argv[2] = n;
    argv[3] = scans;
    argv[4] = max;
    argv[5] = budget;
    argv[6] = walks;
    memcpy(argv + 7, f->io_types, sizeof(*argv) * (size_t)f->n_io);
    t->pick = true;
    int rc =
        redis_script(f->w->redis, SCRIPT_PICK, on_take, t, 2, argc, argv, NULL);
    free(argv);
    return rc;
}

/* What a round would send on qi now: a TAKE, a PICK or nothing. */
enum call { CALL_NONE, CALL_TAKE, CALL_PICK };

static enum call call_for(const struct fetch *f, int qi, bool filling,
                          bool pick_only, uint64_t now, unsigned *want)
{
    struct room r;
    room_for(f, filling, &r);
    unsigned n = 0;
    enum call c = CALL_NONE;
    if (!pick_only && r.take >= r.low && r.take > 0) {
        n = r.take;
        c = CALL_TAKE;
    } else if (r.pick > 0 && f->n_io > 0 && f->q[qi].pick_at <= now) {
        n = r.pick;
        c = CALL_PICK;
    }
    *want = n < FETCH_BATCH_MAX ? n : FETCH_BATCH_MAX;
    return c;
}

static bool any_room(const struct fetch *f, bool filling)
{
    uint64_t now = clock_mono_ms();
    unsigned want;
    for (int i = 0; i < f->w->nq; i++)
        if (servable(f, i, now) &&
            call_for(f, i, filling, false, now, &want) != CALL_NONE)
            return true;
    return false;
}

/* Sends the next call of the round, skipping queues without room. */
static void take_step(struct take *t)
{
    struct fetch *f = t->f;
    uint64_t now = clock_mono_ms();
    for (; t->pos < t->n; t->pos++) {
        int qi = t->order[t->pos];
        struct wqueue *q = &f->w->q[qi];
        unsigned want;
        int rc;
        switch (
            call_for(f, qi, t->filling || t->got > 0, t->picked, now, &want)) {
        case CALL_TAKE:
            rc = send_take(t, q, want);
            break;
        case CALL_PICK:
            if (want > t->io_left)
                want = t->io_left;
            if (want == 0)
                continue;
            t->io_left -= want;
            rc = send_pick(t, q, want);
            break;
        default:
            continue;
        }
        if (rc == 0) {
            f->reserved = want;
            t->want = want;
            return;
        }
        break; /* Redis is away: on_ready starts again */
    }
    /* Nothing sent for the rest: the round ends here. */
    t->pos = t->n;
    take_done(t);
}

struct blocked {
    struct fetch *f;
    struct wqueue *q;
};

static void on_set_aside(redisReply *rep, void *priv)
{
    struct blocked *b = priv;
    if (rep && rep->type == REDIS_REPLY_ERROR)
        log_limited(&b->f->q[b->q->index].log, LOG_ERROR,
                    "moving oversized frames of %s to dead failed: %s",
                    b->q->name, rep->str);
    free(b);
}

/* A blocking take handed over a frame over max-frame-bytes: drop this copy
 * at once and let Redis move it (and any like it) to the dead list, so the
 * worker never holds more than the one reply that brought it. */
static void set_aside_big(struct fetch *f, struct wqueue *q, size_t len)
{
    const struct settings *s = f->w->s;
    log_limited(&f->q[q->index].reply_log, LOG_WARN,
                "frame on %s is dead: frame too large (%zu bytes, limit "
                "%" PRIu64 ")",
                q->name, len, s->max_frame_bytes);
    char max[24], deadmax[24];
    snprintf(max, sizeof(max), "%" PRIu64, s->max_frame_bytes);
    snprintf(deadmax, sizeof(deadmax), "%" PRIu64, s->dead_max);
    const char *a[] = {q->keys.active, q->keys.dead, q->keys.stats, max,
                       f->w->wid,      deadmax};
    struct blocked *b = xmalloc(sizeof(*b));
    *b = (struct blocked){f, q};
    if (redis_script(f->w->redis, SCRIPT_SETASIDE, on_set_aside, b, 3, 6, a,
                     NULL) != 0)
        free(b);
}

static void on_blmove(redisReply *rep, void *priv)
{
    struct blocked *b = priv;
    struct fetch *f = b->f;
    struct worker *w = f->w;
    struct wqueue *q = b->q;
    free(b);
    f->q[q->index].blocking = false;
    f->blocking_n--;
    if (!rep) {
        retry_later(f);
        worker_wake(w);
        return;
    }
    if (rep->type == REDIS_REPLY_STRING && rep->len > w->s->max_frame_bytes) {
        set_aside_big(f, q, rep->len);
    } else if (rep->type == REDIS_REPLY_STRING && !w->stopping) {
        dispatch_frame(w->dispatch, q, rep->str, rep->len);
    } else if (rep->type == REDIS_REPLY_ERROR) {
        set_aside(f, q, "blocking take", rep->str);
        worker_wake(w);
        return;
    }
    if (w->stopping) {
        worker_wake(w);
        return;
    }
    if (f->reconcile_wanted && !f->reconciling)
        fetch_on_ready(f);
    else if (rep->type == REDIS_REPLY_STRING || f->blocking_n == 0)
        kick(f, false);
}

/* Queues found empty: wait on each (highest priority first) while there
 * is room for a frame of either class. A BLMOVE cannot choose the class:
 * while the CPU window is full it may bring one CPU frame per queue more
 * than the window, the price of hearing at once of a new io frame. */
static void block_all(struct fetch *f, const bool *empty)
{
    struct worker *w = f->w;
    int order[SETTINGS_MAX_QUEUES];
    int n = round_order(f, order);
    /* Well under the heartbeat TTL: a BLMOVE sent just before this worker
     * froze can still move a frame into its active list, and that frame
     * must land before the list's recovery is over (beat.lua). */
    uint64_t block_ms = w->s->heartbeat_ttl_ms / 4;
    if (block_ms > FETCH_BLOCK_MS)
        block_ms = FETCH_BLOCK_MS;
    char timeout[24];
    snprintf(timeout, sizeof(timeout), "%.3f", (double)block_ms / 1000.0);
    for (int i = 0; i < n; i++) {
        int qi = order[i];
        struct wqueue *q = &w->q[qi];
        struct room r;
        room_for(f, false, &r);
        if (f->q[qi].blocking || !empty[qi] || (r.take == 0 && r.pick == 0))
            continue;
        const char *argv[] = {"BLMOVE", q->keys.pending, q->keys.active,
                              "RIGHT",  "LEFT",          timeout};
        struct blocked *b = xmalloc(sizeof(*b));
        *b = (struct blocked){f, q};
        if (redis_blocking(w->redis, q->index, on_blmove, b, block_ms, 6, argv,
                           NULL) != 0) {
            free(b);
            continue;
        }
        f->q[qi].blocking = true;
        f->blocking_n++;
    }
}

static void kick(struct fetch *f, bool filling)
{
    struct worker *w = f->w;
    if (f->reconcile_wanted && !f->reconciling) {
        /* A reply was lost: the frames it may have moved go back before
         * anything more is taken (fetch_on_ready waits for replies still
         * owed). */
        fetch_on_ready(f);
        return;
    }
    if (f->taking) {
        f->again = true;
        return;
    }
    if (w->stopping || f->reconciling || !redis_ready(w->redis) ||
        finish_backlog(w->finish) > FINISH_BACKLOG_MAX)
        return;
    /* A round that could take nothing must not turn the weighted order
     * either (round_order moves it on), or weights would blur. */
    if (!any_room(f, filling))
        return;
    struct take *t = xcalloc(1, sizeof(*t));
    t->f = f;
    t->filling = filling;
    t->n = round_order(f, t->order);
    struct room r;
    room_for(f, filling, &r);
    t->io_left = r.pick;
    f->taking = true;
    take_step(t);
}

void fetch_refill(struct fetch *f)
{
    kick(f, false);
}

bool fetch_idle(const struct fetch *f)
{
    return !f->taking && f->blocking_n == 0 && !f->reconciling;
}

static void on_orphans(redisReply *rep, void *priv)
{
    struct blocked *b = priv;
    struct fetch *f = b->f;
    struct wqueue *q = b->q;
    free(b);
    if (rep && rep->type == REDIS_REPLY_INTEGER && rep->integer > 0)
        log_warn("returned %lld frames of %s whose take reply was lost",
                 rep->integer, q->name);
    if (rep && rep->type == REDIS_REPLY_ERROR)
        set_aside(f, q, "returning orphaned frames", rep->str);
    bool failed = !rep;
    if (--f->reconcile_left == 0) {
        f->reconciling = false;
        if (failed)
            retry_later(f);
        else
            kick(f, false);
    } else if (failed) {
        f->reconcile_wanted = true;
    }
}

/* Frames this worker holds for q: every live job taken from q. */
static int held_frames(struct fetch *f, struct wqueue *q, const char **argv,
                       size_t *lens, int max)
{
    struct jobs *j = f->w->jobs;
    int n = 0;
    for (struct jobq_ctx *c = jobs_first(j); c && n < max; c = jobs_next(j, c))
        if (c->q == q) {
            argv[n] = c->raw;
            lens[n++] = c->rawlen;
        }
    return n;
}

void fetch_on_ready(struct fetch *f)
{
    struct worker *w = f->w;
    if (f->reconciling || w->stopping || !redis_ready(w->redis))
        return;
    if (f->taking || f->blocking_n) {
        /* Wait for replies still owed on other connections: a frame they
         * carry must not be mistaken for an orphan. */
        f->reconcile_wanted = true;
        return;
    }
    f->reconciling = true;
    f->reconcile_wanted = false;
    f->reconcile_left = (unsigned)w->nq;
    int max = (int)jobs_live(w->jobs) + 2;
    const char **argv = xmalloc(sizeof(*argv) * (size_t)max);
    size_t *lens = xmalloc(sizeof(*lens) * (size_t)max);
    for (int i = 0; i < w->nq; i++) {
        struct wqueue *q = &w->q[i];
        argv[0] = q->keys.active;
        lens[0] = strlen(q->keys.active);
        argv[1] = q->keys.pending;
        lens[1] = strlen(q->keys.pending);
        int n = held_frames(f, q, argv + 2, lens + 2, max - 2);
        struct blocked *b = xmalloc(sizeof(*b));
        *b = (struct blocked){f, q};
        if (redis_script(w->redis, SCRIPT_ORPHANS, on_orphans, b, 2, 2 + n,
                         argv, lens) != 0) {
            free(b);
            if (--f->reconcile_left == 0) {
                f->reconciling = false;
                retry_later(f);
            }
        }
    }
    free(argv);
    free(lens);
}

struct fetch *fetch_new(struct worker *w)
{
    struct fetch *f = xcalloc(1, sizeof(*f));
    f->w = w;
    f->retry_ev = evtimer_new(w->base, on_retry, f);
    f->pick_ev = evtimer_new(w->base, on_retry, f);
    f->io_types = xmalloc(sizeof(*f->io_types) * (size_t)(w->reg.n + 1));
    for (int i = 0; i < w->reg.n; i++)
        if (w->reg.h[i].cls == JOBQ_CLASS_IO)
            f->io_types[f->n_io++] = w->reg.h[i].type;
    return f;
}

void fetch_free(struct fetch *f)
{
    if (!f)
        return;
    event_free(f->retry_ev);
    event_free(f->pick_ev);
    free(f->io_types);
    free(f);
}
