/* jobq handler plugin API: what a job handler sees of the worker.
 *
 * Built-in handlers are written against this header exactly as a plugin
 * would be, so the API is exercised by our own code every day. A handler is
 * class CPU (runs on a pinned pool thread, must not touch the event loop) or
 * class IO (a non-blocking state machine on the event loop).
 *
 * Ownership: the context, its args and its result buffer belong to the
 * worker. Pointers returned by the jobq_arg_* readers borrow from the job's
 * decoded bytes and stay valid until the handler finishes. */
#ifndef JOBQ_HANDLER_H
#define JOBQ_HANDLER_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#define JOBQ_HANDLER_API_VERSION 1

typedef struct jobq_ctx jobq_ctx;
struct event_base;

typedef enum { JOBQ_CLASS_CPU = 0, JOBQ_CLASS_IO = 1 } jobq_class;

/* How a failure is treated: PERMANENT goes dead at once, RETRYABLE is
 * retried with backoff until the job's max_attempts. */
typedef enum { JOBQ_PERMANENT = 0, JOBQ_RETRYABLE = 1 } jobq_failure;

/* CPU handler: runs to completion on a pool thread. Return 0 after packing
 * a result with jobq_result(), or call jobq_fail() and return -1. Long
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
    const char *type; /* job type served, 1..128 bytes */
    jobq_class cls;
    uint32_t timeout_ms;    /* default attempt limit; 0: worker default */
    jobq_cpu_fn cpu;        /* CPU class */
    jobq_io_start_fn start; /* IO class */
    jobq_io_cancel_fn cancel;
} jobq_handler;

typedef struct jobq_registry jobq_registry;

/* Registers a handler (copied). Returns 0, or -1 when the type is already
 * served or malformed. */
int jobq_register(jobq_registry *reg, const jobq_handler *h);

/* A plugin shared object exports this symbol; the worker calls it once. */
typedef int (*jobq_plugin_init_fn)(jobq_registry *reg, int api_version);
#define JOBQ_PLUGIN_INIT_SYMBOL "jobq_plugin_init"

/* --- reading the job --- */
const msgpack_object *jobq_args(const jobq_ctx *ctx); /* never NULL: nil */
const char *jobq_job_id(const jobq_ctx *ctx);         /* NUL-terminated */
unsigned jobq_attempt(const jobq_ctx *ctx);           /* 1 on first run */

/* Map lookups on args. Return 0 when present with the right type, -1 when
 * missing (or nil), -2 when present with another type. */
const msgpack_object *jobq_map_get(const msgpack_object *map, const char *key);
int jobq_arg_str(const jobq_ctx *ctx, const char *key, const char **ptr,
                 size_t *len);
int jobq_arg_uint(const jobq_ctx *ctx, const char *key, uint64_t *out);
int jobq_arg_int(const jobq_ctx *ctx, const char *key, int64_t *out);

/* --- answering --- */
/* The packer a handler writes its result (one msgpack value) into. */
msgpack_packer *jobq_result(jobq_ctx *ctx);
/* Records a failure; the message is truncated to 1024 bytes. */
void jobq_fail(jobq_ctx *ctx, jobq_failure kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int jobq_cancelled(const jobq_ctx *ctx);

/* --- IO handlers only, loop thread only --- */
struct event_base *jobq_loop(const jobq_ctx *ctx);
void jobq_set_state(jobq_ctx *ctx, void *state);
void *jobq_state(const jobq_ctx *ctx);
void jobq_done(jobq_ctx *ctx);

/* Packing helpers for the common case of string keys. */
void jobq_pack_str(msgpack_packer *pk, const char *s, size_t len);
void jobq_pack_cstr(msgpack_packer *pk, const char *s);
/* Packs s with ASCII letters lower-cased (other bytes as they are). */
void jobq_pack_lower(msgpack_packer *pk, const char *s, size_t len);
/* Characters (UTF-8 code points) in s, as a user would count them. */
size_t jobq_utf8_chars(const char *s, size_t len);

#endif
