/* Handler registry (see registry.h). A linear scan: a worker serves a few
 * dozen types and the compare is a length check first. */
#include "registry.h"

#include <string.h>

int jobq_register(jobq_registry *reg, const jobq_handler *h)
{
    if (!h->type || !*h->type || strlen(h->type) > 128 ||
        reg->n >= REGISTRY_MAX)
        return -1;
    if ((h->cls == JOBQ_CLASS_CPU && !h->cpu) ||
        (h->cls == JOBQ_CLASS_IO && (!h->start || !h->cancel)))
        return -1;
    if (registry_find(reg, h->type, strlen(h->type)))
        return -1;
    reg->h[reg->n++] = *h;
    return 0;
}

void registry_init(struct jobq_registry *reg)
{
    memset(reg, 0, sizeof(*reg));
    handlers_users_register(reg);
    handlers_data_register(reg);
    handlers_timer_register(reg);
}

const jobq_handler *registry_find(const struct jobq_registry *reg,
                                  const char *type, size_t len)
{
    for (int i = 0; i < reg->n; i++)
        if (strlen(reg->h[i].type) == len &&
            memcmp(reg->h[i].type, type, len) == 0)
            return &reg->h[i];
    return NULL;
}
