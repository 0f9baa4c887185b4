/* Daemon lifecycle and the tick (see daemon.h). */
#include "daemon.h"

#include <event2/event.h>
#include <sched.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dispatch.h"
#include "exec.h"
#include "fetch.h"
#include "filepool.h"
#include "finish.h"
#include "http.h"
#include "httpc.h"
#include "jobctx.h"
#include "log.h"
#include "looplag.h"
#include "net.h"
#include "notify.h"
#include "plugins.h"
#include "proc.h"
#include "redis.h"
#include "runner.h"
#include "sampler.h"
#include "stats.h"
#include "upkeep.h"
#include "worker.h"
#include "xalloc.h"

#define NSIGS 3

struct daemon {
    struct worker w;
    struct sign_keys keys;
    struct http *http;
    struct net *net;
    struct notify *notify;   /* NULL unless run by a notify supervisor */
    struct httpc *httpc;     /* the client of the http.* handlers */
    struct procs *procs;     /* exec and runner children */
    struct exec *exec;       /* exec handlers */
    struct runners *runners; /* runner handlers */
    bool grace_over, exiting;
    unsigned exit_left;
    int exit_code;
    struct event *grace_ev, *exit_ev, *sig_ev[NSIGS];
};

static void arm(struct event *ev, uint64_t ms)
{
    struct timeval tv = clock_timeval(ms);
    evtimer_add(ev, &tv);
}

static void on_exit_reply(redisReply *rep, void *priv)
{
    struct daemon *d = priv;
    if (!rep || rep->type == REDIS_REPLY_ERROR)
        d->exit_code = 1;
    if (--d->exit_left == 0)
        event_base_loopexit(d->w.base, NULL);
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
 * end of pending (they run next). One script per queue returns the frames
 * and leaves the heartbeat set: a worker whose frames could not go back
 * stays on record, lapses and is recovered by the others. */
static void send_exit(struct daemon *d)
{
    struct worker *w = &d->w;
    if (d->exit_left || !redis_ready(w->redis))
        return;
    d->exit_left = (unsigned)w->nq;
    for (int i = 0; i < w->nq; i++) {
        struct wqueue *q = &w->q[i];
        const char *ra[] = {q->keys.active, q->keys.pending, q->keys.workers,
                            w->wid};
        if (redis_script(w->redis, SCRIPT_REQUEUE, on_requeued, d, 3, 4, ra,
                         NULL) != 0)
            d->exit_left--;
    }
    if (d->exit_left == 0) {
        d->exit_code = 1;
        event_base_loopexit(w->base, NULL);
    }
}

/* The tick's last step: a stopping worker exits once nothing runs (or the
 * grace is over), nothing is being taken and every outcome landed. */
static void stop_check(struct daemon *d)
{
    struct worker *w = &d->w;
    if (!w->stopping || d->exiting)
        return;
    struct dispatch_load l;
    dispatch_load(w->dispatch, &l);
    bool running = l.cpu_inflight + l.io_inflight + l.checking > 0;
    if ((running && !d->grace_over) || !fetch_idle(w->fetch) ||
        finish_held(w->finish) > 0)
        return;
    d->exiting = true;
    /* Redis may be away: do not wait for it past one more reply limit. */
    arm(d->exit_ev, w->s->redis_timeout_ms);
    send_exit(d);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    struct worker *w = &d->w;
    (void)fd;
    (void)what;
    dispatch_submit(w->dispatch);
    finish_flush(w->finish);
    fetch_refill(w->fetch);
    stop_check(d);
}

static void on_force_exit(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    (void)fd;
    (void)what;
    log_error("stopping without Redis: %u outcomes unsent; the active lists "
              "will be recovered by other workers",
              finish_held(d->w.finish));
    d->exit_code = 1;
    event_base_loopexit(d->w.base, NULL);
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    struct worker *w = &d->w;
    (void)fd;
    (void)what;
    struct dispatch_load l;
    dispatch_load(w->dispatch, &l);
    if (l.cpu_inflight + l.io_inflight)
        log_warn("grace period over: %u jobs still running go back to "
                 "pending",
                 l.cpu_inflight + l.io_inflight);
    d->grace_over = true;
    dispatch_abandon_all(w->dispatch);
    /* Held outcomes may never land if Redis stays away. */
    arm(d->exit_ev, w->s->redis_timeout_ms * 2);
    stop_check(d);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;
    struct worker *w = &d->w;
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
    notify_stopping(d->notify);
    struct dispatch_load l;
    dispatch_load(w->dispatch, &l);
    log_info("stopping on signal %d: %u jobs running, %llu ms grace", (int)sig,
             l.cpu_inflight + l.io_inflight,
             (unsigned long long)w->s->shutdown_grace_ms);
    arm(d->grace_ev, w->s->shutdown_grace_ms);
    stop_check(d);
}

static void on_ready(void *arg)
{
    struct daemon *d = arg;
    struct worker *w = &d->w;
    upkeep_beat(w->upkeep);
    finish_flush(w->finish);
    if (d->exiting)
        send_exit(d);
    else
        fetch_on_ready(w->fetch);
    notify_ready(d->notify);
}

/* STATUS= for systemctl status: one short line. */
static void notify_summary(void *arg, char *buf, size_t len)
{
    struct daemon *d = arg;
    struct worker *w = &d->w;
    struct dispatch_load l;
    struct finish_counts n;
    dispatch_load(w->dispatch, &l);
    finish_counts(w->finish, &n);
    snprintf(buf, len,
             "%s%d queue(s), Redis %s, %u running; %llu ok, %llu retried, "
             "%llu dead",
             w->stopping ? "stopping: " : "", w->nq,
             w->redis && redis_ready(w->redis) ? "up" : "down",
             l.cpu_inflight + l.io_inflight, (unsigned long long)n.ok,
             (unsigned long long)n.retry, (unsigned long long)n.dead);
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

/* The static part of the wiring: names, keys, limits, handlers. */
static void wire(struct daemon *d, const struct settings *s,
                 const struct sign_keys *keys)
{
    struct worker *w = &d->w;
    w->s = s;
    w->lim.max_bytes = s->max_frame_bytes;
    w->lim.max_entries = s->max_entries;
    w->lim.max_string = s->max_string_bytes;
    if (keys && keys->n) {
        d->keys = *keys;
        w->keys = &d->keys;
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
        q->index = i;
        q->weight = s->queues[i].weight;
        memcpy(q->name, s->queues[i].name, sizeof(q->name));
        keys_init(&q->keys, s->prefix, q->name, w->wid);
    }
}

static const char *handler_setting(void *arg, const char *type, const char *key)
{
    if (!type) {
        /* jobq_worker_setting: what a handler may follow, never a secret */
        const struct setting_def *def = settings_find(key);
        return def && !(def->flags & (SETTING_SECRET | SETTING_URL))
                   ? settings_value(arg, key)
                   : NULL;
    }
    return settings_handler_value(arg, type, key);
}

/* Handlers: the built-ins from their one table, as a plugin registers. */
static int register_handlers(struct worker *w)
{
    registry_clear(&w->reg);
    registry_set_settings_lookup(&w->reg, handler_setting, (void *)w->s);
    int rc = registry_add_builtins(&w->reg);
    if (rc != JOBQ_OK) {
        log_error("built-in handlers: %s (%s)", jobq_strerror(rc), w->reg.err);
        return rc;
    }
    return JOBQ_OK;
}

/* Handlers the operator adds, after the built-ins: plugins, exec
 * commands, runners. Any that cannot be had (a plugin that does not load,
 * a command not found, a type already served) stops the start: a worker
 * must not run without handlers its operator asked for. */
static int add_user_handlers(struct daemon *d)
{
    struct worker *w = &d->w;
    const struct settings *s = w->s;
    char err[512];
    for (size_t i = 0; s->plugins && i < s->plugins->n; i++) {
        if (plugins_load(&w->reg, s->plugins->v[i], err, sizeof(err)) !=
            JOBQ_OK) {
            log_error("%s", err);
            return -1;
        }
        log_info("plugin %s loaded", s->plugins->v[i]);
    }
    d->procs = procs_new(w->base);
    d->exec = exec_new(d->procs, s, &w->reg, err, sizeof(err));
    if (!d->exec) {
        log_error("%s", err);
        return -1;
    }
    d->runners = runners_new(d->procs, s, &w->reg, err, sizeof(err));
    if (!d->runners) {
        log_error("%s", err);
        return -1;
    }
    return 0;
}

/* The one way down: Redis first (freeing it runs every pending callback
 * with a NULL reply, and those may still arm the timers freed below),
 * then each module, then the loop. A CPU handler that overran cannot be
 * joined: then nothing more is freed and the process exit ends it. */
static int teardown(struct daemon *d)
{
    struct worker *w = &d->w;
    int code = d->exit_code;
    redis_free(w->redis);
    w->redis = NULL;
    http_stop(d->http);
    notify_free(d->notify);
    upkeep_free(w->upkeep);
    fetch_free(w->fetch);
    /* Children first: none outlives the worker, even when a CPU handler
     * keeps the rest from being freed. */
    runners_free(d->runners);
    exec_free(d->exec);
    procs_free(d->procs);
    if (!dispatch_free(w->dispatch))
        return code;
    filepool_free(w->files); /* before plugins go: it calls their done */
    plugins_unload_all(&w->reg);
    httpc_free(d->httpc);
    net_free(d->net);
    sampler_free(w->sampler);
    looplag_free(w->lag);
    stats_free(w->stats);
    finish_free(w->finish);
    jobs_free(w->jobs);
    for (int i = 0; i < NSIGS; i++)
        if (d->sig_ev[i])
            event_free(d->sig_ev[i]);
    if (d->grace_ev)
        event_free(d->grace_ev);
    if (d->exit_ev)
        event_free(d->exit_ev);
    if (w->tick)
        event_free(w->tick);
    event_base_free(w->base);
    sodium_memzero(&d->keys, sizeof(d->keys));
    free(d);
    return code;
}

int daemon_run(const struct settings *s, const struct sign_keys *keys)
{
    struct daemon *d = xcalloc(1, sizeof(*d));
    struct worker *w = &d->w;
    wire(d, s, keys);
    signal(SIGPIPE, SIG_IGN);
    w->base = event_base_new();
    if (!w->base) {
        log_error("cannot start the event loop");
        free(d);
        return 1;
    }
    w->tick = event_new(w->base, -1, 0, on_tick, d);
    w->jobs = jobs_new();
    char err[256];
    d->net = net_new(w->base, err, sizeof(err));
    if (!d->net) {
        log_error("DNS resolver: %s", err);
        d->exit_code = 1;
        return teardown(d);
    }
    if (register_handlers(w) != JOBQ_OK) {
        d->exit_code = 1;
        return teardown(d);
    }
    registry_set_loop(&w->reg, w->base, net_dns(d->net));
    struct httpc_config hc = {.allow = s->http_allow,
                              .ca_file = s->http_ca_file,
                              .max_body_bytes = s->http_max_body_bytes,
                              .max_idle = s->io_concurrency};
    d->httpc = httpc_new(w->base, &hc, err, sizeof(err));
    if (!d->httpc) {
        log_error("HTTP client: %s", err);
        d->exit_code = 1;
        return teardown(d);
    }
    registry_set_http(&w->reg, d->httpc);
    if (add_user_handlers(d) != 0) {
        d->exit_code = 2;
        return teardown(d);
    }
    int cores[SETTINGS_MAX_CPUS];
    int ncores = allowed_cores(s, cores);
    w->dispatch = dispatch_new(w, cores, ncores, err, sizeof(err));
    if (!w->dispatch) {
        log_error("CPU pool: %s", err);
        d->exit_code = 1;
        return teardown(d);
    }
    w->files = filepool_new(w->base, FILEPOOL_THREADS, err, sizeof(err));
    if (!w->files) {
        log_error("file helper pool: %s", err);
        d->exit_code = 1;
        return teardown(d);
    }
    w->stats = stats_new(w->nq);
    w->lag = looplag_new(w->base, s->loop_lag_warn_ms);
    w->finish = finish_new(w);
    w->fetch = fetch_new(w);
    d->grace_ev = evtimer_new(w->base, on_grace, d);
    d->exit_ev = evtimer_new(w->base, on_force_exit, d);
    int sigs[NSIGS] = {SIGTERM, SIGINT, SIGHUP};
    sigset_t held;
    sigemptyset(&held);
    for (int i = 0; i < NSIGS; i++) {
        d->sig_ev[i] = evsignal_new(w->base, sigs[i], on_signal, d);
        event_add(d->sig_ev[i], NULL);
        sigaddset(&held, sigs[i]);
    }
    /* main() held these until now: one sent during start lands here. */
    pthread_sigmask(SIG_UNBLOCK, &held, NULL);
    log_info("jobq-worker %s (key id %s) serving %d queue(s) with %u CPU "
             "threads, %u io slots",
             s->worker_id, w->wid, w->nq, s->cpu_threads, s->io_concurrency);
    w->redis =
        redis_new(w->base, &s->redis, s->redis_timeout_ms, w->nq, on_ready, d);
    w->upkeep = upkeep_new(w);
    d->notify = notify_new(w->base, notify_summary, d);
    w->sampler = sampler_new(w);
    if (!s->http_off) {
        /* A worker without its metrics port still does its real job. */
        d->http =
            http_start(w, s->http_host, s->http_port,
                       (unsigned)s->http_max_connections, err, sizeof(err));
        if (!d->http)
            log_error("HTTP surface off: %s", err);
    }

    event_base_dispatch(w->base);

    struct finish_counts n;
    finish_counts(w->finish, &n);
    log_info("stopped: %llu ok, %llu retried, %llu dead, %llu late",
             (unsigned long long)n.ok, (unsigned long long)n.retry,
             (unsigned long long)n.dead, (unsigned long long)n.late);
    return teardown(d);
}
