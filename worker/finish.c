/* Finish (see finish.h). */
#include "finish.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "dispatch.h"
#include "fetch.h"
#include "log.h"
#include "redis.h"

#define FINISH_RETRY_MS 200

struct batch {
    struct wqueue *q;
    struct jobq_ctx *head;
    unsigned n;
};

void finish_add(struct worker *w, struct jobq_ctx *ctx)
{
    struct wqueue *q = ctx->q;
    ctx->next = NULL;
    if (q->fin_tail)
        q->fin_tail->next = ctx;
    else
        q->fin_head = ctx;
    q->fin_tail = ctx;
    w->finishing++;
    q->finishing++;
    event_active(w->flush_ev, EV_TIMEOUT, 0);
}

/* Puts a failed batch back in front, in order, and tries again soon. */
static void hold(struct worker *w, struct batch *b)
{
    struct jobq_ctx *last = b->head;
    while (last->next)
        last = last->next;
    last->next = b->q->fin_head;
    if (!b->q->fin_head)
        b->q->fin_tail = last;
    b->q->fin_head = b->head;
    struct timeval tv = {0, FINISH_RETRY_MS * 1000};
    evtimer_add(w->finish_retry, &tv);
}

static void on_finished(redisReply *rep, void *priv)
{
    struct batch *b = priv;
    struct worker *w = b->q->w;
    if (!rep || rep->type != REDIS_REPLY_STRING || rep->len != b->n) {
        /* A refusal (a key of the queue holds another type) sets the
         * queue aside: fetch stops taking from it until a batch lands,
         * and the other queues go on. */
        if (rep)
            b->q->finish_broken = true;
        log_limited(&b->q->finish_log, rep ? LOG_ERROR : LOG_WARN,
                    "finishing %u jobs on %s failed (%s); holding them", b->n,
                    b->q->name,
                    rep && rep->type == REDIS_REPLY_ERROR ? rep->str
                                                          : "no reply");
        hold(w, b);
        free(b);
        return;
    }
    b->q->finish_broken = false;
    struct jobq_ctx *ctx = b->head;
    for (size_t i = 0; i < b->n; i++) {
        struct jobq_ctx *next = ctx->next;
        if (rep->str[i] == 'r')
            log_limited(&b->q->reply_log, LOG_WARN,
                        "job %s on %s finished, but its reply_to %.*s "
                        "could not be pushed (it holds another type)",
                        ctx->id, b->q->name, (int)ctx->job.reply_to.len,
                        ctx->job.reply_to.ptr);
        if (rep->str[i] != '0') {
            switch (ctx->out) {
            case OUT_OK:
                w->n_ok++;
                break;
            case OUT_RETRY:
                w->n_retry++;
                break;
            case OUT_DEAD:
                w->n_dead++;
                break;
            default:
                w->n_skip++;
                break;
            }
        } else {
            w->n_late++;
            log_info("late finish of job %s on %s: another worker recovered "
                     "it and owns its result",
                     ctx->id[0] ? ctx->id : "?", b->q->name);
        }
        jobctx_free(ctx);
        ctx = next;
    }
    w->finishing -= b->n;
    b->q->finishing -= b->n;
    free(b);
    fetch_kick(w);
    daemon_progress(w);
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

static int send_batch(struct worker *w, struct batch *b)
{
    struct wqueue *q = b->q;
    int argc =
        FINISH_FIXED_KEYS + 2 * (int)b->n + 3 + FINISH_FIELDS_MAX * (int)b->n;
    const char **argv = malloc(sizeof(*argv) * (size_t)argc);
    size_t *lens = malloc(sizeof(*lens) * (size_t)argc);
    char(*due)[24] = malloc(sizeof(*due) * b->n);
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

void finish_flush(struct worker *w)
{
    for (int i = 0; i < w->nq; i++) {
        struct wqueue *q = &w->q[i];
        while (q->fin_head && redis_ready(w->redis)) {
            struct batch *b = calloc(1, sizeof(*b));
            b->q = q;
            b->head = q->fin_head;
            struct jobq_ctx *last = q->fin_head;
            b->n = 1;
            while (last->next && b->n < FINISH_BATCH_MAX) {
                last = last->next;
                b->n++;
            }
            q->fin_head = last->next;
            if (!q->fin_head)
                q->fin_tail = NULL;
            last->next = NULL;
            if (send_batch(w, b) != 0) {
                hold(w, b);
                free(b);
                break;
            }
        }
    }
}

void finish_on_event(int fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    finish_flush(arg);
}
