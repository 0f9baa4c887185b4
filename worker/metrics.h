/* Metrics: the Prometheus text of /metrics, as docs/settings.md lists it,
 * from the counters the loop modules keep and the Redis samples (sampler.h,
 * at most one round a second whatever the scrape rate). Loop thread only. */
#ifndef JOBQ_METRICS_H
#define JOBQ_METRICS_H

#include "surface.h"
#include "worker.h"

/* Answers through done once the samples are fresh enough. */
void metrics_render(struct worker *w, surface_done_fn done, void *arg);
#endif
