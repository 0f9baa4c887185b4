/* Loop lag (see looplag.h). The timer is re-armed from when it ran, so a
 * long turn shows once as lateness rather than as a burst of catch-up
 * ticks; sections cost two clock reads. */
#include "looplag.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    struct histo h;
    uint64_t warnings;
    /* The section running, and the longest since the last tick. */
    uint64_t enter_ns;
    char what[LOOPLAG_WHAT_BYTES];
    uint64_t worst_ns;
    char worst[LOOPLAG_WHAT_BYTES];
};

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
    histo_observe(&l->h, looplag_bounds, looplag_nbounds, (double)late / 1e9);
    if (late / 1000000u > l->warn_ms) {
        l->warnings++;
        if (l->worst_ns)
            log_warn("event loop held for %llu ms (loop-lag-warn-ms %llu): "
                     "%s ran %llu ms",
                     (unsigned long long)(late / 1000000u),
                     (unsigned long long)l->warn_ms, l->worst,
                     (unsigned long long)(l->worst_ns / 1000000u));
        else
            log_warn("event loop held for %llu ms (loop-lag-warn-ms %llu) "
                     "by a callback outside the measured sections (Redis "
                     "replies, timers of the worker's own modules)",
                     (unsigned long long)(late / 1000000u),
                     (unsigned long long)l->warn_ms);
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
