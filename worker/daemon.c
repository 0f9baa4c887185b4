/* Daemon lifecycle (see daemon.h). */
#include "daemon.h"

#include <event2/event.h>
#include <sched.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cpupool.h"
#include "dispatch.h"
#include "fetch.h"
#include "finish.h"
#include "handoff.h"
#include "http.h"
#include "log.h"
#include "redis.h"
#include "upkeep.h"

static void arm(struct event *ev, uint64_t ms)
{
    struct timeval tv = clock_timeval(ms);
    evtimer_add(ev, &tv);
}

static void on_exit_reply(redisReply *rep, void *priv)
{
    struct worker *w = priv;
    if (!rep || rep->type == REDIS_REPLY_ERROR)
        w->exit_code = 1;
    if (--w->exit_left == 0)
        event_base_loopexit(w->base, NULL);
}

static void on_requeued(redisReply *rep, void *priv)
{
    if (rep && rep->type == REDIS_REPLY_INTEGER && rep->integer > 0)
        log_info("returned %lld unfinished jobs to pending", rep->integer);
    else if (rep && rep->type == REDIS_REPLY_ERROR)
        log_error("returning unfinished jobs failed (%s): they stay in the "
                  "active list, and other workers recover them once this "
                  "one's heartbeat lapses",
                  rep->str);
    on_exit_reply(rep, priv);
}

/* Last step: every frame left in our active lists goes back to the right
 * end of pending (they run next), and we leave the heartbeat set. */
static void send_exit(struct worker *w)
{
    if (w->exit_left || !redis_ready(w->redis))
        return;
    w->exit_left = (unsigned)w->nq;
    for (int i = 0; i < w->nq; i++) {
        struct wqueue *q = &w->q[i];
        /* One script returns the frames and leaves the heartbeat set:
         * a worker whose frames could not go back stays on record, lapses
         * and is recovered by the others. */
        const char *ra[] = {q->keys.active, q->keys.pending, q->keys.workers,
                            w->wid};
        if (redis_script(w->redis, SCRIPT_REQUEUE, on_requeued, w, 3, 4, ra,
                         NULL) != 0)
            w->exit_left--;
    }
    if (w->exit_left == 0) {
        w->exit_code = 1;
        event_base_loopexit(w->base, NULL);
    }
}

void daemon_progress(struct worker *w)
{
    if (!w->stopping || w->exiting)
        return;
    bool running = w->cpu_inflight + w->io_inflight > 0;
    if ((running && !w->grace_over) || !fetch_idle(w) || w->finishing > 0)
        return;
    w->exiting = true;
    /* Redis may be away: do not wait for it past one more reply limit. */
    arm(w->exit_ev, w->s->redis_timeout_ms);
    send_exit(w);
}

static void on_force_exit(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    log_error("stopping without Redis: %u outcomes unsent; the active lists "
              "will be recovered by other workers",
              w->finishing);
    w->exit_code = 1;
    event_base_loopexit(w->base, NULL);
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    unsigned n = w->cpu_inflight + w->io_inflight;
    if (n)
        log_warn("grace period over: %u jobs still running go back to "
                 "pending",
                 n);
    w->grace_over = true;
    dispatch_abandon_all(w);
    /* Held outcomes may never land if Redis stays away. */
    arm(w->exit_ev, w->s->redis_timeout_ms * 2);
    daemon_progress(w);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct worker *w = arg;
    (void)what;
    if (sig == SIGHUP) {
        if (log_reopen() != 0)
            log_error("cannot reopen the log file");
        return;
    }
    if (w->stopping) {
        log_info("already stopping");
        return;
    }
    w->stopping = true;
    log_info("stopping on signal %d: %u jobs running, %llu ms grace", (int)sig,
             w->cpu_inflight + w->io_inflight,
             (unsigned long long)w->s->shutdown_grace_ms);
    arm(w->grace_ev, w->s->shutdown_grace_ms);
    daemon_progress(w);
}

static void on_ready(void *arg)
{
    struct worker *w = arg;
    upkeep_beat(w);
    finish_flush(w);
    if (w->exiting)
        send_exit(w);
    else
        fetch_on_ready(w);
}

/* The cores CPU threads are pinned to, one per thread in turn: --cpu-set,
 * or by default every core this process may run on (sched_getaffinity, so
 * a container's cpuset is respected). */
static int allowed_cores(const struct settings *s, int *cores)
{
    if (s->ncpus > 0) {
        memcpy(cores, s->cpus, sizeof(int) * (size_t)s->ncpus);
        return s->ncpus;
    }
    cpu_set_t set;
    int n = 0;
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return 0; /* unpinned rather than wrong */
    for (int c = 0; c < CPU_SETSIZE && n < SETTINGS_MAX_CPUS; c++)
        if (CPU_ISSET(c, &set))
            cores[n++] = c;
    return n;
}

int daemon_run(const struct settings *s, const struct sign_keys *keys)
{
    struct worker *w = calloc(1, sizeof(*w));
    w->s = s;
    w->live.lnext = w->live.lprev = &w->live;
    w->lim.max_bytes = s->max_frame_bytes;
    w->lim.max_entries = s->max_entries;
    w->lim.max_string = s->max_string_bytes;
    if (keys && keys->n) {
        w->keys = *keys;
        w->have_keys = true;
    }
    /* The label keeps room for the nonce within W's 64 bytes. */
    unsigned char nonce[WORKER_NONCE_HEX / 2];
    randombytes_buf(nonce, sizeof(nonce));
    char hex[WORKER_NONCE_HEX + 1];
    sodium_bin2hex(hex, sizeof(hex), nonce, sizeof(nonce));
    snprintf(w->wid, sizeof(w->wid), "%.*s-%s",
             (int)(sizeof(w->wid) - 2 - WORKER_NONCE_HEX), s->worker_id, hex);
    w->nq = s->nqueues;
    for (int i = 0; i < w->nq; i++) {
        struct wqueue *q = &w->q[i];
        q->w = w;
        q->index = i;
        q->weight = s->queues[i].weight;
        memcpy(q->name, s->queues[i].name, sizeof(q->name));
        keys_init(&q->keys, s->prefix, q->name, w->wid);
    }
    registry_init(&w->reg);
    /* Start narrow: grow as fast jobs are seen, never hoard slow ones. */
    w->cpu_slots = s->cpu_threads * CPU_SLOTS_MIN_PER_THREAD;
    w->cpu_run_ns = CPU_LOOKAHEAD_NS / CPU_SLOTS_MIN_PER_THREAD;
    w->io_slots = s->io_concurrency;

    signal(SIGPIPE, SIG_IGN);
    w->base = event_base_new();
    w->handoff = handoff_new(w->base, dispatch_deliver, w);
    char err[256];
    int cores[SETTINGS_MAX_CPUS];
    int ncores = allowed_cores(s, cores);
    w->cpu = cpupool_new(s->cpu_threads, cores, ncores, w->handoff, err,
                         sizeof(err));
    if (!w->cpu) {
        log_error("CPU pool: %s", err);
        return 1;
    }
    w->submit_ev = event_new(w->base, -1, 0, dispatch_on_submit, w);
    w->flush_ev = event_new(w->base, -1, 0, finish_on_event, w);
    w->finish_retry = evtimer_new(w->base, finish_on_event, w);
    w->fetch_retry = evtimer_new(w->base, fetch_on_retry, w);
    w->grace_ev = evtimer_new(w->base, on_grace, w);
    w->exit_ev = evtimer_new(w->base, on_force_exit, w);
    int sigs[3] = {SIGTERM, SIGINT, SIGHUP};
    sigset_t held;
    sigemptyset(&held);
    for (int i = 0; i < 3; i++) {
        w->sig_ev[i] = evsignal_new(w->base, sigs[i], on_signal, w);
        event_add(w->sig_ev[i], NULL);
        sigaddset(&held, sigs[i]);
    }
    /* main() held these until now: one sent during start lands here. */
    pthread_sigmask(SIG_UNBLOCK, &held, NULL);
    log_info("jobq-worker %s (key id %s) serving %d queue(s) with %u CPU "
             "threads, %u io slots",
             s->worker_id, w->wid, w->nq, s->cpu_threads, w->io_slots);
    w->redis =
        redis_new(w->base, &s->redis, s->redis_timeout_ms, w->nq, on_ready, w);
    struct http *http = NULL;
    if (!s->http_off) {
        /* A worker without its metrics port still does its real job. */
        http = http_start(w, s->http_host, s->http_port,
                          (unsigned)s->http_max_connections, err, sizeof(err));
        if (!http)
            log_error("HTTP surface off: %s", err);
    }
    upkeep_start(w);

    event_base_dispatch(w->base);

    int code = w->exit_code;
    log_info("stopped: %llu ok, %llu retried, %llu dead, %llu late",
             (unsigned long long)w->n_ok, (unsigned long long)w->n_retry,
             (unsigned long long)w->n_dead, (unsigned long long)w->n_late);
    /* Redis first: freeing it runs every pending callback with a NULL
     * reply, and those may still arm the timers freed below. */
    redis_free(w->redis);
    w->redis = NULL;
    upkeep_stop(w);
    http_stop(http);
    /* A CPU handler that overran cannot be joined; the process exit ends
     * it. Otherwise everything is released (leak checks see a clean run). */
    if (w->cpu_inflight == 0) {
        bool on_thread = false;
        for (struct jobq_ctx *c = w->live.lnext; c != &w->live; c = c->lnext)
            on_thread |= c->abandoned && c->h && c->h->cls == JOBQ_CLASS_CPU;
        if (on_thread)
            return code;
        cpupool_free(w->cpu);
        while (w->live.lnext != &w->live)
            jobctx_free(w->live.lnext);
        dispatch_free_pool(w);
        handoff_free(w->handoff);
        for (int i = 0; i < 3; i++)
            event_free(w->sig_ev[i]);
        event_free(w->submit_ev);
        event_free(w->flush_ev);
        event_free(w->finish_retry);
        event_free(w->fetch_retry);
        event_free(w->grace_ev);
        event_free(w->exit_ev);
        event_base_free(w->base);
        sodium_memzero(&w->keys, sizeof(w->keys));
        free(w);
    }
    return code;
}
