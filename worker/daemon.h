/* The daemon's lifecycle: wiring the modules onto one loop, signals, the
 * graceful stop (no new jobs, running ones get the grace period, the rest
 * go back to the right end of pending) and the exit status. */
#ifndef JOBQ_DAEMON_H
#define JOBQ_DAEMON_H

#include "settings.h"
#include "sign.h"
#include "worker.h"

/* Runs until stopped; returns the exit status (0 after a clean stop). The
 * keys are copied. */
int daemon_run(const struct settings *s, const struct sign_keys *keys);

/* Something finished: a stopping worker checks whether it may exit. */
void daemon_progress(struct worker *w);
#endif
