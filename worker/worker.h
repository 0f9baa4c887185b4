/* The worker's wiring: what every loop module may read, and nothing a
 * module owns. Each module keeps its own state private (an opaque struct
 * made by its x_new and freed by its x_free, with its own events); this
 * struct only points at them, in the job's direction: fetch -> dispatch
 * (-> recheck, cpu pool) -> finish, with upkeep beside. Written by the
 * daemon alone, at start and when it begins to stop. */
#ifndef JOBQ_WORKER_H
#define JOBQ_WORKER_H

#include <event2/event.h>
#include <stdbool.h>

#include "frame.h"
#include "keys.h"
#include "registry.h"
#include "settings.h"
#include "sign.h"

struct redis;
struct jobs;
struct dispatch;
struct finish;
struct fetch;
struct upkeep;
struct filepool;

/* A served queue: its name and keys, fixed at start. Its index is the
 * same in every module's per-queue state. */
struct wqueue {
    int index;
    char name[65];
    unsigned weight; /* 0: strict priority */
    struct keys keys;
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
    const struct sign_keys *keys; /* NULL: no signing keys */
    struct frame_limits lim;
    int nq;
    struct wqueue q[SETTINGS_MAX_QUEUES];

    struct jobs *jobs;
    struct dispatch *dispatch;
    struct finish *finish;
    struct fetch *fetch;
    struct upkeep *upkeep;
    struct filepool *files; /* helper threads for io handlers' file access */

    /* The tick (see worker_wake) and whether a stop has begun: a stopping
     * worker takes nothing new. */
    struct event *tick;
    bool stopping;
};

/* A module made progress that others may follow up: run the tick once
 * this round of callbacks is over. The tick runs, in this order,
 * dispatch's staged CPU submissions, finish's flush, fetch's refill and
 * the stop check (Redis' beforeSleep), so no module calls back up the
 * job's way and a burst of completions costs one of each. */
static inline void worker_wake(struct worker *w)
{
    event_active(w->tick, EV_TIMEOUT, 0);
}
#endif
