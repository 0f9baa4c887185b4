/* Redis key names for a prefix and a queue, per protocol.md. Every key of
 * a queue carries the hash tag {Q} so one script may touch them all. */
#ifndef JOBQ_KEYS_H
#define JOBQ_KEYS_H

#include <stddef.h>

#define KEYS_MAX 256 /* prefix (<=64) + queue (<=64) + suffix + id (<=64) */

struct keys {
    char pending[KEYS_MAX], active[KEYS_MAX], delayed[KEYS_MAX], dead[KEYS_MAX],
        workers[KEYS_MAX], stats[KEYS_MAX], events[KEYS_MAX], clock[KEYS_MAX],
        active_prefix[KEYS_MAX], result_prefix[KEYS_MAX];
    char published_prefix[KEYS_MAX]; /* P:{Q}:published: (notify.publish) */
};

/* Fills k for prefix P, queue Q and worker W. */
void keys_init(struct keys *k, const char *prefix, const char *queue,
               const char *worker);

/* P:{Q}:result:ID into buf; returns the length. */
size_t keys_result(const struct keys *k, const char *id, size_t idlen,
                   char *buf, size_t buflen);
#endif
