/* Stats: what this worker did, by queue and job type: outcomes counted and
 * attempt durations in histograms, for /metrics and the API. Fed by finish
 * (one call per outcome Redis acknowledged); read by the HTTP surface.
 * Job types are strings a producer chooses, so each queue keeps at most
 * STATS_TYPES_MAX of them and counts the rest under STATS_TYPE_OTHER: a
 * hostile producer grows neither memory nor the scrape. Loop thread only. */
#ifndef JOBQ_STATS_H
#define JOBQ_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "histo.h"

#define STATS_TYPES_MAX 64
#define STATS_TYPE_OTHER "other"
/* What a job's type is counted as when its frame could not be read. */
#define STATS_TYPE_UNKNOWN "unknown"
/* Longest type kept (protocol.md: a type is 1 to 128 bytes). */
#define STATS_TYPE_BYTES 128

enum stats_outcome { STATS_OK, STATS_RETRY, STATS_DEAD, STATS_LATE, STATS__N };

/* Upper bounds of jobq_job_duration_seconds, in seconds. */
extern const double stats_duration_bounds[];
extern const int stats_duration_nbounds;

struct stats_row {
    char type[STATS_TYPE_BYTES + 1];
    uint64_t n[STATS__N];
    struct histo duration; /* attempts that ran a handler */
};

struct stats;

struct stats *stats_new(int nqueues);
void stats_free(struct stats *s);

/* One outcome of queue qi for a job of this type (NULL: unreadable).
 * seconds < 0: no handler ran (a rejected frame, a late finish). */
void stats_job(struct stats *s, int qi, const char *type, size_t len,
               enum stats_outcome o, double seconds);

/* Queue qi's rows, borrowed until the next stats_job; returns how many. */
unsigned stats_rows(const struct stats *s, int qi,
                    const struct stats_row **rows);
const char *stats_outcome_name(enum stats_outcome o);
#endif
