/* Finish: sends outcomes to Redis, one FINISH script per queue for every
 * batch of outcomes that completed in one loop turn (result, reply_to,
 * stats, event, notify and the removal from active, atomically). While
 * Redis is away the outcomes are held and re-sent; a re-sent outcome that
 * already landed is fenced by the script (its frame is gone from active),
 * so re-sending is always safe. Loop thread only. */
#ifndef JOBQ_FINISH_H
#define JOBQ_FINISH_H

#include <stdbool.h>
#include <stdint.h>

#include "jobctx.h"
#include "worker.h"

/* Outcomes held unacknowledged (Redis away) before fetching pauses. */
#define FINISH_BACKLOG_MAX 4096
/* Outcomes per finishing script call. */
#define FINISH_BATCH_MAX 256
/* How soon a batch Redis refused or lost is sent again. */
#define FINISH_RETRY_MS 200

struct finish;

struct finish *finish_new(struct worker *w);
void finish_free(struct finish *f);

/* Takes ctx (settled); frees it once Redis acknowledged it. */
void finish_add(struct finish *f, struct jobq_ctx *ctx);
/* The tick, and Redis back: send what is held. */
void finish_flush(struct finish *f);

/* Outcomes not yet acknowledged, all of them / but for those of queues
 * whose last batch Redis refused (held apart: they take nothing from the
 * other queues' fetching). */
unsigned finish_held(const struct finish *f);
unsigned finish_backlog(const struct finish *f);
/* Queue qi's last batch was refused: fetch leaves it aside. */
bool finish_queue_broken(const struct finish *f, int qi);

struct finish_counts {
    uint64_t ok, retry, dead, late, skip;
};
void finish_counts(const struct finish *f, struct finish_counts *out);
#endif
