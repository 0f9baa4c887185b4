/* Runners: long-lived handler processes in any language (setting runner,
 * TYPE[,TYPE...]=COMMAND ARGS...), runner-processes of each, speaking
 * line-delimited JSON on stdin/stdout with up to runner-concurrency jobs in
 * flight per process, answered in any order (docs/handlers.md has the wire
 * format). Jobs go to the processes round-robin; when all are full they
 * wait in order. A process that exits, writes a line that is not an answer,
 * or leaves a job unanswered past its time limit is killed (its whole
 * group) and restarted with backoff, and its jobs in flight fail
 * retryably. Loop thread only. */
#ifndef JOBQ_RUNNER_H
#define JOBQ_RUNNER_H

#include <stddef.h>

#include "registry.h"
#include "settings.h"

/* Longest answer line; a longer one is a bad line (and a result must fit
 * a record anyway). */
#define RUNNER_LINE_MAX (4 * 1024 * 1024)
/* Longest stderr line logged; the rest of a longer one is cut. */
#define RUNNER_LOG_LINE_MAX 1024
/* Restart backoff: base * 2^(failures in a row - 1), capped; a process
 * that answers a job resets the count. From RUNNER_CRASH_LOOP failures in
 * a row on, each restart is logged as a crash loop. */
#define RUNNER_BACKOFF_BASE_MS 100
#define RUNNER_BACKOFF_MAX_MS 30000
#define RUNNER_CRASH_LOOP 5
#define RUNNER_MAX_TYPES 64

struct runners;
struct procs;

/* Parses every runner setting, resolves its command, registers its types
 * in reg and starts its processes. Returns the module, or NULL with the
 * reason in err. */
struct runners *runners_new(struct procs *ps, const struct settings *s,
                            struct jobq_registry *reg, char *err,
                            size_t errlen);
/* Frees the module; its children belong to procs (procs_free). */
void runners_free(struct runners *rs);
/* Restarts so far, of all runners' processes (tests, metrics). */
unsigned long long runners_restarts(const struct runners *rs);
#endif
