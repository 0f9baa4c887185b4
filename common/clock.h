/* Wall-clock milliseconds (records, scores) and monotonic ones (timers). */
#ifndef JOBQ_CLOCK_H
#define JOBQ_CLOCK_H
#include <stdint.h>
uint64_t clock_wall_ms(void);
uint64_t clock_mono_ms(void);
#endif
