/* exec handlers: job types served by running a command once per job
 * (setting exec, TYPE=COMMAND ARGS...). The job's args go to its stdin as
 * JSON; its stdout is the result as JSON; exit 65 is a permanent failure,
 * another non-zero exit a retryable one, with stderr's tail as the error.
 * At most exec-concurrency run at once; the rest wait in order. Each is an
 * io handler: its pipes are on the loop, and its whole process group is
 * killed at the attempt's time limit. Loop thread only. */
#ifndef JOBQ_EXEC_H
#define JOBQ_EXEC_H

#include <stddef.h>

#include "registry.h"
#include "settings.h"

/* The most a command may write: more is a permanent failure (a result is
 * carried in a record, and a runaway writer must not grow the worker). */
#define EXEC_STDOUT_MAX (1024 * 1024)
#define EXEC_STDERR_MAX (256 * 1024)
/* The exit status that means "do not retry" (EX_DATAERR). */
#define EXEC_EXIT_PERMANENT 65

struct exec;
struct procs;

/* Parses every exec setting, resolves its command and registers its type
 * in reg. Returns the module, or NULL with the reason in err (a malformed
 * value, a command not found, a type already served). */
struct exec *exec_new(struct procs *ps, const struct settings *s,
                      struct jobq_registry *reg, char *err, size_t errlen);
/* Frees the module; its children belong to procs (procs_free). */
void exec_free(struct exec *ex);
#endif
