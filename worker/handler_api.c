/* The handler API of include/jobq/handler.h, over struct jobq_ctx: what
 * a handler reads, answers and reaches of the loop. Registering lives in
 * registry.c. */
#include <ctype.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "canon.h"
#include "clock.h"
#include "dispatch.h"
#include "filepool.h"
#include "httpc.h"
#include "jobctx.h"
#include "jsonmp.h"
#include "redis.h"
#include "utf8.h"
#include "worker.h"
#include "xalloc.h"

const char *jobq_strerror(int code)
{
    switch (code) {
    case JOBQ_OK:
        return "success";
    case JOBQ_EINVAL:
        return "invalid argument";
    case JOBQ_ENOENT:
        return "not found";
    case JOBQ_ETYPE:
        return "wrong type";
    case JOBQ_EEXIST:
        return "already registered";
    case JOBQ_ENOMEM:
        return "out of memory";
    case JOBQ_EVERSION:
        return "handler API version mismatch";
    case JOBQ_ENOSPC:
        return "registry full";
    case JOBQ_ELOAD:
        return "plugin could not be loaded";
    case JOBQ_EINIT:
        return "plugin init failed";
    case JOBQ_EUNAVAIL:
        return "service unavailable";
    case JOBQ_EBUSY:
        return "a request is already out";
    default:
        return "unknown error";
    }
}

const msgpack_object *jobq_args(const jobq_ctx *ctx)
{
    return ctx->job.args;
}

const char *jobq_job_id(const jobq_ctx *ctx)
{
    return ctx->id;
}

unsigned jobq_attempt(const jobq_ctx *ctx)
{
    return ctx->attempt;
}

void *jobq_handler_data(const jobq_ctx *ctx)
{
    return ctx->h ? ctx->h->data : NULL;
}

const msgpack_object *jobq_map_get(const msgpack_object *map, const char *key)
{
    return mp_map_get(map, key);
}

int jobq_arg_str(const jobq_ctx *ctx, const char *key, const char **ptr,
                 size_t *len)
{
    const msgpack_object *o = mp_map_get(ctx->job.args, key);
    if (!o)
        return JOBQ_ENOENT;
    if (o->type != MSGPACK_OBJECT_STR)
        return JOBQ_ETYPE;
    *ptr = o->via.str.ptr;
    *len = o->via.str.size;
    return JOBQ_OK;
}

int jobq_arg_uint(const jobq_ctx *ctx, const char *key, uint64_t *out)
{
    const msgpack_object *o = mp_map_get(ctx->job.args, key);
    if (!o)
        return JOBQ_ENOENT;
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return JOBQ_ETYPE;
    *out = o->via.u64;
    return JOBQ_OK;
}

int jobq_arg_int(const jobq_ctx *ctx, const char *key, int64_t *out)
{
    const msgpack_object *o = mp_map_get(ctx->job.args, key);
    if (!o)
        return JOBQ_ENOENT;
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *out = o->via.i64;
    else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
             o->via.u64 <= INT64_MAX)
        *out = (int64_t)o->via.u64;
    else
        return JOBQ_ETYPE;
    return JOBQ_OK;
}

msgpack_packer *jobq_packer(jobq_ctx *ctx)
{
    return &ctx->pk;
}

void jobq_fail(jobq_ctx *ctx, jobq_failure kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, sizeof(ctx->err), fmt, ap);
    va_end(ap);
    ctx->failed = true;
    ctx->fail_kind = kind;
}

int jobq_cancelled(const jobq_ctx *ctx)
{
    return atomic_load_explicit(&ctx->cancelled, memory_order_relaxed);
}

/* The loop is the worker's; the resolver is the one the daemon wired
 * into the registry (registry_set_loop). */
struct event_base *jobq_loop(const jobq_ctx *ctx)
{
    return ctx->w->base;
}

struct evdns_base *jobq_dns(const jobq_ctx *ctx)
{
    return ctx->w ? ctx->w->reg.dns : NULL;
}

void jobq_set_state(jobq_ctx *ctx, void *state)
{
    ctx->hstate = state;
}

void *jobq_state(const jobq_ctx *ctx)
{
    return ctx->hstate;
}

void jobq_done(jobq_ctx *ctx)
{
    dispatch_complete(ctx);
}

int jobq_offload(jobq_ctx *ctx, jobq_offload_fn run, jobq_offload_done_fn done,
                 void *arg)
{
    if (!run || !done || ctx->state != JOB_RUNNING)
        return JOBQ_EINVAL;
    if (!ctx->w->files)
        return JOBQ_EUNAVAIL;
    return filepool_submit(ctx->w->files, ctx, run, done, arg);
}

/* A publish out to Redis: the reply finds the attempt through link, or
 * finds it over and is dropped. */
struct publish_op {
    struct jobctx_op link;
    jobq_publish_fn cb;
};

static void on_published(redisReply *rep, void *priv)
{
    struct publish_op *op = priv;
    struct jobq_ctx *ctx = op->link.ctx;
    jobctx_op_detach(&op->link);
    jobq_publish_fn cb = op->cb;
    free(op);
    if (!ctx)
        return;
    if (!rep)
        cb(ctx, JOBQ_EUNAVAIL, 0,
           "connection to Redis lost before it answered");
    else if (rep->type == REDIS_REPLY_INTEGER && rep->integer >= 0)
        cb(ctx, JOBQ_OK, (uint64_t)rep->integer, NULL);
    else
        cb(ctx, JOBQ_EUNAVAIL, 0,
           rep->type == REDIS_REPLY_ERROR && rep->str ? rep->str
                                                      : "unexpected reply");
}

int jobq_publish(jobq_ctx *ctx, const char *channel, size_t channel_len,
                 const char *message, size_t message_len, jobq_publish_fn cb)
{
    struct worker *w = ctx->w;
    if (!cb || !channel || (!message && message_len) ||
        ctx->state != JOB_RUNNING)
        return JOBQ_EINVAL;
    if (!w->redis)
        return JOBQ_EUNAVAIL;
    char key[KEYS_MAX];
    int kl = snprintf(key, sizeof(key), "%s%s", ctx->q->keys.published_prefix,
                      ctx->id);
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%llu",
             (unsigned long long)w->s->result_ttl_s * 1000ull);
    const char *argv[] = {key, channel, message ? message : "", ttl};
    size_t lens[] = {(size_t)kl, channel_len, message_len, strlen(ttl)};
    struct publish_op *op = xcalloc(1, sizeof(*op));
    op->cb = cb;
    /* Tied before it is sent: a reply must always find its attempt. */
    jobctx_op_attach(ctx, &op->link);
    if (redis_script(w->redis, SCRIPT_PUBLISH, on_published, op, 1, 4, argv,
                     lens) != 0) {
        jobctx_op_detach(&op->link);
        free(op);
        return JOBQ_EUNAVAIL;
    }
    return JOBQ_OK;
}

uint64_t jobq_now_ms(void)
{
    return clock_wall_ms();
}

void jobq_pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    mp_pack_str(pk, s, len);
}

void jobq_pack_cstr(msgpack_packer *pk, const char *s)
{
    mp_pack_cstr(pk, s);
}

void jobq_pack_lower(msgpack_packer *pk, const char *s, size_t len)
{
    char buf[256];
    msgpack_pack_str(pk, len);
    for (size_t off = 0; off < len; off += sizeof(buf)) {
        size_t k = len - off < sizeof(buf) ? len - off : sizeof(buf);
        for (size_t i = 0; i < k; i++)
            buf[i] = (char)tolower((unsigned char)s[off + i]);
        msgpack_pack_str_body(pk, buf, k);
    }
}

int jobq_pack_canonical(msgpack_sbuffer *sb, const msgpack_object *o)
{
    return canon_encode(sb, o) == 0 ? JOBQ_OK : JOBQ_ENOMEM;
}

size_t jobq_utf8_chars(const char *s, size_t len)
{
    size_t c = 0;
    for (size_t i = 0; i < len; i++)
        c += ((unsigned char)s[i] & 0xc0) != 0x80;
    return c;
}

/* The client is the one the daemon wired into the registry
 * (registry_set_http); none there means the service is not offered. */
int jobq_http_start(jobq_ctx *ctx, const jobq_http_request *req,
                    jobq_http_done_fn cb, void *arg, jobq_http **out, char *err,
                    size_t errlen)
{
    return httpc_start(ctx->w ? ctx->w->reg.http : NULL, req, cb, arg, out, err,
                       errlen);
}

void jobq_http_cancel(jobq_http *req)
{
    httpc_cancel(req);
}

int jobq_json_encode(const msgpack_object *o, char **out, size_t *len)
{
    /* NaN and infinities have no JSON form: refused, never sent as null. */
    json_t *j = jsonmp_from_object_strict(o);
    if (!j)
        return JOBQ_EINVAL;
    /* json_dumps refuses a string that is not UTF-8. */
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    if (!s)
        return JOBQ_EINVAL;
    *out = s;
    *len = strlen(s);
    return JOBQ_OK;
}

int jobq_utf8_valid(const char *s, size_t len)
{
    return utf8_valid(s, len);
}
