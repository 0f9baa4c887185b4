/* A unit of work that crosses threads: embedded in the object it stands
 * for, so the handoff never allocates. */
#ifndef JOBQ_TASK_H
#define JOBQ_TASK_H

#include <stddef.h>

struct task {
    struct task *next;
    void (*run)(struct task *t); /* called on a pool thread */
};

#define container_of(p, type, member)                                          \
    ((type *)((char *)(p)-offsetof(type, member)))
#endif
