/* The HTTP handlers: http.request, webhook.post and http.gather, io jobs
 * on the worker's HTTP client (jobq_http_start), written against
 * <jobq/handler.h> alone like any plugin. A response's status decides the
 * outcome as worker.md says: 4xx permanent, 5xx retryable; a transport
 * failure carries its own kind (the client's: refused by the guard, body
 * too large, too many redirects permanent; connect errors and timeouts
 * retryable). */
#include <jobq/handler.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"

#define HTTP_ERR_MAX 512
#define HTTP_METHOD_MAX 16
#define HTTP_HEADERS_MAX 64
/* Requests one http.gather job may run at once. */
#define HTTP_GATHER_MAX 100
#define HTTP_STATUS_CLIENT_ERROR 400
#define HTTP_STATUS_SERVER_ERROR 500

/* One request's arguments, read from its map: slices borrowed from the
 * job's args, the header array owned. */
struct spec {
    jobq_http_request req;
    jobq_http_header hs[HTTP_HEADERS_MAX];
    char method[HTTP_METHOD_MAX + 1];
};

static int read_str(const msgpack_object *m, const char *key, const char **p,
                    size_t *n)
{
    const msgpack_object *o = jobq_map_get(m, key);
    if (!o || o->type == MSGPACK_OBJECT_NIL)
        return JOBQ_ENOENT;
    if (o->type == MSGPACK_OBJECT_STR) {
        *p = o->via.str.ptr;
        *n = o->via.str.size;
    } else if (o->type == MSGPACK_OBJECT_BIN) {
        *p = o->via.bin.ptr;
        *n = o->via.bin.size;
    } else {
        return JOBQ_ETYPE;
    }
    return JOBQ_OK;
}

static int read_uint(const msgpack_object *m, const char *key, uint64_t *out)
{
    const msgpack_object *o = jobq_map_get(m, key);
    if (!o || o->type == MSGPACK_OBJECT_NIL)
        return JOBQ_ENOENT;
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return JOBQ_ETYPE;
    *out = o->via.u64;
    return JOBQ_OK;
}

/* Reads method, url, headers, body, timeout_ms and max_redirects. Returns
 * 0, or -1 with the reason in err. */
static int spec_read(struct spec *s, const msgpack_object *m, char *err,
                     size_t errlen)
{
    memset(s, 0, sizeof(*s));
    jobq_http_request *r = &s->req;
    if (!m || m->type != MSGPACK_OBJECT_MAP) {
        snprintf(err, errlen, "a request must be a map");
        return -1;
    }
    int rc = read_str(m, "url", &r->url, &r->url_len);
    if (rc != JOBQ_OK) {
        snprintf(err, errlen,
                 rc == JOBQ_ENOENT ? "Missing required field: url"
                                   : "url must be a string");
        return -1;
    }
    const char *mp;
    size_t ml;
    rc = read_str(m, "method", &mp, &ml);
    if (rc == JOBQ_ETYPE || (rc == JOBQ_OK && (!ml || ml > HTTP_METHOD_MAX))) {
        snprintf(err, errlen, "method must be a string of 1 to %d bytes",
                 HTTP_METHOD_MAX);
        return -1;
    }
    if (rc == JOBQ_OK) {
        for (size_t i = 0; i < ml; i++) /* methods are upper case */
            s->method[i] =
                mp[i] >= 'a' && mp[i] <= 'z' ? (char)(mp[i] - 32) : mp[i];
        r->method = s->method;
    }
    rc = read_str(m, "body", &r->body, &r->body_len);
    if (rc == JOBQ_ETYPE) {
        snprintf(err, errlen, "body must be a string or binary");
        return -1;
    }
    rc = read_uint(m, "timeout_ms", &r->timeout_ms);
    if (rc == JOBQ_ETYPE) {
        snprintf(err, errlen, "timeout_ms must be an unsigned integer");
        return -1;
    }
    uint64_t redirects = 0;
    rc = read_uint(m, "max_redirects", &redirects);
    if (rc == JOBQ_ETYPE || redirects > JOBQ_HTTP_MAX_REDIRECTS) {
        snprintf(err, errlen, "max_redirects must be an integer from 0 to %d",
                 JOBQ_HTTP_MAX_REDIRECTS);
        return -1;
    }
    r->max_redirects = (unsigned)redirects;
    const msgpack_object *h = jobq_map_get(m, "headers");
    if (h && h->type != MSGPACK_OBJECT_NIL) {
        if (h->type != MSGPACK_OBJECT_MAP ||
            h->via.map.size > HTTP_HEADERS_MAX) {
            snprintf(err, errlen, "headers must be a map of at most %d strings",
                     HTTP_HEADERS_MAX);
            return -1;
        }
        for (uint32_t i = 0; i < h->via.map.size; i++) {
            const msgpack_object *k = &h->via.map.ptr[i].key;
            const msgpack_object *v = &h->via.map.ptr[i].val;
            if (k->type != MSGPACK_OBJECT_STR ||
                v->type != MSGPACK_OBJECT_STR) {
                snprintf(err, errlen, "headers must map strings to strings");
                return -1;
            }
            s->hs[i] = (jobq_http_header){k->via.str.ptr, k->via.str.size,
                                          v->via.str.ptr, v->via.str.size};
        }
        r->headers = s->hs;
        r->nheaders = h->via.map.size;
    }
    return 0;
}

/* Whether a response is a failure of the job, and of which kind. */
static int judge(const jobq_http_response *res, jobq_failure *kind, char *msg,
                 size_t msglen)
{
    if (res->failed) {
        *kind = res->kind;
        snprintf(msg, msglen, "%s", res->error);
        return -1;
    }
    if (res->status >= HTTP_STATUS_CLIENT_ERROR) {
        *kind = res->status >= HTTP_STATUS_SERVER_ERROR ? JOBQ_RETRYABLE
                                                        : JOBQ_PERMANENT;
        snprintf(msg, msglen, "HTTP %ld", res->status);
        return -1;
    }
    return 0;
}

/* Text as str when it is UTF-8, else as bin: a record must stay valid
 * msgpack for every producer's decoder. */
static void pack_text(msgpack_packer *pk, const char *p, size_t n)
{
    if (jobq_utf8_valid(p, n)) {
        jobq_pack_str(pk, p, n);
    } else {
        msgpack_pack_bin(pk, n);
        msgpack_pack_bin_body(pk, p, n);
    }
}

/* {status, headers, body}. */
static void pack_response(msgpack_packer *pk, const jobq_http_response *res)
{
    msgpack_pack_map(pk, 3);
    jobq_pack_cstr(pk, "status");
    msgpack_pack_long(pk, res->status);
    jobq_pack_cstr(pk, "headers");
    msgpack_pack_map(pk, res->nheaders);
    for (size_t i = 0; i < res->nheaders; i++) {
        pack_text(pk, res->headers[i].name, res->headers[i].name_len);
        pack_text(pk, res->headers[i].value, res->headers[i].value_len);
    }
    jobq_pack_cstr(pk, "body");
    pack_text(pk, res->body, res->body_len);
}

/* --- http.request and webhook.post: one request per job --- */

struct single {
    jobq_ctx *ctx;
    jobq_http *h;
    int webhook; /* answer {status} rather than the whole response */
};

static void single_done(jobq_http *h, const jobq_http_response *res, void *arg)
{
    struct single *st = arg;
    jobq_ctx *ctx = st->ctx;
    (void)h;
    jobq_failure kind;
    char msg[HTTP_ERR_MAX];
    if (judge(res, &kind, msg, sizeof(msg)) != 0) {
        jobq_fail(ctx, kind, "%s", msg);
    } else if (st->webhook) {
        msgpack_packer *pk = jobq_packer(ctx);
        msgpack_pack_map(pk, 1);
        jobq_pack_cstr(pk, "status");
        msgpack_pack_long(pk, res->status);
    } else {
        pack_response(jobq_packer(ctx), res);
    }
    free(st);
    jobq_set_state(ctx, NULL);
    jobq_done(ctx);
}

static void fail_now(jobq_ctx *ctx, jobq_failure kind, const char *msg)
{
    jobq_fail(ctx, kind, "%s", msg);
    jobq_done(ctx);
}

static void single_start(jobq_ctx *ctx, const jobq_http_request *req,
                         int webhook)
{
    char err[HTTP_ERR_MAX];
    struct single *st = malloc(sizeof(*st));
    if (!st) {
        fail_now(ctx, JOBQ_RETRYABLE, jobq_strerror(JOBQ_ENOMEM));
        return;
    }
    *st = (struct single){.ctx = ctx, .webhook = webhook};
    int rc =
        jobq_http_start(ctx, req, single_done, st, &st->h, err, sizeof(err));
    if (rc != JOBQ_OK) {
        free(st);
        /* A bad request stays bad; a worker without memory may pass. */
        fail_now(ctx, rc == JOBQ_ENOMEM ? JOBQ_RETRYABLE : JOBQ_PERMANENT, err);
        return;
    }
    jobq_set_state(ctx, st);
}

static void single_cancel(jobq_ctx *ctx)
{
    struct single *st = jobq_state(ctx);
    if (!st)
        return;
    jobq_http_cancel(st->h);
    free(st);
    jobq_set_state(ctx, NULL);
}

static void request_start(jobq_ctx *ctx)
{
    struct spec s;
    char err[HTTP_ERR_MAX];
    if (spec_read(&s, jobq_args(ctx), err, sizeof(err)) != 0) {
        fail_now(ctx, JOBQ_PERMANENT, err);
        return;
    }
    single_start(ctx, &s.req, 0);
}

/* POSTs payload as JSON. The job id goes along so a receiver can tell a
 * retried delivery from a new one (delivery is at least once). */
static void webhook_start(jobq_ctx *ctx)
{
    const char *url;
    size_t url_len;
    int rc = jobq_arg_str(ctx, "url", &url, &url_len);
    if (rc != JOBQ_OK) {
        fail_now(ctx, JOBQ_PERMANENT,
                 rc == JOBQ_ENOENT ? "Missing required field: url"
                                   : "url must be a string");
        return;
    }
    const msgpack_object *payload = jobq_map_get(jobq_args(ctx), "payload");
    msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
    char *json;
    size_t json_len;
    rc = jobq_json_encode(payload ? payload : &nil, &json, &json_len);
    if (rc != JOBQ_OK) {
        fail_now(ctx, rc == JOBQ_ENOMEM ? JOBQ_RETRYABLE : JOBQ_PERMANENT,
                 rc == JOBQ_ENOMEM ? jobq_strerror(rc)
                                   : "payload has no JSON form (NaN, an "
                                     "infinity, or a string that is not "
                                     "UTF-8)");
        return;
    }
    const char *id = jobq_job_id(ctx);
    jobq_http_header hs[] = {
        {"Content-Type", 12, "application/json", 16},
        {"X-Jobq-Id", 9, id, strlen(id)},
    };
    jobq_http_request req = {.method = "POST",
                             .url = url,
                             .url_len = url_len,
                             .headers = hs,
                             .nheaders = sizeof(hs) / sizeof(hs[0]),
                             .body = json,
                             .body_len = json_len};
    single_start(ctx, &req, 1); /* the client copied the body */
    free(json);
}

/* --- http.gather: every request at once, each answer in its place --- */

struct slot {
    struct gather *g;
    jobq_http *h; /* NULL once answered */
    char *packed; /* its answer, packed: a response or {error} */
    size_t len;
    int failed;
    jobq_failure kind;
};

struct gather {
    jobq_ctx *ctx;
    uint32_t n, left;
    char first_error[HTTP_ERR_MAX];
    struct slot slots[];
};

/* msgpack_sbuffer's writer, for a slot's own buffer. */
static void slot_pack(struct slot *sl, const jobq_http_response *res,
                      const char *error, long status)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (res) {
        pack_response(&pk, res);
    } else {
        msgpack_pack_map(&pk, status ? 2 : 1);
        jobq_pack_cstr(&pk, "error");
        jobq_pack_cstr(&pk, error);
        if (status) {
            jobq_pack_cstr(&pk, "status");
            msgpack_pack_long(&pk, status);
        }
    }
    sl->packed = sb.data; /* NULL when out of memory: answered as nil */
    sl->len = sb.data ? sb.size : 0;
}

static void gather_free(struct gather *g)
{
    for (uint32_t i = 0; i < g->n; i++) {
        jobq_http_cancel(g->slots[i].h);
        free(g->slots[i].packed);
    }
    free(g);
}

static void gather_finish(struct gather *g)
{
    jobq_ctx *ctx = g->ctx;
    uint32_t failed = 0;
    int retry = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        failed += g->slots[i].failed != 0;
        retry |= g->slots[i].failed && g->slots[i].kind == JOBQ_RETRYABLE;
    }
    if (g->n && failed == g->n) {
        /* Retrying helps only when some failure may pass. */
        jobq_fail(ctx, retry ? JOBQ_RETRYABLE : JOBQ_PERMANENT,
                  "every request failed; the first: %s", g->first_error);
    } else {
        msgpack_packer *pk = jobq_packer(ctx);
        msgpack_pack_map(pk, 1);
        jobq_pack_cstr(pk, "responses");
        msgpack_pack_array(pk, g->n);
        for (uint32_t i = 0; i < g->n; i++) {
            if (g->slots[i].packed)
                pk->callback(pk->data, g->slots[i].packed, g->slots[i].len);
            else
                msgpack_pack_nil(pk);
        }
    }
    gather_free(g);
    jobq_set_state(ctx, NULL);
    jobq_done(ctx);
}

static void slot_fail(struct slot *sl, jobq_failure kind, const char *msg,
                      long status)
{
    struct gather *g = sl->g;
    sl->failed = 1;
    sl->kind = kind;
    if (!g->first_error[0])
        snprintf(g->first_error, sizeof(g->first_error), "%s", msg);
    slot_pack(sl, NULL, msg, status);
}

static void slot_done(jobq_http *h, const jobq_http_response *res, void *arg)
{
    struct slot *sl = arg;
    struct gather *g = sl->g;
    (void)h;
    sl->h = NULL; /* gone once this returns */
    jobq_failure kind;
    char msg[HTTP_ERR_MAX];
    if (judge(res, &kind, msg, sizeof(msg)) != 0)
        slot_fail(sl, kind, msg, res->failed ? 0 : res->status);
    else
        slot_pack(sl, res, NULL, 0);
    if (--g->left == 0)
        gather_finish(g);
}

static void gather_start(jobq_ctx *ctx)
{
    const msgpack_object *rs = jobq_map_get(jobq_args(ctx), "requests");
    if (!rs || rs->type != MSGPACK_OBJECT_ARRAY ||
        rs->via.array.size > HTTP_GATHER_MAX) {
        char msg[96];
        snprintf(msg, sizeof(msg),
                 rs ? "requests must be a list of at most %d requests"
                    : "Missing required field: requests",
                 HTTP_GATHER_MAX);
        fail_now(ctx, JOBQ_PERMANENT, msg);
        return;
    }
    uint32_t n = rs->via.array.size;
    struct gather *g = calloc(1, sizeof(*g) + n * sizeof(struct slot));
    if (!g) {
        fail_now(ctx, JOBQ_RETRYABLE, jobq_strerror(JOBQ_ENOMEM));
        return;
    }
    g->ctx = ctx;
    g->n = n;
    /* One more than the requests, dropped below: no answer can finish the
     * job while requests are still being started. */
    g->left = n + 1;
    jobq_set_state(ctx, g);
    for (uint32_t i = 0; i < n; i++) {
        struct slot *sl = &g->slots[i];
        sl->g = g;
        struct spec s;
        char err[HTTP_ERR_MAX];
        int rc = spec_read(&s, &rs->via.array.ptr[i], err, sizeof(err));
        /* The requests share one body limit: a gather of a hundred never
         * holds a hundred times http-max-body-bytes. */
        s.req.body_share = n;
        if (rc == 0)
            rc = jobq_http_start(ctx, &s.req, slot_done, sl, &sl->h, err,
                                 sizeof(err));
        if (rc != 0) {
            slot_fail(sl, rc == JOBQ_ENOMEM ? JOBQ_RETRYABLE : JOBQ_PERMANENT,
                      err, 0);
            g->left--;
        }
    }
    if (--g->left == 0)
        gather_finish(g);
}

static void gather_cancel(jobq_ctx *ctx)
{
    struct gather *g = jobq_state(ctx);
    if (!g)
        return;
    gather_free(g);
    jobq_set_state(ctx, NULL);
}

int builtin_http_init(jobq_registry *reg, int api_version)
{
    static const jobq_handler hs[] = {
        {.type = "http.request",
         .cls = JOBQ_CLASS_IO,
         .start = request_start,
         .cancel = single_cancel},
        {.type = "webhook.post",
         .cls = JOBQ_CLASS_IO,
         .start = webhook_start,
         .cancel = single_cancel},
        {.type = "http.gather",
         .cls = JOBQ_CLASS_IO,
         .start = gather_start,
         .cancel = gather_cancel},
    };
    (void)api_version;
    return builtin_register_all(reg, hs, sizeof(hs) / sizeof(hs[0]));
}
