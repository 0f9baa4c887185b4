/* Frames, jobs and records: bounded msgpack decode and record encoding.
 *
 * Decoding never trusts a length: a structural pre-scan bounds nesting and
 * checks that every declared length fits in the bytes that remain before
 * msgpack-c (which allocates a container's declared size up front) sees the
 * buffer. Decoded strings are borrowed slices of the caller's buffer. */
#ifndef JOBQ_FRAME_H
#define JOBQ_FRAME_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_VERSION 1
#define FRAME_MAX_DEPTH 32
#define FRAME_ERROR_MAX 1024
#define JOB_ID_MAX 64
#define JOB_TYPE_MAX 128
#define FRAME_MAC_BYTES 32

struct slice {
    const char *ptr;
    size_t len;
};

/* A decoded frame; every slice borrows from the buffer given to decode. */
struct frame {
    uint64_t v;
    struct slice job; /* the signed job bytes */
    struct slice kid, mac;
    uint64_t attempt;
    struct slice error;
    uint64_t failed_at;
    msgpack_object root;
    msgpack_zone *zone; /* owns the decoded tree; kept for the next decode */
};

struct job {
    struct slice id, type, reply_to, notify, traceparent;
    const msgpack_object *args; /* never NULL after decode (nil object) */
    uint64_t created_at, max_attempts, timeout_ms, expires_at; /* 0: unset */
    msgpack_object root;
    msgpack_zone *zone;
};

struct frame_limits {
    size_t max_bytes;   /* whole frame */
    size_t max_entries; /* elements of one array or map */
    size_t max_string;  /* one str, bin or ext inside the job; 0: no limit */
};

/* Checks that buf holds exactly one well-formed msgpack value whose nesting
 * is at most FRAME_MAX_DEPTH and whose containers are not larger than
 * max_entries. Returns 0 or -1 with a reason in err. */
int mp_check(const char *buf, size_t len, size_t max_entries, char *err,
             size_t errlen);
/* The same, also refusing any str, bin or ext longer than max_string (0:
 * no limit). */
int mp_check_limits(const char *buf, size_t len, size_t max_entries,
                    size_t max_string, char *err, size_t errlen);

/* Both return 0, or -1 with a one-line reason in err. The struct starts
 * zeroed; decoding into it again reuses its zone. release ends a decode
 * but keeps the zone for the next one; free gives the zone back too, and
 * every struct that was decoded into ends with it. */
int frame_decode(const char *buf, size_t len, const struct frame_limits *lim,
                 struct frame *out, char *err, size_t errlen);
void frame_release(struct frame *f);
void frame_free(struct frame *f);
int job_decode(const struct frame *f, const struct frame_limits *lim,
               struct job *out, char *err, size_t errlen);
void job_release(struct job *j);
void job_free(struct job *j);

/* Valid names per protocol.md. */
bool name_valid_queue(const char *s, size_t len);
bool name_valid_worker(const char *s, size_t len);
bool name_valid_id(const char *s, size_t len);

/* Lookups in a msgpack map with string keys; NULL when absent. */
const msgpack_object *mp_map_get(const msgpack_object *map, const char *key);
bool mp_str_eq(const msgpack_object *o, const char *s);

/* Packing helpers. */
void mp_pack_str(msgpack_packer *pk, const char *s, size_t len);
void mp_pack_cstr(msgpack_packer *pk, const char *s);
void mp_pack_bin(msgpack_packer *pk, const void *p, size_t len);

/* A frame the same as f but for its retry state: attempt, error and
 * failed_at replaced, everything else (job bytes, kid, mac, unknown keys)
 * kept as it was. Appends to sb. */
void frame_encode_retry(msgpack_sbuffer *sb, const struct frame *f,
                        uint64_t attempt, const char *error, size_t errlen,
                        uint64_t failed_at);

/* The frame without its retry state: what an operator's retry enqueues. */
void frame_encode_fresh(msgpack_sbuffer *sb, const struct frame *f);

/* A fresh frame for job bytes (producer side and notify jobs). */
void frame_encode_new(msgpack_sbuffer *sb, const void *job, size_t joblen,
                      const char *kid, const unsigned char *mac);

#endif
