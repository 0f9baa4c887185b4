/* Handler registry: job type -> handler. Filled at start, read-only after,
 * so pool threads may read it without locks. */
#ifndef JOBQ_REGISTRY_H
#define JOBQ_REGISTRY_H

#include <jobq/handler.h>

#define REGISTRY_MAX 256

struct jobq_registry {
    int n;
    jobq_handler h[REGISTRY_MAX];
};

void registry_init(struct jobq_registry *reg);
const jobq_handler *registry_find(const struct jobq_registry *reg,
                                  const char *type, size_t len);

/* Built-in handler families (worker/handlers/). */
void handlers_users_register(struct jobq_registry *reg);
void handlers_data_register(struct jobq_registry *reg);
void handlers_timer_register(struct jobq_registry *reg);
#endif
