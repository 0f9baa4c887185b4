/* Exponential backoff with jitter, shared by job retries and reconnects. */
#ifndef JOBQ_BACKOFF_H
#define JOBQ_BACKOFF_H
#include <stdint.h>

/* Delay before try k (k >= 1): base * 2^(k-1) capped at max, then jittered
 * into [d/2, d] ("equal jitter": never zero, spreads a thundering herd).
 * u is a uniform draw in [0, 1). */
uint64_t backoff_delay_ms(uint64_t base, uint64_t max, unsigned k, double u);

/* A uniform draw in [0, 1) from libsodium's generator. */
double backoff_draw(void);
#endif
