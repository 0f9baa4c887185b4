/* The JSON API (see api.h). Reads come from the sampler (at most one
 * Redis round a second, shared with /metrics) or one command; each change
 * is one script or command, so two operators acting at once cannot both
 * retry one record or see half a purge. */
#include "api.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dispatch.h"
#include "jsonmp.h"
#include "keys.h"
#include "log.h"
#include "redis.h"
#include "sampler.h"
#include "stats.h"
#include "xalloc.h"

#define API_TOKEN_HASH_BYTES crypto_generichash_BYTES
#define JSON_TYPE "application/json"

struct api {
    struct worker *w;
    bool has_token;
    unsigned char token_hash[API_TOKEN_HASH_BYTES];
};

/* One request waiting on Redis. */
struct call {
    struct api *a;
    surface_done_fn done;
    void *arg;
    char queue[65];
    char what[16]; /* purge: the state; pause/resume: which */
};

struct api *api_new(struct worker *w)
{
    struct api *a = xcalloc(1, sizeof(*a));
    a->w = w;
    const char *t = w->s->admin_token;
    if (t && *t) {
        a->has_token = true;
        crypto_generichash(a->token_hash, sizeof(a->token_hash),
                           (const unsigned char *)t, strlen(t), NULL, 0);
    }
    return a;
}

void api_free(struct api *a)
{
    if (!a)
        return;
    sodium_memzero(a->token_hash, sizeof(a->token_hash));
    free(a);
}

static void answer_json(surface_done_fn done, void *arg, int code, json_t *j)
{
    struct evbuffer *b = evbuffer_new();
    char *s = json_dumps(j, JSON_COMPACT);
    evbuffer_add_printf(b, "%s\n", s ? s : "{}");
    free(s);
    json_decref(j);
    done(arg, code, JSON_TYPE, b);
    evbuffer_free(b);
}

static void answer_error(surface_done_fn done, void *arg, int code,
                         const char *msg)
{
    answer_json(done, arg, code, json_pack("{s:s}", "error", msg));
}

/* Protocol.md's queue names: 1 to 64 bytes of [A-Za-z0-9_.-]. */
static bool queue_name_ok(const char *s, size_t n)
{
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* 0: allowed; else the status refused with (the reason in *why). Both
 * sides are hashed first, so the comparison is of equal lengths and in
 * constant time whatever the caller sent. */
static int authorized(const struct api *a, const char *auth, const char **why)
{
    static const char bearer[] = "Bearer ";
    if (!a->has_token) {
        *why = "changes are refused: no admin-token is configured";
        return 403;
    }
    /* The scheme's name is case-insensitive (RFC 7235). */
    if (!auth || strncasecmp(auth, bearer, sizeof(bearer) - 1) != 0) {
        *why = "this change needs Authorization: Bearer <admin-token>";
        return 401;
    }
    const char *tok = auth + sizeof(bearer) - 1;
    unsigned char h[API_TOKEN_HASH_BYTES];
    crypto_generichash(h, sizeof(h), (const unsigned char *)tok, strlen(tok),
                       NULL, 0);
    if (sodium_memcmp(h, a->token_hash, sizeof(h)) != 0) {
        *why = "wrong admin token";
        return 401;
    }
    return 0;
}

/* ---- reads ---- */

struct read_ctx {
    struct api *a;
    surface_done_fn done;
    void *arg;
};

static json_t *queue_json(struct worker *w, int qi)
{
    const struct sampler_queue *q = sampler_queue(w->sampler, qi);
    uint64_t mine[STATS__N] = {0};
    const struct stats_row *rows;
    unsigned n = stats_rows(w->stats, qi, &rows);
    for (unsigned i = 0; i < n; i++)
        for (int o = 0; o < STATS__N; o++)
            mine[o] += rows[i].n[o];
    return json_pack(
        "{s:s, s:b, s:I, s:I, s:I, s:I, s:f, s:b, s:I, "
        "s:{s:I, s:I, s:I, s:I}, s:{s:f, s:f}, s:{s:I, s:I, s:I, s:I}}",
        "name", w->q[qi].name, "sampled", q->valid, "pending",
        (json_int_t)q->pending, "delayed", (json_int_t)q->delayed, "active",
        (json_int_t)q->active, "dead", (json_int_t)q->dead, "oldest_age_s",
        q->oldest_age_ms > 0 ? q->oldest_age_ms / 1000.0 : 0.0, "paused",
        q->paused, "sampled_at_ms", (json_int_t)q->at_ms, "counters",
        "processed", (json_int_t)q->processed, "failed", (json_int_t)q->failed,
        "retried", (json_int_t)q->retried, "dead", (json_int_t)q->deaths,
        "rates", "processed_per_s", q->processed_rate, "failed_per_s",
        q->failed_rate, "this_worker", "ok", (json_int_t)mine[STATS_OK],
        "retry", (json_int_t)mine[STATS_RETRY], "dead",
        (json_int_t)mine[STATS_DEAD], "late", (json_int_t)mine[STATS_LATE]);
}

static void on_queues(void *arg)
{
    struct read_ctx *rc = arg;
    struct worker *w = rc->a->w;
    json_t *qs = json_array();
    for (int i = 0; i < w->nq; i++)
        json_array_append_new(qs, queue_json(w, i));
    answer_json(rc->done, rc->arg, 200,
                json_pack("{s:o, s:b}", "queues", qs, "redis_up",
                          redis_ready(w->redis)));
    free(rc);
}

/* This worker's own load, which only it knows. */
static void add_self(struct worker *w, json_t *o)
{
    struct dispatch_load l;
    dispatch_load(w->dispatch, &l);
    json_object_set_new(o, "self", json_true());
    json_object_set_new(o, "inflight",
                        json_pack("{s:i, s:i}", "cpu", (int)l.cpu_inflight,
                                  "io", (int)l.io_inflight));
    json_object_set_new(o, "cpu_threads_busy", json_integer(l.cpu_busy));
    json_object_set_new(o, "cpu_threads", json_integer(w->s->cpu_threads));
    json_object_set_new(o, "io_concurrency",
                        json_integer(w->s->io_concurrency));
    json_object_set_new(o, "stopping", json_boolean(w->stopping));
}

static void on_workers(void *arg)
{
    struct read_ctx *rc = arg;
    struct worker *w = rc->a->w;
    json_t *byid = json_object(), *list = json_array();
    uint64_t now = 0;
    for (int qi = 0; qi < w->nq; qi++) {
        const struct sampler_queue *q = sampler_queue(w->sampler, qi);
        if (q->at_ms > now)
            now = q->at_ms;
        for (unsigned i = 0; i < q->nworkers; i++) {
            const struct sampler_worker *x = &q->workers[i];
            json_t *o = json_object_get(byid, x->id);
            if (!o) {
                o = json_pack("{s:s, s:[], s:I, s:I}", "id", x->id, "queues",
                              "deadline_ms", (json_int_t)x->deadline_ms,
                              "active", (json_int_t)0);
                json_object_set_new(byid, x->id, o);
                json_array_append(list, o);
                if (strcmp(x->id, w->wid) == 0)
                    add_self(w, o);
            }
            json_array_append_new(json_object_get(o, "queues"),
                                  json_string(w->q[qi].name));
            json_int_t act = json_integer_value(json_object_get(o, "active"));
            json_object_set_new(o, "active",
                                json_integer(act + (json_int_t)x->active));
            if ((json_int_t)x->deadline_ms >
                json_integer_value(json_object_get(o, "deadline_ms")))
                json_object_set_new(o, "deadline_ms",
                                    json_integer((json_int_t)x->deadline_ms));
        }
    }
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o)
    {
        json_int_t dl = json_integer_value(json_object_get(o, "deadline_ms"));
        json_object_set_new(o, "alive", json_boolean(dl >= (json_int_t)now));
        json_object_set_new(o, "expires_in_s",
                            json_real(((double)dl - (double)now) / 1000.0));
    }
    json_decref(byid);
    answer_json(rc->done, rc->arg, 200,
                json_pack("{s:o, s:I, s:s}", "workers", list, "now_ms",
                          (json_int_t)now, "self", w->wid));
    free(rc);
}

static void want_sample(struct api *a, sampler_fn fn, surface_done_fn done,
                        void *arg)
{
    struct read_ctx *rc = xmalloc(sizeof(*rc));
    *rc = (struct read_ctx){a, done, arg};
    sampler_want(a->w->sampler, fn, rc);
}

static void on_dead(redisReply *rep, void *priv)
{
    struct call *c = priv;
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        answer_error(c->done, c->arg, 502,
                     rep && rep->type == REDIS_REPLY_ERROR
                         ? rep->str
                         : "Redis did not answer");
        free(c);
        return;
    }
    json_t *out = json_array();
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *e = rep->element[i];
        if (e->type == REDIS_REPLY_INTEGER) {
            /* Over API_DEAD_RECORD_MAX: its length, not its bytes. */
            json_array_append_new(out,
                                  json_pack("{s:s, s:I}", "error",
                                            "dead record too large to show",
                                            "bytes", (json_int_t)e->integer));
            continue;
        }
        json_t *j = e->type == REDIS_REPLY_STRING
                        ? jsonmp_from_bytes(e->str, e->len)
                        : NULL;
        /* A record that is not msgpack is shown as such, not dropped. */
        json_array_append_new(
            out, j ? j : json_pack("{s:s}", "error", "unreadable dead record"));
    }
    answer_json(c->done, c->arg, 200,
                json_pack("{s:s, s:o}", "queue", c->queue, "dead", out));
    free(c);
}

static long query_limit(const char *query)
{
    long limit = API_DEAD_LIMIT_DEFAULT;
    if (!query)
        return limit;
    struct evkeyvalq kv;
    if (evhttp_parse_query_str(query, &kv) == 0) {
        const char *v = evhttp_find_header(&kv, "limit");
        if (v) {
            char *end;
            long n = strtol(v, &end, 10);
            limit = *end || n < 1 ? -1 : n;
        }
        evhttp_clear_headers(&kv);
    }
    if (limit > API_DEAD_LIMIT_MAX)
        limit = API_DEAD_LIMIT_MAX;
    return limit;
}

/* ---- changes ---- */

static struct call *new_call(struct api *a, surface_done_fn done, void *arg,
                             const char *q, size_t qlen, const char *what)
{
    struct call *c = xcalloc(1, sizeof(*c));
    *c = (struct call){.a = a, .done = done, .arg = arg};
    memcpy(c->queue, q, qlen);
    snprintf(c->what, sizeof(c->what), "%s", what);
    return c;
}

static bool reply_failed(struct call *c, const redisReply *rep, int type)
{
    if (rep && rep->type == type)
        return false;
    const char *why = rep && rep->type == REDIS_REPLY_ERROR
                          ? rep->str
                          : "Redis did not answer; the change may or may "
                            "not have been made";
    log_warn("API: %s on %s failed: %s", c->what, c->queue, why);
    answer_error(c->done, c->arg, 502, why);
    free(c);
    return true;
}

static void on_retried(redisReply *rep, void *priv)
{
    struct call *c = priv;
    if (reply_failed(c, rep, REDIS_REPLY_ARRAY))
        return;
    long long n = rep->elements > 0 ? rep->element[0]->integer : 0;
    long long bad = rep->elements > 1 ? rep->element[1]->integer : 0;
    log_info("API: retried %lld dead jobs of %s (%lld unreadable)", n, c->queue,
             bad);
    sampler_stale(c->a->w->sampler);
    answer_json(c->done, c->arg, 200,
                json_pack("{s:s, s:I, s:I}", "queue", c->queue, "retried",
                          (json_int_t)n, "unreadable", (json_int_t)bad));
    free(c);
}

static void on_purged(redisReply *rep, void *priv)
{
    struct call *c = priv;
    if (reply_failed(c, rep, REDIS_REPLY_INTEGER))
        return;
    log_info("API: purged %s of %s (%lld)", c->what, c->queue, rep->integer);
    sampler_stale(c->a->w->sampler);
    answer_json(c->done, c->arg, 200,
                json_pack("{s:s, s:s, s:I}", "queue", c->queue, "purged",
                          c->what, "count", (json_int_t)rep->integer));
    free(c);
}

static void on_paused(redisReply *rep, void *priv)
{
    struct call *c = priv;
    bool pause = strcmp(c->what, "pause") == 0;
    if (reply_failed(c, rep, pause ? REDIS_REPLY_STATUS : REDIS_REPLY_INTEGER))
        return;
    log_info("API: queue %s %s", c->queue, pause ? "paused" : "resumed");
    sampler_stale(c->a->w->sampler);
    answer_json(c->done, c->arg, 200,
                json_pack("{s:s, s:b}", "queue", c->queue, "paused", pause));
    free(c);
}

static void do_retry(struct api *a, struct keys *k, json_t *body,
                     struct call *c)
{
    json_t *ids = json_object_get(body, "ids");
    bool all = json_is_true(json_object_get(body, "all"));
    if (!all && (!json_is_array(ids) || json_array_size(ids) == 0 ||
                 json_array_size(ids) > API_RETRY_IDS_MAX)) {
        answer_error(c->done, c->arg, 400,
                     "body must be {\"ids\":[...]} (1 to 1000 job ids) or "
                     "{\"all\":true}");
        free(c);
        return;
    }
    size_t n = all ? 0 : json_array_size(ids);
    const char **argv = xcalloc(n + 3, sizeof(*argv));
    argv[0] = k->dead;
    argv[1] = k->pending;
    argv[2] = all ? "all" : "ids";
    for (size_t i = 0; i < n; i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        if (!id) {
            free(argv);
            answer_error(c->done, c->arg, 400, "ids must be strings");
            free(c);
            return;
        }
        argv[3 + i] = id;
    }
    if (redis_script(a->w->redis, SCRIPT_DEADRETRY, on_retried, c, 2,
                     (int)n + 3, argv, NULL) != 0) {
        answer_error(c->done, c->arg, 503, "Redis is unreachable");
        free(c);
    }
    free(argv);
}

static void do_purge(struct api *a, struct keys *k, json_t *body,
                     struct call *c)
{
    const char *state = json_string_value(json_object_get(body, "state"));
    const char *key = !state                          ? NULL
                      : strcmp(state, "pending") == 0 ? k->pending
                      : strcmp(state, "delayed") == 0 ? k->delayed
                      : strcmp(state, "dead") == 0    ? k->dead
                                                      : NULL;
    if (!key) {
        answer_error(c->done, c->arg, 400,
                     "body must be {\"state\":\"pending\"|\"delayed\"|"
                     "\"dead\"}");
        free(c);
        return;
    }
    snprintf(c->what, sizeof(c->what), "%s", state);
    const char *argv[] = {key};
    if (redis_script(a->w->redis, SCRIPT_PURGE, on_purged, c, 1, 1, argv,
                     NULL) != 0) {
        answer_error(c->done, c->arg, 503, "Redis is unreachable");
        free(c);
    }
}

static void do_pause(struct api *a, struct keys *k, bool pause, struct call *c)
{
    const char *set[] = {"SET", k->paused, "1"};
    const char *del[] = {"DEL", k->paused};
    int rc = pause ? redis_cmd(a->w->redis, on_paused, c, 3, set, NULL)
                   : redis_cmd(a->w->redis, on_paused, c, 2, del, NULL);
    if (rc != 0) {
        answer_error(c->done, c->arg, 503, "Redis is unreachable");
        free(c);
    }
}

/* POST /api/queues/Q/<action>: the token, then the body, then Redis. */
static void change(struct api *a, const struct api_request *rq, const char *q,
                   size_t qlen, const char *action, surface_done_fn done,
                   void *arg)
{
    const char *why;
    int code = authorized(a, rq->auth, &why);
    if (code) {
        answer_error(done, arg, code, why);
        return;
    }
    bool retry = strcmp(action, "dead/retry") == 0,
         purge = strcmp(action, "purge") == 0,
         pause = strcmp(action, "pause") == 0,
         resume = strcmp(action, "resume") == 0;
    if (!retry && !purge && !pause && !resume) {
        answer_error(done, arg, 404, "no such change");
        return;
    }
    json_t *body = NULL;
    if (retry || purge) {
        json_error_t jerr;
        body = json_loadb(rq->body ? rq->body : "", rq->bodylen, 0, &jerr);
        if (!json_is_object(body)) {
            json_decref(body);
            answer_error(done, arg, 400, "the body must be a JSON object");
            return;
        }
    }
    char qname[65];
    memcpy(qname, q, qlen);
    qname[qlen] = 0;
    struct keys k;
    keys_init(&k, a->w->s->prefix, qname, a->w->wid);
    struct call *c = new_call(a, done, arg, q, qlen, action);
    if (retry)
        do_retry(a, &k, body, c);
    else if (purge)
        do_purge(a, &k, body, c);
    else
        do_pause(a, &k, pause, c);
    json_decref(body);
}

void api_handle(struct api *a, const struct api_request *rq,
                surface_done_fn done, void *arg)
{
    static const char qprefix[] = "/api/queues/";
    const char *p = rq->path;
    if (strcmp(p, "/api/queues") == 0 || strcmp(p, "/api/workers") == 0) {
        if (rq->method != API_GET) {
            answer_error(done, arg, 405, "use GET");
            return;
        }
        want_sample(a, p[5] == 'q' ? on_queues : on_workers, done, arg);
        return;
    }
    if (strncmp(p, qprefix, sizeof(qprefix) - 1) != 0) {
        answer_error(done, arg, 404, "no such API path (docs/api.md)");
        return;
    }
    const char *q = p + sizeof(qprefix) - 1;
    const char *slash = strchr(q, '/');
    if (!slash || !queue_name_ok(q, (size_t)(slash - q))) {
        answer_error(done, arg, 404,
                     "expected /api/queues/Q/... with Q of 1 to 64 "
                     "[A-Za-z0-9_.-]");
        return;
    }
    size_t qlen = (size_t)(slash - q);
    const char *action = slash + 1;
    if (strcmp(action, "dead") == 0) {
        if (rq->method != API_GET) {
            answer_error(done, arg, 405, "use GET");
            return;
        }
        long limit = query_limit(rq->query);
        if (limit < 0) {
            answer_error(done, arg, 400, "limit must be a whole number >= 1");
            return;
        }
        char qname[65], stop[24];
        memcpy(qname, q, qlen);
        qname[qlen] = 0;
        struct keys k;
        keys_init(&k, a->w->s->prefix, qname, a->w->wid);
        snprintf(stop, sizeof(stop), "%ld", limit);
        char max[24], budget[24];
        snprintf(max, sizeof(max), "%d", API_DEAD_RECORD_MAX);
        snprintf(budget, sizeof(budget), "%d", API_DEAD_BYTES_MAX);
        const char *argv[] = {k.dead, stop, max, budget};
        struct call *c = new_call(a, done, arg, q, qlen, "dead");
        if (redis_script(a->w->redis, SCRIPT_DEADLIST, on_dead, c, 1, 4, argv,
                         NULL) != 0) {
            answer_error(done, arg, 503, "Redis is unreachable");
            free(c);
        }
        return;
    }
    if (rq->method != API_POST) {
        answer_error(done, arg, 405, "changes use POST");
        return;
    }
    change(a, rq, q, qlen, action, done, arg);
}
