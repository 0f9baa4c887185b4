/* The operator's HTTP surface on the loop (libevent's evhttp): /healthz,
 * /readyz and /metrics in the Prometheus text format. Read-only: nothing
 * here changes state, so no route needs the admin token yet. */
#ifndef JOBQ_HTTP_H
#define JOBQ_HTTP_H

#include "worker.h"

struct http;

/* Binds host:port (loopback by default) and holds at most max_conns
 * connections at once. Returns NULL with a reason. */
struct http *http_start(struct worker *w, const char *host, int port,
                        unsigned max_conns, char *err, size_t errlen);
void http_stop(struct http *h);
#endif
