/* The one way back to the loop thread: a mutex-protected completion queue
 * plus an eventfd. A push that finds the queue empty wakes the loop once;
 * the loop drains the whole queue per wake-up, so a burst of completions
 * costs one wake-up (memcached's cq_push plus notify pipe). */
#ifndef JOBQ_HANDOFF_H
#define JOBQ_HANDOFF_H

#include <stddef.h>

#include "task.h"

struct event_base;
struct handoff;

/* deliver runs on the loop thread for each task, in push order. */
struct handoff *handoff_new(struct event_base *base,
                            void (*deliver)(struct task *t, void *arg),
                            void *arg);
void handoff_free(struct handoff *h);

/* Any thread. */
void handoff_push(struct handoff *h, struct task *t);

/* Wake-ups so far (the loop read the eventfd), for tests and metrics. */
unsigned long handoff_wakeups(const struct handoff *h);
#endif
