/* How the HTTP surface's answers come back: a route's producer (metrics,
 * the API) may answer at once or after a Redis reply, through this. The
 * body is the callee's to free after the call. */
#ifndef JOBQ_SURFACE_H
#define JOBQ_SURFACE_H

struct evbuffer;

typedef void (*surface_done_fn)(void *arg, int code, const char *type,
                                struct evbuffer *body);
#endif
