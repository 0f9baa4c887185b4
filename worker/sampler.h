/* Sampler: what the served queues hold, read from Redis for the operator's
 * surface (/metrics, the dashboard, the API): depths, the oldest pending
 * job's age, the paused flag, the queue's counters and its workers. One
 * SAMPLE script per queue, all pipelined on the command connection (one
 * round trip), and at most one round per SAMPLER_INTERVAL_MS however
 * often it is asked: a scrape every 10 ms costs Redis what one a second
 * does. Loop thread only. */
#ifndef JOBQ_SAMPLER_H
#define JOBQ_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

#include "worker.h"

#define SAMPLER_INTERVAL_MS 1000
/* Workers listed per queue (their frames held are summed into active). */
#define SAMPLER_WORKERS_MAX 256

struct sampler_worker {
    char id[65];
    uint64_t deadline_ms; /* heartbeat deadline, on Redis' clock */
    uint64_t active;      /* frames in its active list */
};

struct sampler_queue {
    bool valid;     /* a sample has landed */
    uint64_t at_ms; /* Redis' clock when it was read */
    uint64_t pending, delayed, active, dead;
    int64_t oldest_age_ms; /* -1: pending is empty */
    bool paused;
    /* P:{Q}:stats, and their rates over the last two samples (per s). */
    uint64_t processed, failed, retried, deaths;
    double processed_rate, failed_rate;
    struct sampler_worker *workers; /* owned */
    unsigned nworkers;
};

struct sampler;

struct sampler *sampler_new(struct worker *w);
void sampler_free(struct sampler *s);

/* fn(arg) runs once, when the samples are as fresh as the interval allows:
 * at once when the last round is recent or Redis is away (the last ones
 * kept), else when the round started (or already out) lands. */
typedef void (*sampler_fn)(void *arg);
void sampler_want(struct sampler *s, sampler_fn fn, void *arg);
/* A change (retry, purge, pause) made the samples stale: the next want
 * starts a round whatever the interval. */
void sampler_stale(struct sampler *s);

/* Queue qi's last sample, borrowed. */
const struct sampler_queue *sampler_queue(const struct sampler *s, int qi);
/* Rounds sent so far (the scrape-cost test counts them). */
uint64_t sampler_rounds(const struct sampler *s);
#endif
