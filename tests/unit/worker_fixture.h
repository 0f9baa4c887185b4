/* A worker wired as daemon.c wires it (settings defaults with two queues
 * and two CPU threads, the built-in handlers, a real event loop and CPU
 * pool, and a tick running dispatch_submit, finish_flush, fetch_refill),
 * talking to the fake Redis of fake_redis.h. */
#ifndef JOBQ_WORKER_FIXTURE_H
#define JOBQ_WORKER_FIXTURE_H

#include <msgpack.h>
#include <stdbool.h>

#include "settings.h"
#include "worker.h"

struct fx {
    struct settings s;
    struct worker w;
};

/* Queue names of the fixture, in served order (both strict). */
#define FX_QA "qa"
#define FX_QB "qb"
#define FX_WID "test-0123abcd"

struct fx *fx_new(void);
/* Waits for CPU jobs still on the pool, then tears down as daemon.c does
 * (Redis first: pending calls get NULL). */
void fx_free(struct fx *fx);

/* Runs the loop without blocking a few times: every active event (the
 * tick and what it starts) runs. */
void fx_run_idle(struct fx *fx);
/* Runs the loop, blocking at most a few ms at a time, until cond holds or
 * timeout_ms passed. Returns whether cond held. */
bool fx_run_until(struct fx *fx, bool (*cond)(struct fx *fx, void *arg),
                  void *arg, unsigned timeout_ms);
/* Until a call of script id is pending. */
bool fx_run_until_script(struct fx *fx, int id, unsigned timeout_ms);

/* A frame {v:1, job: bin({id, type, args[, reply_to]})[, attempt]} into
 * out (initialised by the caller). args: {argk: argv} or {} for argk
 * NULL; reply_to NULL: none; attempt 0: none. */
void fx_frame(msgpack_sbuffer *out, const char *id, const char *type,
              const char *argk, uint64_t argv, const char *reply_to,
              unsigned attempt);
#endif
