/* Backoff arithmetic (see backoff.h). */
#include "backoff.h"

#include <sodium.h>

uint64_t backoff_delay_ms(uint64_t base, uint64_t max, unsigned k, double u)
{
    uint64_t d = base;
    for (unsigned i = 1; i < k && d < max; i++)
        d = d > UINT64_MAX / 2 ? UINT64_MAX : d * 2;
    if (d > max)
        d = max;
    uint64_t half = d / 2;
    return half + (uint64_t)((double)(d - half) * u);
}

double backoff_draw(void)
{
    return (double)randombytes_uniform(1u << 30) / (double)(1u << 30);
}
