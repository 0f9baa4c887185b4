/* Wall-clock milliseconds (records, scores) and monotonic ones (timers). */
#ifndef JOBQ_CLOCK_H
#define JOBQ_CLOCK_H
#include <stdint.h>
#include <sys/time.h>

uint64_t clock_wall_ms(void);
uint64_t clock_mono_ms(void);
uint64_t clock_mono_ns(void);
/* A duration in ms as the struct timeval libevent timers take. */
struct timeval clock_timeval(uint64_t ms);
#endif
