/* The worker fixture (see worker_fixture.h). */
#include "worker_fixture.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "dispatch.h"
#include "fetch.h"
#include "finish.h"
#include "jobctx.h"
#include "redis.h"
#include "xalloc.h"

#include "fake_redis.h"

/* daemon.c's on_tick, but for the stop check. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    dispatch_submit(w->dispatch);
    finish_flush(w->finish);
    fetch_refill(w->fetch);
}

static void on_ready(void *arg)
{
    struct worker *w = arg;
    finish_flush(w->finish);
    fetch_on_ready(w->fetch);
}

static void fail(const char *what)
{
    fprintf(stderr, "worker fixture: %s\n", what);
    abort();
}

struct fx *fx_new(void)
{
    struct fx *fx = xcalloc(1, sizeof(*fx));
    struct settings *s = &fx->s;
    struct worker *w = &fx->w;
    settings_init(s);
    struct problems p = {0};
    if (settings_set(s, "queues", FX_QA "," FX_QB, "flag") != 0 ||
        settings_set(s, "cpu-threads", "2", "flag") != 0 ||
        settings_set(s, "worker-id", "test", "flag") != 0 ||
        settings_set(s, "log-level", "error", "flag") != 0 ||
        settings_finish(s, &p) != 0)
        fail(p.n ? p.msg[0] : "settings");

    /* daemon.c's wire(), with a fixed nonce. */
    w->s = s;
    w->lim.max_bytes = s->max_frame_bytes;
    w->lim.max_entries = s->max_entries;
    w->lim.max_string = s->max_string_bytes;
    snprintf(w->wid, sizeof(w->wid), "%s", FX_WID);
    w->nq = s->nqueues;
    for (int i = 0; i < w->nq; i++) {
        struct wqueue *q = &w->q[i];
        q->index = i;
        q->weight = s->queues[i].weight;
        memcpy(q->name, s->queues[i].name, sizeof(q->name));
        keys_init(&q->keys, s->prefix, q->name, w->wid);
    }
    registry_init(&w->reg);

    /* daemon_run's order. */
    w->base = event_base_new();
    if (!w->base)
        fail("event_base_new");
    w->tick = event_new(w->base, -1, 0, on_tick, w);
    w->jobs = jobs_new();
    char err[256];
    w->dispatch = dispatch_new(w, NULL, 0, err, sizeof(err));
    if (!w->dispatch)
        fail(err);
    w->finish = finish_new(w);
    w->fetch = fetch_new(w);
    w->redis =
        redis_new(w->base, &s->redis, s->redis_timeout_ms, w->nq, on_ready, w);
    return fx;
}

static bool pool_empty(struct fx *fx, void *arg)
{
    (void)arg;
    struct dispatch_load l;
    dispatch_load(fx->w.dispatch, &l);
    return l.cpu_inflight == 0;
}

void fx_free(struct fx *fx)
{
    struct worker *w = &fx->w;
    if (!fx_run_until(fx, pool_empty, NULL, 10000))
        fail("CPU jobs did not come back in 10 s");
    redis_free(w->redis);
    w->redis = NULL;
    fetch_free(w->fetch);
    if (!dispatch_free(w->dispatch))
        fail("dispatch_free: a CPU job is still out");
    finish_free(w->finish);
    jobs_free(w->jobs);
    event_free(w->tick);
    event_base_free(w->base);
    settings_free(&fx->s);
    free(fx);
}

void fx_run_idle(struct fx *fx)
{
    for (int i = 0; i < 8; i++)
        event_base_loop(fx->w.base, EVLOOP_NONBLOCK);
}

bool fx_run_until(struct fx *fx, bool (*cond)(struct fx *fx, void *arg),
                  void *arg, unsigned timeout_ms)
{
    uint64_t deadline = clock_mono_ms() + timeout_ms;
    while (!cond(fx, arg)) {
        if (clock_mono_ms() >= deadline)
            return false;
        /* The handoff's eventfd is always registered: bound each turn. */
        struct timeval tv = {0, 5000};
        event_base_loopexit(fx->w.base, &tv);
        event_base_loop(fx->w.base, EVLOOP_ONCE);
    }
    return true;
}

static bool script_pending(struct fx *fx, void *arg)
{
    (void)fx;
    return fake_find_script((enum script_id)(intptr_t)arg) != NULL;
}

bool fx_run_until_script(struct fx *fx, int id, unsigned timeout_ms)
{
    return fx_run_until(fx, script_pending, (void *)(intptr_t)id, timeout_ms);
}

void fx_frame(msgpack_sbuffer *out, const char *id, const char *type,
              const char *argk, uint64_t argv, const char *reply_to,
              unsigned attempt)
{
    msgpack_sbuffer job;
    msgpack_sbuffer_init(&job);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &job, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, reply_to ? 4 : 3);
    mp_pack_cstr(&pk, "id");
    mp_pack_cstr(&pk, id);
    mp_pack_cstr(&pk, "type");
    mp_pack_cstr(&pk, type);
    mp_pack_cstr(&pk, "args");
    msgpack_pack_map(&pk, argk ? 1 : 0);
    if (argk) {
        mp_pack_cstr(&pk, argk);
        msgpack_pack_uint64(&pk, argv);
    }
    if (reply_to) {
        mp_pack_cstr(&pk, "reply_to");
        mp_pack_cstr(&pk, reply_to);
    }
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, attempt ? 3 : 2);
    mp_pack_cstr(&pk, "v");
    msgpack_pack_uint64(&pk, 1);
    mp_pack_cstr(&pk, "job");
    mp_pack_bin(&pk, job.data, job.size);
    if (attempt) {
        mp_pack_cstr(&pk, "attempt");
        msgpack_pack_uint64(&pk, attempt);
    }
    msgpack_sbuffer_destroy(&job);
}
