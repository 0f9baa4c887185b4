/* The worker's wiring: the state the loop-thread modules share. Each field
 * group names the one module that writes it; the others only read. */
#ifndef JOBQ_WORKER_H
#define JOBQ_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "frame.h"
#include "jobctx.h"
#include "keys.h"
#include "log.h"
#include "registry.h"
#include "settings.h"
#include "sign.h"

struct event;
struct event_base;

/* How much CPU work is taken ahead of the pool: about CPU_LOOKAHEAD_NS of
 * work per thread, judged by a moving average of handler run time, so the
 * threads stay busy across a finish and a take round trip for microsecond
 * jobs (up to the max), while slow jobs (argon2id) stay near two per thread
 * and one replica cannot hoard a backlog its peers could be running. */
#define CPU_LOOKAHEAD_NS 2000000u
#define CPU_SLOTS_MIN_PER_THREAD 2u
#define CPU_SLOTS_MAX_PER_THREAD 256u
/* Outcomes held unacknowledged (Redis away) before fetching pauses. */
#define FINISH_BACKLOG_MAX 4096
/* Outcomes per finishing script call. */
#define FINISH_BATCH_MAX 256

struct wqueue {
    struct worker *w;
    int index;
    char name[65];
    unsigned weight; /* 0: strict priority */
    int cw;          /* fetch: smooth weighted round-robin state */
    bool blocking;   /* fetch: a BLMOVE is outstanding on slot index */
    struct keys keys;
    struct jobq_ctx *fin_head, *fin_tail; /* finish: outcomes not yet sent */
    /* A queue whose keys Redis refuses (a wrong type, a failing script) is
     * set aside until then, so the other queues go on being served. */
    uint64_t fetch_broken_until; /* fetch, monotonic ms */
    bool finish_broken;          /* finish: its last batch was refused */
    unsigned finishing;          /* finish: its outcomes not yet landed */
    char sweep_cursor[24];       /* upkeep: SCAN cursor, "0" between rounds */
    struct log_limit fetch_log, finish_log, reply_log, beat_log, promote_log;
};

/* A worker's key id (protocol.md: W): the configured name, the human
 * label in logs, plus a nonce drawn at each start, so two processes never
 * share an active list and a restarted one never takes its predecessor's
 * frames for its own. */
#define WORKER_NONCE_HEX 8

struct worker {
    const struct settings *s;
    char wid[65];
    struct event_base *base;
    struct redis *redis;
    struct jobq_registry reg;
    struct sign_keys keys;
    bool have_keys;
    struct handoff *handoff;
    struct cpupool *cpu;
    struct frame_limits lim;
    int nq;
    struct wqueue q[SETTINGS_MAX_QUEUES];

    /* dispatch */
    unsigned cpu_slots, io_slots, cpu_inflight, io_inflight;
    uint64_t cpu_run_ns;  /* moving average of a CPU handler's run time */
    unsigned io_share;    /* moving share of io jobs, of IO_SHARE_ONE */
    struct jobq_ctx live; /* sentinel: every job between take and finish */
    unsigned live_n;
    struct jobq_ctx *ctx_pool; /* finished contexts kept for reuse */
    unsigned ctx_pool_n;
    struct task *staged_first, *staged_last; /* CPU jobs not yet submitted */
    unsigned staged_n;
    struct event *submit_ev;

    /* fetch */
    unsigned take_reserved; /* slots asked for by an outstanding take */
    unsigned blocking_n;    /* outstanding BLMOVEs */
    bool reconciling, reconcile_wanted;
    unsigned reconcile_left;
    struct event *fetch_retry;

    /* finish */
    unsigned finishing; /* outcomes produced and not yet acknowledged */
    struct event *flush_ev, *finish_retry;

    /* upkeep */
    struct event *heartbeat_ev, *promote_ev, *sweep_ev;
    unsigned promote_left;
    uint64_t promote_next_ms;

    /* daemon */
    bool stopping, grace_over, exiting;
    unsigned exit_left;
    struct event *grace_ev, *exit_ev;
    struct event *sig_ev[3];
    int exit_code;
    uint64_t n_ok, n_retry, n_dead, n_late, n_skip;
};

/* A frame's class is known only once it is read, so the worker holds the
 * CPU window plus the io window in the share of io jobs seen lately: a
 * queue of sleeps fills its io slots, a queue of hashes takes no more
 * than its threads can start soon (hoarded CPU jobs wait here while
 * another replica could run them). */
#define IO_SHARE_ONE 1024u

static inline unsigned worker_window(const struct worker *w)
{
    return w->cpu_slots +
           (unsigned)((uint64_t)w->io_slots * w->io_share / IO_SHARE_ONE);
}

static inline unsigned worker_free_slots(const struct worker *w)
{
    unsigned running = w->cpu_inflight + w->io_inflight;
    unsigned win = worker_window(w);
    unsigned n = win > running ? win - running : 0;
    unsigned i =
        w->io_slots > w->io_inflight ? w->io_slots - w->io_inflight : 0;
    if (n > i)
        n = i;
    unsigned held = w->take_reserved + w->blocking_n;
    return n > held ? n - held : 0;
}
#endif
