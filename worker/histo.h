/* A Prometheus histogram kept on the loop thread: counts per upper bound
 * (the bounds are the caller's, fixed per family), their count and sum.
 * Written out cumulatively, as the text format wants. */
#ifndef JOBQ_HISTO_H
#define JOBQ_HISTO_H

#include <stdint.h>

#define HISTO_BOUNDS_MAX 16

struct histo {
    uint64_t le[HISTO_BOUNDS_MAX]; /* observations <= bound i, not summed */
    uint64_t count;
    double sum;
};

/* Bounds: ascending, at most HISTO_BOUNDS_MAX; +Inf is implicit. */
static inline void histo_observe(struct histo *h, const double *bounds,
                                 int nbounds, double v)
{
    for (int i = 0; i < nbounds; i++)
        if (v <= bounds[i]) {
            h->le[i]++;
            break;
        }
    h->count++;
    h->sum += v;
}
#endif
