/* Stats (see stats.h). A row is found by a walk over at most
 * STATS_TYPES_MAX per queue: a few string compares per finished job. */
#include "stats.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

const double stats_duration_bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05,
                                        0.1,   0.25,  0.5,  1,     2.5,
                                        5,     10,    30,   60,    300};
const int stats_duration_nbounds =
    (int)(sizeof(stats_duration_bounds) / sizeof(stats_duration_bounds[0]));

struct squeue {
    /* STATS_TYPES_MAX named rows, then the one for STATS_TYPE_OTHER */
    struct stats_row rows[STATS_TYPES_MAX + 1];
    unsigned n;
};

struct stats {
    int nq;
    struct squeue *q;
};

struct stats *stats_new(int nqueues)
{
    struct stats *s = xcalloc(1, sizeof(*s));
    s->nq = nqueues;
    s->q = xcalloc((size_t)(nqueues > 0 ? nqueues : 1), sizeof(*s->q));
    return s;
}

void stats_free(struct stats *s)
{
    if (!s)
        return;
    free(s->q);
    free(s);
}

static struct stats_row *row_for(struct squeue *q, const char *type, size_t len)
{
    if (len > STATS_TYPE_BYTES)
        len = STATS_TYPE_BYTES;
    for (unsigned i = 0; i < q->n; i++)
        if (strlen(q->rows[i].type) == len &&
            memcmp(q->rows[i].type, type, len) == 0)
            return &q->rows[i];
    if (q->n < STATS_TYPES_MAX) {
        struct stats_row *r = &q->rows[q->n++];
        memcpy(r->type, type, len);
        r->type[len] = 0;
        return r;
    }
    struct stats_row *other = &q->rows[STATS_TYPES_MAX];
    if (!other->type[0])
        memcpy(other->type, STATS_TYPE_OTHER, sizeof(STATS_TYPE_OTHER));
    return other;
}

void stats_job(struct stats *s, int qi, const char *type, size_t len,
               enum stats_outcome o, double seconds)
{
    if (qi < 0 || qi >= s->nq)
        return;
    /* A type with a NUL byte would read as a shorter one: count it as
     * the unknown type rather than as another job's. */
    if (!type || !len || memchr(type, 0, len)) {
        type = STATS_TYPE_UNKNOWN;
        len = strlen(STATS_TYPE_UNKNOWN);
    }
    struct stats_row *r = row_for(&s->q[qi], type, len);
    r->n[o]++;
    if (seconds >= 0)
        histo_observe(&r->duration, stats_duration_bounds,
                      stats_duration_nbounds, seconds);
}

unsigned stats_rows(const struct stats *s, int qi,
                    const struct stats_row **rows)
{
    const struct squeue *q = &s->q[qi];
    *rows = q->rows;
    /* The "other" row follows the named ones once it is in use. */
    if (q->n == STATS_TYPES_MAX && q->rows[STATS_TYPES_MAX].type[0])
        return STATS_TYPES_MAX + 1;
    return q->n;
}

const char *stats_outcome_name(enum stats_outcome o)
{
    static const char *const names[STATS__N] = {"ok", "retry", "dead", "late"};
    return names[o];
}
