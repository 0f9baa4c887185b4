/* Key names (see keys.h). */
#include "keys.h"

#include <stdio.h>

void keys_init(struct keys *k, const char *p, const char *q, const char *w)
{
    snprintf(k->pending, KEYS_MAX, "%s:{%s}:pending", p, q);
    snprintf(k->active, KEYS_MAX, "%s:{%s}:active:%s", p, q, w);
    snprintf(k->active_prefix, KEYS_MAX, "%s:{%s}:active:", p, q);
    snprintf(k->delayed, KEYS_MAX, "%s:{%s}:delayed", p, q);
    snprintf(k->dead, KEYS_MAX, "%s:{%s}:dead", p, q);
    snprintf(k->workers, KEYS_MAX, "%s:{%s}:workers", p, q);
    snprintf(k->stats, KEYS_MAX, "%s:{%s}:stats", p, q);
    snprintf(k->events, KEYS_MAX, "%s:{%s}:events", p, q);
    snprintf(k->clock, KEYS_MAX, "%s:{%s}:clock", p, q);
    snprintf(k->result_prefix, KEYS_MAX, "%s:{%s}:result:", p, q);
    snprintf(k->published_prefix, KEYS_MAX, "%s:{%s}:published:", p, q);
}

size_t keys_result(const struct keys *k, const char *id, size_t idlen,
                   char *buf, size_t buflen)
{
    int n = snprintf(buf, buflen, "%s%.*s", k->result_prefix, (int)idlen, id);
    return n < 0 ? 0 : (size_t)n < buflen ? (size_t)n : buflen - 1;
}
