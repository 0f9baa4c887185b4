/* Loop lag: the loop measures its own lateness. A timer due every
 * LOOPLAG_TICK_MS notes how late it ran; that lateness goes into the
 * jobq_loop_lag_seconds histogram, and one past loop-lag-warn-ms is logged
 * with what held the loop. Modules that run other people's code on the
 * loop (dispatch around a handler's start and cancel, the HTTP surface
 * around a request) mark it as a section; the longest section since the
 * last tick is named as the holder. Loop thread only. */
#ifndef JOBQ_LOOPLAG_H
#define JOBQ_LOOPLAG_H

#include <stdint.h>

#include "histo.h"

struct event_base;

#define LOOPLAG_TICK_MS 100
/* Longest holder name kept ("io handler TYPE start()"). */
#define LOOPLAG_WHAT_BYTES 192

/* Upper bounds of jobq_loop_lag_seconds. */
extern const double looplag_bounds[];
extern const int looplag_nbounds;

struct looplag;

struct looplag *looplag_new(struct event_base *base, uint64_t warn_ms);
void looplag_free(struct looplag *l);

/* A section of loop time spent on one thing, named "kind detail" (kind a
 * literal: "io handler", "HTTP"). Sections do not nest: enter, then leave
 * before the callback returns. l may be NULL (no watchdog). */
void looplag_enter(struct looplag *l, const char *kind, const char *detail);
void looplag_leave(struct looplag *l);

const struct histo *looplag_histo(const struct looplag *l);
/* Turns logged as too long so far. */
uint64_t looplag_warnings(const struct looplag *l);
#endif
