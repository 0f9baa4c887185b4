/* A fake of worker/redis.h for unit tests: it stands in for worker/redis.c
 * at link time. Every call a module makes is recorded, in order, with a
 * copy of its arguments; the test reads the calls and answers each with a
 * reply it builds (or drops it: the callback gets NULL, as after a lost
 * connection). Nothing is sent anywhere. Loop thread only, like the real
 * one. */
#ifndef JOBQ_FAKE_REDIS_H
#define JOBQ_FAKE_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis.h"

enum fake_kind { FAKE_CMD, FAKE_SCRIPT, FAKE_BLOCKING };

struct fake_call {
    struct fake_call *next;
    enum fake_kind kind;
    enum script_id script; /* FAKE_SCRIPT only */
    int nkeys;             /* FAKE_SCRIPT only */
    int slot;              /* FAKE_BLOCKING only */
    uint64_t block_ms;     /* FAKE_BLOCKING only */
    int argc;
    char **argv; /* copies, each NUL-terminated past its length */
    size_t *lens;
    redis_reply_fn fn;
    void *priv;
};

/* The oldest call not yet answered, or NULL. */
struct fake_call *fake_next(void);
/* The i-th (0-based) call not yet answered, or NULL. */
struct fake_call *fake_nth(unsigned i);
/* The oldest unanswered script call of that script, or NULL. */
struct fake_call *fake_find_script(enum script_id id);
/* The oldest unanswered call of that kind, or NULL. */
struct fake_call *fake_find_kind(enum fake_kind kind);
/* Calls not yet answered, all or of one script. */
unsigned fake_pending(void);
unsigned fake_pending_script(enum script_id id);
/* Calls made (answered or not) since the fake was made, and calls refused
 * because the fake was not ready. */
unsigned long fake_calls_made(void);
unsigned long fake_calls_refused(void);

/* Argument i of a call equals s (length and bytes). */
bool fake_arg_is(const struct fake_call *c, int i, const char *s);
bool fake_arg_is_bytes(const struct fake_call *c, int i, const void *p,
                       size_t len);

/* Answers a call: runs its callback with reply (the fake frees reply after
 * the callback, as hiredis does) and forgets the call. */
void fake_reply(struct fake_call *c, redisReply *reply);
/* The callback gets NULL, as when the connection was lost. */
void fake_drop(struct fake_call *c);

/* Whether calls are accepted (redis_ready; refused calls return -1 and
 * are not recorded). The fake starts ready. */
void fake_set_ready(bool ready);
/* Runs the on_ready callback given to redis_new. */
void fake_fire_ready(void);

/* Reply builders, allocated as hiredis allocates its replies (each may be
 * freed with freeReplyObject or fake_reply_free). */
redisReply *fake_rep_string(const void *p, size_t len);
redisReply *fake_rep_status(const char *s);
redisReply *fake_rep_error(const char *s);
redisReply *fake_rep_integer(long long v);
redisReply *fake_rep_nil(void);
/* An array of n bulk strings (lens NULL: each is NUL-terminated). */
redisReply *fake_rep_array(size_t n, const char *const *strs,
                           const size_t *lens);
/* The same followed by one integer element (PICK's reply). */
redisReply *fake_rep_array_int(size_t n, const char *const *strs,
                               const size_t *lens, long long trailing);
void fake_reply_free(redisReply *r);
#endif
