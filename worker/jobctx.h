/* One taken frame on its way through the worker: decoded, run, answered,
 * finished. It is the jobq_ctx that handlers see. Owned by dispatch from
 * take to finish acknowledgement; a CPU pool thread borrows it while the
 * handler runs (the handoff orders those accesses). */
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

enum outcome { OUT_NONE, OUT_OK, OUT_RETRY, OUT_DEAD, OUT_SKIP };

struct jobq_ctx {
    struct task task;               /* CPU pool link */
    struct jobq_ctx *next;          /* finish batch link */
    struct jobq_ctx *lprev, *lnext; /* worker's list of live jobs */
    struct worker *w;
    struct wqueue *q;

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
    uint64_t run_ns; /* CPU handlers: measured on the pool thread */

    msgpack_sbuffer result;
    msgpack_packer pk;
    bool failed;
    jobq_failure fail_kind;
    char err[FRAME_ERROR_MAX + 1];

    atomic_int cancelled;
    bool timed_out, abandoned, running, checking;
    struct event *deadline;
    void *hstate;

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
#endif
