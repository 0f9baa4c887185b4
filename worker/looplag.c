/* Loop lag (see looplag.h). The timer is re-armed from when it ran, so a
 * long turn shows once as lateness rather than as a burst of catch-up
 * ticks; sections cost two clock reads.
 *
 * A late timer has two causes: the loop was busy (a callback ran long),
 * or the process was not scheduled (a host short of CPU). Every lateness
 * is observed (jobs wait either way), but only the first is the loop's
 * fault and warned about: a section that ran past the limit, or, without
 * one, a loop thread that used CPU for at least half the lateness. */
#include "looplag.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "xalloc.h"

const double looplag_bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,   1,    2.5,   5,    10};
const int looplag_nbounds =
    (int)(sizeof(looplag_bounds) / sizeof(looplag_bounds[0]));

struct looplag {
    struct event *tick;
    uint64_t warn_ms;
    uint64_t due_ns; /* when the tick should run */
    uint64_t cpu_ns; /* the loop thread's CPU time at the last tick */
    struct log_limit busy_log;
    struct histo h;
    uint64_t warnings;
    /* The section running, and the longest since the last tick. */
    uint64_t enter_ns;
    char what[LOOPLAG_WHAT_BYTES];
    uint64_t worst_ns;
    char worst[LOOPLAG_WHAT_BYTES];
};

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void arm(struct looplag *l)
{
    struct timeval tv = clock_timeval(LOOPLAG_TICK_MS);
    l->due_ns = clock_mono_ns() + (uint64_t)LOOPLAG_TICK_MS * 1000000u;
    evtimer_add(l->tick, &tv);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct looplag *l = arg;
    (void)fd;
    (void)what;
    uint64_t now = clock_mono_ns();
    uint64_t late = now > l->due_ns ? now - l->due_ns : 0;
    uint64_t cpu = thread_cpu_ns(), used = cpu - l->cpu_ns;
    l->cpu_ns = cpu;
    histo_observe(&l->h, looplag_bounds, looplag_nbounds, (double)late / 1e9);
    unsigned long long late_ms = late / 1000000u,
                       warn = (unsigned long long)l->warn_ms;
    if (late_ms <= warn) {
        /* on time */
    } else if (l->worst_ns / 1000000u > l->warn_ms) {
        l->warnings++;
        log_warn("event loop held for %llu ms (loop-lag-warn-ms %llu): %s "
                 "ran %llu ms",
                 late_ms, warn, l->worst,
                 (unsigned long long)(l->worst_ns / 1000000u));
    } else if (used >= late / 2) {
        l->warnings++;
        log_limited(&l->busy_log, LOG_WARN,
                    "event loop held for %llu ms (loop-lag-warn-ms %llu) by "
                    "a callback outside the measured sections (Redis "
                    "replies, the worker's own timers)",
                    late_ms, warn);
    } else {
        log_debug("event loop timer ran %llu ms late, the loop thread "
                  "having used %llu ms of CPU since the last: the host is "
                  "short of CPU, the loop was not held",
                  late_ms, (unsigned long long)(used / 1000000u));
    }
    l->worst_ns = 0;
    l->worst[0] = 0;
    arm(l);
}

struct looplag *looplag_new(struct event_base *base, uint64_t warn_ms)
{
    struct looplag *l = xcalloc(1, sizeof(*l));
    l->warn_ms = warn_ms;
    l->tick = evtimer_new(base, on_tick, l);
    l->cpu_ns = thread_cpu_ns();
    arm(l);
    return l;
}

void looplag_free(struct looplag *l)
{
    if (!l)
        return;
    event_free(l->tick);
    free(l);
}

void looplag_enter(struct looplag *l, const char *kind, const char *detail)
{
    if (!l)
        return;
    snprintf(l->what, sizeof(l->what), "%s %s", kind, detail);
    l->enter_ns = clock_mono_ns();
}

void looplag_leave(struct looplag *l)
{
    if (!l || !l->enter_ns)
        return;
    uint64_t took = clock_mono_ns() - l->enter_ns;
    l->enter_ns = 0;
    if (took > l->worst_ns) {
        l->worst_ns = took;
        memcpy(l->worst, l->what, sizeof(l->worst));
    }
}

const struct histo *looplag_histo(const struct looplag *l)
{
    return &l->h;
}

uint64_t looplag_warnings(const struct looplag *l)
{
    return l->warnings;
}
