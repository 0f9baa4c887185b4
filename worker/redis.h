/* The one owner of every hiredis context. All calls are loop-thread only.
 *
 * One command connection carries pipelined commands and scripts; each
 * blocking slot has its own connection, since BLMOVE holds its connection
 * while it waits. Every connection has a watchdog (hiredis 0.14 has no
 * command timeouts): a reply overdue by the configured limit drops the
 * connection, and a dropped connection is re-opened with jittered
 * exponential backoff. Callbacks get reply NULL when the connection was
 * lost before the reply came; the caller decides whether to re-send. */
#ifndef JOBQ_REDIS_H
#define JOBQ_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redisurl.h"
#include "scripts.h"

struct event_base;
struct redis;

typedef void (*redis_reply_fn)(redisReply *reply, void *priv);

/* on_ready runs each time every connection is up again after any of them
 * dropped (and once at start): callers re-check what a lost reply may have
 * left behind. */
struct redis *redis_new(struct event_base *base, const struct redis_url *url,
                        uint64_t timeout_ms, int nblocking,
                        void (*on_ready)(void *arg), void *arg);
void redis_free(struct redis *r);

bool redis_ready(const struct redis *r);
/* Connections dropped and re-opened since the start (every drop leads to
 * a reconnect with backoff). */
unsigned long long redis_reconnects(const struct redis *r);

/* Queue a command on the command connection. Returns 0, or -1 when it is
 * not up (fn is not called). */
int redis_cmd(struct redis *r, redis_reply_fn fn, void *priv, int argc,
              const char **argv, const size_t *lens);

/* EVALSHA of a script; argv holds keys then args. A NOSCRIPT reply (the
 * cache was flushed) reloads every script and is passed on as an error. */
int redis_script(struct redis *r, enum script_id id, redis_reply_fn fn,
                 void *priv, int nkeys, int argc, const char **argv,
                 const size_t *lens);

/* A command that blocks for up to block_ms, on blocking slot i. */
int redis_blocking(struct redis *r, int slot, redis_reply_fn fn, void *priv,
                   uint64_t block_ms, int argc, const char **argv,
                   const size_t *lens);

#endif
