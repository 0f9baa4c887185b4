/* Upkeep on loop timers, each step an atomic script safe with any number
 * of replicas: the heartbeat in P:{Q}:workers, due delayed frames to
 * pending, and recovery of the active lists of workers whose heartbeat
 * lapsed. Loop thread only. */
#ifndef JOBQ_UPKEEP_H
#define JOBQ_UPKEEP_H

#include "worker.h"

/* How late a scheduled frame may be noticed when none was due before. */
#define UPKEEP_PROMOTE_MAX_MS 250
#define UPKEEP_PROMOTE_LIMIT 1000

/* A round of the sweep for active lists whose worker is not on record
 * (sweep.lua) starts this often and goes a step a second. */
#define UPKEEP_SWEEP_ROUND_MS 60000
#define UPKEEP_SWEEP_STEP_MS 1000
#define UPKEEP_SWEEP_COUNT 1000

struct upkeep;

/* Starts the timers. */
struct upkeep *upkeep_new(struct worker *w);
void upkeep_free(struct upkeep *u);
/* Heartbeat and recovery now (also on reconnect, and when stopping: the
 * beat then says so). */
void upkeep_beat(struct upkeep *u);
#endif
