/* The JSON API under /api/ (docs/api.md): reads of the served queues, their
 * dead records and workers, and the operator's changes (retry dead jobs,
 * purge, pause, resume), each an atomic script or command through
 * worker/redis.c, never blocking the loop. Every change needs the
 * admin-token as a bearer token, compared in constant time; without one
 * configured, changes are refused. Loop thread only. */
#ifndef JOBQ_API_H
#define JOBQ_API_H

#include <stddef.h>

#include "surface.h"
#include "worker.h"

/* Dead records one GET returns by default, and at most. */
#define API_DEAD_LIMIT_DEFAULT 50
#define API_DEAD_LIMIT_MAX 1000
/* A dead record longer than this is shown by its length, and a read of
 * the dead list stops after about this many bytes of records (a dead
 * record keeps its frame whole, and a producer chose the frame). */
#define API_DEAD_RECORD_MAX (64 * 1024)
#define API_DEAD_BYTES_MAX (1024 * 1024)
/* Largest request body read (a list of ids to retry). */
#define API_BODY_MAX 65536
/* Most ids one retry names. */
#define API_RETRY_IDS_MAX 1000

enum api_method { API_GET, API_POST, API_OTHER };

struct api_request {
    enum api_method method;
    const char *path;  /* without the query */
    const char *query; /* NULL: none */
    const char *auth;  /* the Authorization header, NULL: none */
    const char *body;
    size_t bodylen;
};

struct api;

struct api *api_new(struct worker *w);
void api_free(struct api *a);

/* Answers rq through done, at once or once Redis has. */
void api_handle(struct api *a, const struct api_request *rq,
                surface_done_fn done, void *arg);
#endif
