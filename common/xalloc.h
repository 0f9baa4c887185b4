/* The one out-of-memory policy: an allocation that fails is logged and the
 * process aborts. A worker that cannot allocate cannot keep its promises
 * (every frame it holds is still in its active list, recovered by the
 * others once its heartbeat lapses), and code that tried to go on would
 * have an error path per call site that no test ever runs. */
#ifndef JOBQ_XALLOC_H
#define JOBQ_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* msgpack_sbuffer_write for packers (msgpack_packer_init(&pk, sb,
 * xsbuffer_write)) and direct writes: the buffer grows or the process
 * aborts, never a record cut short in silence. */
int xsbuffer_write(void *sbuf, const char *buf, size_t len);
#endif
