/* Handler registry (see registry.h). A linear scan: a worker serves a few
 * dozen types and the compare is a length check first. */
#include "registry.h"

#include <stdio.h>
#include <string.h>

#include "handlers/builtin.h"

#define TYPE_MAX 128

static int refuse(jobq_registry *reg, int rc, const char *type, const char *why)
{
    reg->refused++;
    reg->refused_rc = rc;
    snprintf(reg->err, sizeof(reg->err), "type \"%.*s\": %s", TYPE_MAX,
             type ? type : "(null)", why);
    return rc;
}

int jobq_register(jobq_registry *reg, const jobq_handler *h)
{
    if (!h || !h->type || !*h->type || strlen(h->type) > TYPE_MAX)
        return refuse(reg, JOBQ_EINVAL, h ? h->type : NULL,
                      "a type is 1 to 128 bytes");
    if (h->cls == JOBQ_CLASS_CPU  ? !h->cpu
        : h->cls == JOBQ_CLASS_IO ? !h->start || !h->cancel
                                  : 1)
        return refuse(reg, JOBQ_EINVAL, h->type,
                      "a cpu handler needs cpu, an io one start and cancel");
    if (registry_find(reg, h->type, strlen(h->type)))
        return refuse(reg, JOBQ_EEXIST, h->type, "already registered");
    if (reg->n >= REGISTRY_MAX)
        return refuse(reg, JOBQ_ENOSPC, h->type,
                      "the registry is full (256 types)");
    reg->h[reg->n++] = *h;
    return JOBQ_OK;
}

const char *jobq_setting(const jobq_registry *reg, const char *type,
                         const char *key)
{
    if (!reg || !reg->lookup || !type || !key)
        return NULL;
    return reg->lookup(reg->lookup_arg, type, key);
}

const char *jobq_worker_setting(const jobq_registry *reg, const char *name)
{
    if (!reg || !reg->lookup || !name)
        return NULL;
    return reg->lookup(reg->lookup_arg, NULL, name);
}

void registry_clear(struct jobq_registry *reg)
{
    memset(reg, 0, sizeof(*reg));
}

int registry_add_builtins(struct jobq_registry *reg)
{
    int refused = reg->refused;
    for (size_t i = 0; i < builtin_families_n; i++) {
        int rc = builtin_families[i](reg, JOBQ_HANDLER_API_VERSION);
        if (rc != JOBQ_OK)
            return rc;
    }
    /* A family that ignored a refusal still broke the table. */
    return reg->refused != refused ? reg->refused_rc : JOBQ_OK;
}

int registry_init(struct jobq_registry *reg)
{
    registry_clear(reg);
    return registry_add_builtins(reg);
}

void registry_set_settings_lookup(struct jobq_registry *reg,
                                  registry_lookup_fn fn, void *arg)
{
    reg->lookup = fn;
    reg->lookup_arg = arg;
}

void registry_set_loop(struct jobq_registry *reg, struct event_base *base,
                       struct evdns_base *dns)
{
    reg->base = base;
    reg->dns = dns;
}

void registry_set_http(struct jobq_registry *reg, struct httpc *http)
{
    reg->http = http;
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

void registry_drop(struct jobq_registry *reg, int from, int count)
{
    if (from < 0 || count <= 0 || from >= reg->n)
        return;
    if (count > reg->n - from)
        count = reg->n - from;
    memmove(&reg->h[from], &reg->h[from + count],
            sizeof(reg->h[0]) * (size_t)(reg->n - from - count));
    reg->n -= count;
    memset(&reg->h[reg->n], 0, sizeof(reg->h[0]) * (size_t)count);
}
