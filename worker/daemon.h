/* The daemon: wires the modules onto one loop, runs the tick, handles
 * signals and the graceful stop (no new jobs, running ones get the grace
 * period, the rest go back to the right end of pending), and tears down
 * in one place. */
#ifndef JOBQ_DAEMON_H
#define JOBQ_DAEMON_H

#include "settings.h"
#include "sign.h"

/* Runs until stopped; returns the exit status (0 after a clean stop). The
 * keys are copied. */
int daemon_run(const struct settings *s, const struct sign_keys *keys);
#endif
