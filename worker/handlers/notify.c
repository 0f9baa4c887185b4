/* notify.publish: a Redis PUBLISH through the worker's own connection
 * (jobq_publish), answered with how many subscribers received it. Redis
 * away or failing is retryable; the worker publishes each job's message
 * on a channel at most once, so a retry after a lost answer does not
 * deliver it twice. */
#include <jobq/handler.h>
#include <stdio.h>

#include "builtin.h"

static void finish_failed(jobq_ctx *ctx, jobq_failure kind, const char *msg)
{
    jobq_fail(ctx, kind, "%s", msg);
    jobq_done(ctx);
}

static void on_published(jobq_ctx *ctx, int rc, uint64_t receivers,
                         const char *err)
{
    if (rc != JOBQ_OK) {
        jobq_fail(ctx, JOBQ_RETRYABLE, "publish failed: %s",
                  err ? err : jobq_strerror(rc));
    } else {
        msgpack_packer *pk = jobq_packer(ctx);
        msgpack_pack_map(pk, 1);
        jobq_pack_cstr(pk, "receivers");
        msgpack_pack_uint64(pk, receivers);
    }
    jobq_done(ctx);
}

/* channel is a string; message a string or bytes, published as they are. */
static void publish_start(jobq_ctx *ctx)
{
    const char *ch;
    size_t chlen;
    int rc = jobq_arg_str(ctx, "channel", &ch, &chlen);
    if (rc != JOBQ_OK)
        return finish_failed(ctx, JOBQ_PERMANENT,
                             rc == JOBQ_ENOENT
                                 ? "Missing required field: channel"
                                 : "channel must be a string");
    if (chlen == 0)
        return finish_failed(ctx, JOBQ_PERMANENT, "channel is empty");
    const msgpack_object *m = jobq_map_get(jobq_args(ctx), "message");
    if (!m || m->type == MSGPACK_OBJECT_NIL)
        return finish_failed(ctx, JOBQ_PERMANENT,
                             "Missing required field: message");
    if (m->type != MSGPACK_OBJECT_STR && m->type != MSGPACK_OBJECT_BIN)
        return finish_failed(ctx, JOBQ_PERMANENT,
                             "message must be a string or bytes");
    rc = jobq_publish(ctx, ch, chlen, m->via.bin.ptr, m->via.bin.size,
                      on_published);
    if (rc != JOBQ_OK) {
        char msg[96];
        snprintf(msg, sizeof(msg), "publish failed: Redis is %s",
                 rc == JOBQ_EUNAVAIL ? "not connected" : jobq_strerror(rc));
        finish_failed(ctx, JOBQ_RETRYABLE, msg);
    }
}

/* Nothing to release: the worker drops the reply of an ended attempt. */
static void publish_cancel(jobq_ctx *ctx)
{
    (void)ctx;
}

int builtin_notify_init(jobq_registry *reg, int api_version)
{
    static const jobq_handler hs[] = {{.type = "notify.publish",
                                       .cls = JOBQ_CLASS_IO,
                                       .start = publish_start,
                                       .cancel = publish_cancel}};
    (void)api_version;
    return builtin_register_all(reg, hs, sizeof(hs) / sizeof(hs[0]));
}
