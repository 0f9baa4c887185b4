/* Job contexts: one taken frame on its way through the worker, decoded,
 * run, answered, finished. It is the jobq_ctx that handlers see. Its one
 * lifecycle state says which module holds it; a CPU pool thread borrows it
 * while its handler runs (the handoff orders those accesses). Contexts are
 * pooled with their buffers and timer, so a job costs no malloc for them.
 * Loop thread only, but for the fields a running CPU handler writes. */
#ifndef JOBQ_JOBCTX_H
#define JOBQ_JOBCTX_H

#include <jobq/handler.h>
#include <msgpack.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "frame.h"
#include "keys.h"
#include "task.h"

struct worker;
struct wqueue;
struct jobs;

enum jobctx_state {
    JOB_DECODED,   /* dispatch: taken, being decoded and checked */
    JOB_CHECKING,  /* recheck: redelivered, its result being looked up */
    JOB_STAGED,    /* dispatch: a CPU job waiting for this turn's submit */
    JOB_RUNNING,   /* its handler runs (pool thread or loop) */
    JOB_SETTLED,   /* dispatch: outcome encoded, handed to finish */
    JOB_FINISHING, /* finish: its batch is out to Redis */
    JOB_ABANDONED, /* stopped without an outcome: its frame stays in active */
};

enum outcome { OUT_NONE, OUT_OK, OUT_RETRY, OUT_DEAD, OUT_SKIP };

/* A request a handler made of a worker service (the file pool, a Redis
 * publish) that answers later, on the loop. The service owns it; it is
 * tied to the attempt while that runs. An attempt can end first (its time
 * limit, a stop, an early jobq_done): then jobctx_end_ops sets ctx to
 * NULL, and the service, when the answer comes, only releases what it
 * holds and never touches the context again (which may serve another job
 * by then). Loop thread only. */
struct jobctx_op {
    struct jobctx_op *next;
    struct jobq_ctx *ctx; /* NULL: the attempt is over */
    const void *owner;    /* the service that made it */
};

struct jobq_ctx {
    struct task task;               /* CPU pool link */
    struct jobq_ctx *next;          /* finish batch link */
    struct jobq_ctx *lprev, *lnext; /* jobs: every context not freed */
    struct jobs *jobs;
    struct worker *w;
    struct wqueue *q;
    enum jobctx_state state;

    char *raw; /* the frame exactly as taken, owned */
    size_t rawlen, rawcap;
    struct frame fr;
    struct job job;
    bool has_frame, has_job;
    bool verified; /* its MAC checked out: only then is its notify signed */
    const jobq_handler *h;
    char id[JOB_ID_MAX + 1];
    unsigned attempt; /* this attempt, 1-based */
    uint64_t timeout_ms;
    uint64_t started_ms;
    uint64_t run_ns;      /* CPU handlers: measured on the pool thread */
    uint64_t duration_ms; /* start to outcome, set when handed to finish */

    msgpack_sbuffer result;
    msgpack_packer pk;
    bool failed;
    jobq_failure fail_kind;
    char err[FRAME_ERROR_MAX + 1];

    atomic_int cancelled;
    bool timed_out;
    struct event *deadline;
    void *hstate;
    struct jobctx_op *ops; /* service requests tied to this attempt */

    /* What finish writes, encoded on the loop thread. */
    enum outcome out;
    msgpack_sbuffer rec;    /* result record (ok, dead with id) */
    msgpack_sbuffer dead;   /* dead record */
    msgpack_sbuffer retry;  /* retry frame */
    msgpack_sbuffer event;  /* event record */
    msgpack_sbuffer notify; /* notify job frame */
    uint64_t due_ms;
    char result_key[KEYS_MAX];
};

struct jobs *jobs_new(void);
/* Frees the pooled contexts and every live one (the caller knows no
 * thread still holds any). */
void jobs_free(struct jobs *j);
/* Contexts not yet freed: taken and not finished. */
unsigned jobs_live(const struct jobs *j);
/* Live contexts, newest first; NULL after the last. */
struct jobq_ctx *jobs_first(struct jobs *j);
struct jobq_ctx *jobs_next(struct jobs *j, struct jobq_ctx *ctx);

/* A context in state JOB_DECODED holding a copy of the frame bytes. */
struct jobq_ctx *jobctx_new(struct jobs *j, struct worker *w, struct wqueue *q,
                            const char *raw, size_t len);
/* Finished with ctx: back to the pool (or to malloc). */
void jobctx_free(struct jobq_ctx *ctx);
const char *jobctx_state_name(enum jobctx_state s);

/* Ties op to ctx's attempt (op->ctx = ctx). */
void jobctx_op_attach(struct jobq_ctx *ctx, struct jobctx_op *op);
/* The op answered: unties it (a no-op when the attempt already ended). */
void jobctx_op_detach(struct jobctx_op *op);
/* The attempt is over: every op still out forgets ctx. */
void jobctx_end_ops(struct jobq_ctx *ctx);
#endif
