/* The helper pool for blocking file access (architecture.md): a second,
 * small, unpinned cpupool with its own handoff, running what io handlers
 * offload (jobq_offload) and bringing it back to the loop exactly as CPU
 * jobs come back. The loop side owns every request from submit to done:
 * a request whose attempt ended while it ran on a thread is only released
 * when it comes back, so a thread never writes into freed memory. */
#ifndef JOBQ_FILEPOOL_H
#define JOBQ_FILEPOOL_H

#include <jobq/handler.h>
#include <stddef.h>

/* Threads of the helper pool: file calls wait on the disk, not the CPU,
 * and two keep one slow fsync from holding every read back. */
#define FILEPOOL_THREADS 2

struct event_base;
struct jobq_ctx;
struct filepool;

/* Returns NULL with a reason in err. */
struct filepool *filepool_new(struct event_base *base, unsigned nthreads,
                              char *err, size_t errlen);

/* Loop thread. Runs run(arg) on a helper thread, then done on the loop
 * (see jobq_offload). Returns JOBQ_OK or JOBQ_EBUSY. */
int filepool_submit(struct filepool *fp, struct jobq_ctx *ctx,
                    jobq_offload_fn run, jobq_offload_done_fn done, void *arg);

/* Requests submitted and not yet back on the loop. */
unsigned filepool_outstanding(const struct filepool *fp);

/* Joins the threads (after the request each one runs), then releases
 * every request still out: done(NULL, arg). Loop thread, loop stopped. */
void filepool_free(struct filepool *fp);
#endif
