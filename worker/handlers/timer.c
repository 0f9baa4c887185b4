/* The sleep handler: an io job that is only a loop timer, never a blocked
 * thread, so thousands overlap on one loop. */
#include <event2/event.h>
#include <jobq/handler.h>
#include <stdlib.h>

#include "builtin.h"

#define SLEEP_MAX_MS 3600000

struct sleep_state {
    struct event *ev;
    uint64_t ms;
};

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    jobq_ctx *ctx = arg;
    struct sleep_state *st = jobq_state(ctx);
    (void)fd;
    (void)what;
    msgpack_packer *pk = jobq_packer(ctx);
    msgpack_pack_map(pk, 1);
    jobq_pack_cstr(pk, "slept_ms");
    msgpack_pack_uint64(pk, st->ms);
    event_free(st->ev);
    free(st);
    jobq_set_state(ctx, NULL);
    jobq_done(ctx);
}

static void sleep_start(jobq_ctx *ctx)
{
    uint64_t ms;
    int rc = jobq_arg_uint(ctx, "ms", &ms);
    if (rc != JOBQ_OK || ms > SLEEP_MAX_MS) {
        jobq_fail(ctx, JOBQ_PERMANENT,
                  rc == JOBQ_ENOENT
                      ? "Missing required field: ms"
                      : "ms must be an integer from 0 to 3600000");
        jobq_done(ctx);
        return;
    }
    struct sleep_state *st = malloc(sizeof(*st));
    struct event *ev = st ? evtimer_new(jobq_loop(ctx), on_wake, ctx) : NULL;
    if (!ev) {
        /* Handlers see no xalloc: out of memory is retried elsewhere. */
        free(st);
        jobq_fail(ctx, JOBQ_RETRYABLE, "%s", jobq_strerror(JOBQ_ENOMEM));
        jobq_done(ctx);
        return;
    }
    st->ms = ms;
    st->ev = ev;
    jobq_set_state(ctx, st);
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(st->ev, &tv);
}

static void sleep_cancel(jobq_ctx *ctx)
{
    struct sleep_state *st = jobq_state(ctx);
    if (!st)
        return;
    event_free(st->ev);
    free(st);
    jobq_set_state(ctx, NULL);
}

int builtin_timer_init(jobq_registry *reg, int api_version)
{
    static const jobq_handler hs[] = {{.type = "sleep",
                                       .cls = JOBQ_CLASS_IO,
                                       .start = sleep_start,
                                       .cancel = sleep_cancel}};
    (void)api_version;
    return builtin_register_all(reg, hs, sizeof(hs) / sizeof(hs[0]));
}
