/* The worker's HTTP client: libcurl's multi-socket API driven by the
 * loop. One multi handle, so connections (and HTTP/2 sessions) are kept
 * alive and reused across jobs; libcurl's own resolver thread resolves
 * names, so nothing blocks the loop. Every connection passes the outbound
 * guard (common/guard.h) on the address actually connected. Handlers
 * reach it through jobq_http_start/jobq_http_cancel (handler_api.c).
 * Loop thread only. */
#ifndef JOBQ_HTTPC_H
#define JOBQ_HTTPC_H

#include <jobq/handler.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct httpc;

struct httpc_config {
    const char *allow;   /* http-allow text; NULL: the default guard */
    const char *ca_file; /* added to the system bundle; NULL: none */
    uint64_t max_body_bytes;
    unsigned max_idle; /* idle connections kept for reuse; 0: libcurl's */
};

/* Returns NULL with the reason in err (libcurl cannot start, a bad
 * http-allow, an unreadable CA file). */
struct httpc *httpc_new(struct event_base *base, const struct httpc_config *cfg,
                        char *err, size_t errlen);
/* Stops every request still in flight (their callbacks never run; their
 * owners have cancelled them by then) and frees the client. NULL is
 * fine. */
void httpc_free(struct httpc *c);
/* Requests in flight. */
unsigned httpc_inflight(const struct httpc *c);

/* See jobq_http_start in handler.h. */
int httpc_start(struct httpc *c, const jobq_http_request *req,
                jobq_http_done_fn cb, void *arg, jobq_http **out, char *err,
                size_t errlen);
/* See jobq_http_cancel. NULL is fine. */
void httpc_cancel(jobq_http *t);
#endif
