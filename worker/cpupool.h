/* A pool of threads, each optionally pinned to one core, that runs tasks
 * and returns them through a handoff. Threads never touch the loop or
 * Redis. The worker has two: the pinned CPU pool for cpu handlers and a
 * small unpinned one for blocking file access. */
#ifndef JOBQ_CPUPOOL_H
#define JOBQ_CPUPOOL_H

#include "handoff.h"
#include "task.h"

struct cpupool;

/* cpus: ncpus cores to pin thread i to cpus[i % ncpus]; ncpus 0: no
 * pinning. Returns NULL with a reason in err. */
struct cpupool *cpupool_new(unsigned nthreads, const int *cpus, int ncpus,
                            struct handoff *done, char *err, size_t errlen);

/* Loop thread. n tasks linked through next, first to last, in one lock
 * and at most one wake-up per idle thread. Each task's run() executes on
 * a pool thread; then the task is pushed to the handoff. */
void cpupool_submit(struct cpupool *p, struct task *first, struct task *last,
                    unsigned n);

/* Threads running a task now (any thread; a moment's reading). */
unsigned cpupool_busy(const struct cpupool *p);

/* Stops the threads after the tasks already running; queued tasks are
 * dropped (the caller owns them). Joins. */
void cpupool_free(struct cpupool *p);
#endif
