/* Result lookups of redelivered jobs (see recheck.h). */
#include "recheck.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>

#include "log.h"
#include "redis.h"
#include "xalloc.h"

struct recheck {
    struct worker *w;
    recheck_done_fn done;
    unsigned pending;
    unsigned long long total, found;
};

struct recheck *recheck_new(struct worker *w, recheck_done_fn done)
{
    struct recheck *rc = xcalloc(1, sizeof(*rc));
    rc->w = w;
    rc->done = done;
    return rc;
}

void recheck_free(struct recheck *rc)
{
    free(rc);
}

/* A record of any size: 0 entries means no count limit (the pre-scan
 * still bounds every count by the bytes left). */
static bool says_ok(const redisReply *rep)
{
    if (!rep || rep->type != REDIS_REPLY_STRING)
        return false;
    msgpack_unpacked un;
    msgpack_unpacked_init(&un);
    size_t off = 0;
    char err[80];
    bool ok = mp_check(rep->str, rep->len, 0, err, sizeof(err)) == 0 &&
              msgpack_unpack_next(&un, rep->str, rep->len, &off) ==
                  MSGPACK_UNPACK_SUCCESS &&
              mp_str_eq(mp_map_get(&un.data, "status") ?: &un.data, "ok");
    msgpack_unpacked_destroy(&un);
    return ok;
}

struct check {
    struct recheck *rc;
    struct jobq_ctx *ctx;
};

static void on_reply(redisReply *rep, void *priv)
{
    struct check *c = priv;
    struct recheck *rc = c->rc;
    struct jobq_ctx *ctx = c->ctx;
    free(c);
    rc->pending--;
    bool ok = says_ok(rep);
    if (ok) {
        rc->found++;
        log_info("job %s already finished ok; not running it again", ctx->id);
    }
    rc->done(ctx, ok);
}

int recheck_start(struct recheck *rc, struct jobq_ctx *ctx)
{
    const char *argv[] = {"GET", ctx->result_key};
    struct check *c = xmalloc(sizeof(*c));
    *c = (struct check){rc, ctx};
    if (redis_cmd(rc->w->redis, on_reply, c, 2, argv, NULL) != 0) {
        free(c);
        return -1;
    }
    ctx->state = JOB_CHECKING;
    rc->pending++;
    rc->total++;
    return 0;
}

unsigned recheck_pending(const struct recheck *rc)
{
    return rc->pending;
}

unsigned long long recheck_total(const struct recheck *rc)
{
    return rc->total;
}

unsigned long long recheck_found(const struct recheck *rc)
{
    return rc->found;
}
