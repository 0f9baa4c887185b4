/* jobq handler plugin API: what a job handler sees of the worker.
 *
 * Built-in handlers are written against this header exactly as a plugin
 * would be (the build compiles them with include/ alone on their path), so
 * the API is exercised by our own code every day. A handler is class CPU
 * (runs on a pinned pool thread, must not touch the event loop) or class IO
 * (a non-blocking state machine on the event loop). docs/handlers.md walks
 * through writing one.
 *
 * Errors: functions that can fail return JOBQ_OK (0) or one of the negative
 * JOBQ_E* codes below; jobq_strerror() names them.
 *
 * Ownership: the context, its args and its result buffer belong to the
 * worker. Pointers returned by the jobq_arg_* readers borrow from the job's
 * decoded bytes and stay valid until the handler finishes. */
#ifndef JOBQ_HANDLER_H
#define JOBQ_HANDLER_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

/* Bumped on any change a compiled plugin could notice (a struct's layout,
 * a function's meaning). The worker refuses a plugin built for another. */
#define JOBQ_HANDLER_API_VERSION 2

/* Marks what the worker exports to plugins and what a plugin exports to the
 * worker, so both survive -fvisibility=hidden. */
#if defined(__GNUC__) || defined(__clang__)
#define JOBQ_EXPORT __attribute__((visibility("default")))
#define JOBQ_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define JOBQ_EXPORT
#define JOBQ_PRINTF(f, a)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes: 0 or negative, as libuv's. */
#define JOBQ_OK 0
#define JOBQ_EINVAL (-1)   /* malformed argument (a handler, a type name) */
#define JOBQ_ENOENT (-2)   /* not there: an arg missing or nil */
#define JOBQ_ETYPE (-3)    /* there, but of another msgpack type */
#define JOBQ_EEXIST (-4)   /* the job type is already served */
#define JOBQ_ENOMEM (-5)   /* out of memory */
#define JOBQ_EVERSION (-6) /* a plugin built for another API version */
#define JOBQ_ENOSPC (-7)   /* the registry is full */
#define JOBQ_ELOAD (-8)    /* a plugin could not be loaded (dlopen, symbols) */
#define JOBQ_EINIT (-9)    /* a plugin's init failed */

/* Of the services io handlers reach (jobq_offload, jobq_publish). */
#define JOBQ_EUNAVAIL (-10) /* not there now: Redis away, no helper pool */
#define JOBQ_EBUSY (-11)    /* one request of this kind is already out */

/* A static string naming code; "unknown error" for others. */
JOBQ_EXPORT const char *jobq_strerror(int code);

typedef struct jobq_ctx jobq_ctx;
typedef struct jobq_registry jobq_registry;
struct event_base;
struct evdns_base;

typedef enum { JOBQ_CLASS_CPU = 0, JOBQ_CLASS_IO = 1 } jobq_class;

/* How a failure is treated: PERMANENT goes dead at once, RETRYABLE is
 * retried with backoff until the job's max_attempts. */
typedef enum { JOBQ_PERMANENT = 0, JOBQ_RETRYABLE = 1 } jobq_failure;

/* CPU handler: runs to completion on a pool thread. Return 0 after packing
 * a result into jobq_packer(), or call jobq_fail() and return -1. Long
 * handlers poll jobq_cancelled() and return early when it is set. */
typedef int (*jobq_cpu_fn)(jobq_ctx *ctx);

/* IO handler: starts a state machine on the loop and returns at once. The
 * handler later packs a result (or calls jobq_fail) and calls jobq_done()
 * exactly once, from the loop thread. */
typedef void (*jobq_io_start_fn)(jobq_ctx *ctx);

/* IO cancel: the attempt's time limit passed or the worker is stopping.
 * Release everything the attempt holds; do NOT call jobq_done(). */
typedef void (*jobq_io_cancel_fn)(jobq_ctx *ctx);

typedef struct jobq_handler {
    const char *type; /* job type served, 1..128 bytes; borrowed: static
                         storage of the handler's code */
    jobq_class cls;
    uint32_t timeout_ms;    /* default attempt limit; 0: worker default */
    jobq_cpu_fn cpu;        /* CPU class */
    jobq_io_start_fn start; /* IO class */
    jobq_io_cancel_fn cancel;
    /* The handler's own, for jobq_handler_data(): lets one function serve
     * several types, or carry a plugin's configuration. Borrowed; the
     * worker never frees it. NULL is fine. */
    void *data;
} jobq_handler;

/* --- registering (plugin init time) --- */

/* Registers a handler (the struct is copied, type and data are borrowed).
 * Returns JOBQ_OK, JOBQ_EEXIST when the type is already served,
 * JOBQ_EINVAL when the type or the functions for its class are missing,
 * or JOBQ_ENOSPC when the registry is full. */
JOBQ_EXPORT int jobq_register(jobq_registry *reg, const jobq_handler *h);

/* The operator's setting key for job type type (the INI section
 * [handler.TYPE]), or NULL when it is not set. The string belongs to the
 * worker and lives as long as it runs; copy what you need at init. */
JOBQ_EXPORT const char *jobq_setting(const jobq_registry *reg, const char *type,
                                     const char *key);

/* A plugin shared object exports both of these; JOBQ_PLUGIN_DECLARE()
 * defines the version. The worker reads the version first and refuses a
 * plugin built for another; then it calls init once, with the version it
 * speaks. init registers its handlers and returns JOBQ_OK or a negative
 * code; on failure everything it registered is dropped. */
typedef int (*jobq_plugin_init_fn)(jobq_registry *reg, int api_version);
JOBQ_EXPORT int jobq_plugin_init(jobq_registry *reg, int api_version);
JOBQ_EXPORT extern const int jobq_plugin_api_version;
#define JOBQ_PLUGIN_INIT_SYMBOL "jobq_plugin_init"
#define JOBQ_PLUGIN_VERSION_SYMBOL "jobq_plugin_api_version"
/* No JOBQ_EXPORT here: the declaration above carries it (C++ ignores, and
 * warns about, visibility on a redeclaration). */
#define JOBQ_PLUGIN_DECLARE()                                                  \
    const int jobq_plugin_api_version = JOBQ_HANDLER_API_VERSION

/* The text of one of the worker's own settings (the name as in
 * docs/settings.md: "file-root", "file-max-bytes"), or NULL when it is
 * unset or secret. Lives as long as the worker. */
JOBQ_EXPORT const char *jobq_worker_setting(const jobq_registry *reg,
                                            const char *name);

/* --- reading the job --- */
JOBQ_EXPORT const msgpack_object *jobq_args(const jobq_ctx *ctx); /* nil */
JOBQ_EXPORT const char *jobq_job_id(const jobq_ctx *ctx); /* NUL-ended */
JOBQ_EXPORT unsigned jobq_attempt(const jobq_ctx *ctx);   /* 1 on first */
/* The data pointer of the handler running this job. */
JOBQ_EXPORT void *jobq_handler_data(const jobq_ctx *ctx);

/* Map lookups on args. Return JOBQ_OK when present with the right type,
 * JOBQ_ENOENT when missing (or nil), JOBQ_ETYPE when present with another
 * type. jobq_map_get returns NULL when map is no map or key is missing. */
JOBQ_EXPORT const msgpack_object *jobq_map_get(const msgpack_object *map,
                                               const char *key);
JOBQ_EXPORT int jobq_arg_str(const jobq_ctx *ctx, const char *key,
                             const char **ptr, size_t *len);
JOBQ_EXPORT int jobq_arg_uint(const jobq_ctx *ctx, const char *key,
                              uint64_t *out);
JOBQ_EXPORT int jobq_arg_int(const jobq_ctx *ctx, const char *key,
                             int64_t *out);

/* --- answering --- */
/* The packer a handler writes its result (one msgpack value) into. */
JOBQ_EXPORT msgpack_packer *jobq_packer(jobq_ctx *ctx);
/* Records a failure; the message is truncated to 1024 bytes. */
JOBQ_EXPORT void jobq_fail(jobq_ctx *ctx, jobq_failure kind, const char *fmt,
                           ...) JOBQ_PRINTF(3, 4);
JOBQ_EXPORT int jobq_cancelled(const jobq_ctx *ctx);

/* --- IO handlers only, loop thread only --- */
/* The worker's event loop. */
JOBQ_EXPORT struct event_base *jobq_loop(const jobq_ctx *ctx);
/* The worker's one DNS resolver on that loop (libevent's evdns), shared by
 * every handler and the worker's own connections: never make another, and
 * never resolve with a blocking getaddrinfo(). NULL when the worker has
 * none (then resolving is not offered). */
JOBQ_EXPORT struct evdns_base *jobq_dns(const jobq_ctx *ctx);
JOBQ_EXPORT void jobq_set_state(jobq_ctx *ctx, void *state);
JOBQ_EXPORT void *jobq_state(const jobq_ctx *ctx);
JOBQ_EXPORT void jobq_done(jobq_ctx *ctx);

/* Blocking work off the loop: run(arg) on one of the worker's helper
 * threads (a small pool for file access; never the loop, never the CPU
 * pool), then done(ctx, arg) back on the loop, as CPU jobs come back.
 * arg belongs to the offload from the call until done: the handler must
 * not touch or free it meanwhile, not even in cancel. done is called
 * exactly once for every JOBQ_OK: with the job's context while the
 * attempt runs (pack, then jobq_done), or with ctx NULL when the attempt
 * ended first (time limit, stop): then it only frees arg. run must not
 * touch the context or the loop. One offload per attempt at a time.
 * Returns JOBQ_OK, JOBQ_EBUSY while one is out, JOBQ_EUNAVAIL when the
 * worker has no helper pool. */
typedef void (*jobq_offload_fn)(void *arg);
typedef void (*jobq_offload_done_fn)(jobq_ctx *ctx, void *arg);
JOBQ_EXPORT int jobq_offload(jobq_ctx *ctx, jobq_offload_fn run,
                             jobq_offload_done_fn done, void *arg);

/* Redis PUBLISH of message on channel through the worker's own
 * connection (both borrowed for the call only). At most once per job and
 * channel: an attempt that finds an earlier attempt's publish of this job
 * on this channel landed (its answer lost, its time limit passed) gets
 * that publish's receiver count back and publishes nothing. cb runs once
 * on the loop while the attempt runs: rc JOBQ_OK with receivers, or
 * JOBQ_EUNAVAIL with a reason when Redis failed or was lost before it
 * answered; it is not called when the attempt ended first. Returns JOBQ_OK,
 * or JOBQ_EUNAVAIL at once when Redis is not connected (cb not called). */
typedef void (*jobq_publish_fn)(jobq_ctx *ctx, int rc, uint64_t receivers,
                                const char *err);
JOBQ_EXPORT int jobq_publish(jobq_ctx *ctx, const char *channel,
                             size_t channel_len, const char *message,
                             size_t message_len, jobq_publish_fn cb);

/* --- helpers, any thread --- */
/* Wall-clock milliseconds since the epoch. */
JOBQ_EXPORT uint64_t jobq_now_ms(void);
/* Packing helpers for the common case of string keys. */
JOBQ_EXPORT void jobq_pack_str(msgpack_packer *pk, const char *s, size_t len);
JOBQ_EXPORT void jobq_pack_cstr(msgpack_packer *pk, const char *s);
/* Packs s with ASCII letters lower-cased (other bytes as they are). */
JOBQ_EXPORT void jobq_pack_lower(msgpack_packer *pk, const char *s, size_t len);
/* Appends the canonical msgpack encoding of o to sb: map entries sorted
 * bytewise by their encoded keys, every value in its smallest encoding
 * (integers by value, floats as float32 when that is exact), the
 * encoding data.digest hashes. o's nesting must be bounded, as job args
 * are. Returns JOBQ_OK or JOBQ_ENOMEM. */
JOBQ_EXPORT int jobq_pack_canonical(msgpack_sbuffer *sb,
                                    const msgpack_object *o);
/* Characters (UTF-8 code points) in s, as a user would count them. */
JOBQ_EXPORT size_t jobq_utf8_chars(const char *s, size_t len);

/* --- the HTTP client, io handlers only, loop thread only ---
 *
 * The worker's one HTTP client (libcurl on the worker's loop): HTTPS with
 * the system's CA bundle plus the operator's http-ca-file, HTTP/2 where
 * the server offers it, connections kept alive and reused across jobs,
 * names resolved without blocking the loop. Every connection, including
 * each redirect hop, passes the operator's outbound guard (http-allow).
 * A response body larger than http-max-body-bytes fails the request. */
#define JOBQ_HTTP_MAX_REDIRECTS 5

typedef struct jobq_http jobq_http; /* one request in flight */

/* A header: borrowed slices, not NUL-ended. */
typedef struct jobq_http_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} jobq_http_header;

typedef struct jobq_http_request {
    const char *method; /* NUL-ended token; NULL: GET, or POST with a body */
    const char *url;    /* http:// or https://, url_len bytes */
    size_t url_len;
    const jobq_http_header *headers; /* nheaders of them; may be NULL */
    size_t nheaders;
    const char *body; /* body_len bytes, or NULL: none */
    size_t body_len;
    uint64_t timeout_ms; /* the whole request; 0: only the job's limit */
    /* Redirects followed, each hop guarded; 0: a 3xx is the answer. At
     * most JOBQ_HTTP_MAX_REDIRECTS; one more hop fails permanently. */
    unsigned max_redirects;
    /* 0 or 1: the response body may be up to http-max-body-bytes; n > 1:
     * up to 1/n of it, for n requests made together that share one limit
     * (http.gather), so a job's responses never hold more than the limit
     * in all. */
    unsigned body_share;
} jobq_http_request;

/* What came back. Everything it points to lives until the callback
 * returns; copy what you keep. */
typedef struct jobq_http_response {
    /* 0: a response arrived (status set, whatever it is). Else the request
     * failed before a whole response, with kind and error saying how:
     * PERMANENT for a refusal by the guard, a body over the limit, too many
     * redirects or a malformed request; RETRYABLE for connect errors,
     * timeouts and other transport failures. */
    int failed;
    jobq_failure kind;
    const char *error; /* NUL-ended, when failed */
    long status;       /* HTTP status of the last response */
    /* The last response's headers: names lower-cased, a repeated name's
     * values joined with ", ", in arrival order. */
    const jobq_http_header *headers;
    size_t nheaders;
    const char *body;
    size_t body_len;
} jobq_http_response;

/* Called once per request that was not cancelled, on the loop thread,
 * never from inside jobq_http_start. The handle is gone once it returns:
 * do not cancel it. */
typedef void (*jobq_http_done_fn)(jobq_http *req, const jobq_http_response *res,
                                  void *arg);

/* Starts a request for ctx's job; everything in req is copied. Returns
 * JOBQ_OK with the handle in *out (may be NULL), or JOBQ_EINVAL (a bad
 * URL scheme, method, header or redirect count), JOBQ_EUNAVAIL (no HTTP
 * client in this worker) or JOBQ_ENOMEM, with the reason in err. */
JOBQ_EXPORT int jobq_http_start(jobq_ctx *ctx, const jobq_http_request *req,
                                jobq_http_done_fn cb, void *arg,
                                jobq_http **out, char *err, size_t errlen);
/* Stops a request: its connection is closed, its memory freed, and its
 * callback never runs. Call it from the handler's cancel. */
JOBQ_EXPORT void jobq_http_cancel(jobq_http *req);

/* --- helpers, any thread (continued) --- */
/* The JSON text of o (compact; bin values as base64 strings, non-string
 * map keys as their JSON text), malloc'ed and NUL-ended in *out, its
 * length in *len; the caller frees it with free(). Returns JOBQ_OK,
 * JOBQ_EINVAL when o has no JSON form (NaN, an infinity, a str that is
 * not UTF-8), or
 * JOBQ_ENOMEM. */
JOBQ_EXPORT int jobq_json_encode(const msgpack_object *o, char **out,
                                 size_t *len);
/* Whether s is valid UTF-8 (RFC 3629): what may be packed as a str. */
JOBQ_EXPORT int jobq_utf8_valid(const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif
