/* jobq producer API: connect to Redis, enqueue a job (optionally signed,
 * optionally later), read or wait for its result. Blocking calls, for
 * producer programs and tools; the wire format is in docs/protocol.md and
 * any language can speak it without this library.
 *
 * Errors: functions return 0 or -1 and put a one-line reason in the
 * caller's err buffer; passwords never appear in it. */
#ifndef JOBQ_JOBQ_H
#define JOBQ_JOBQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct jobq_client jobq_client;

/* url: redis://[user:password@]host[:port][/db] or unix:///path[?db=N]. */
jobq_client *jobq_connect(const char *url, const char *prefix, char *err,
                          size_t errlen);
void jobq_close(jobq_client *c);

/* Signs every frame enqueued from now on with this 32-byte key. */
int jobq_set_signing_key(jobq_client *c, const char *kid,
                         const unsigned char key[32]);

typedef struct jobq_job {
    const char *id; /* NULL: a random one is made */
    const char *type;
    const void *args; /* msgpack bytes of args, or NULL */
    size_t args_len;
    uint64_t max_attempts; /* 0: worker default */
    uint64_t timeout_ms;   /* 0: handler or worker default */
    uint64_t delay_ms;     /* 0: now; else scheduled */
    uint64_t expires_at;   /* ms since the epoch, 0: never */
    const char *reply_to;  /* NULL: none */
    const char *notify;    /* NULL: none */
} jobq_job;

/* Enqueues on queue; the id used goes to id_out (65 bytes). */
int jobq_enqueue(jobq_client *c, const char *queue, const jobq_job *job,
                 char id_out[65], char *err, size_t errlen);

/* The result record's msgpack bytes (malloc'd, caller frees). Waits up to
 * wait_ms for it to appear (0: look once). Returns 0, 1 when there is no
 * result (yet), or -1 on error. */
int jobq_result(jobq_client *c, const char *queue, const char *id,
                uint64_t wait_ms, char **rec, size_t *len, char *err,
                size_t errlen);

/* Pops one record from a reply_to list, waiting up to wait_ms. Same
 * returns as jobq_result. */
int jobq_reply(jobq_client *c, const char *reply_to, uint64_t wait_ms,
               char **rec, size_t *len, char *err, size_t errlen);

/* The underlying hiredis context (redisContext *) for the tool's own
 * operator commands. */
void *jobq_redis(jobq_client *c);
const char *jobq_prefix(const jobq_client *c);

#ifdef __cplusplus
}
#endif
#endif
