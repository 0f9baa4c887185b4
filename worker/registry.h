/* Handler registry: job type -> handler. Filled at start (built-ins, then
 * plugins), read-only after, so pool threads may read it without locks.
 * It also holds what handlers may ask the worker for at init and at run
 * time through handler.h: the settings lookup and the loop's services. */
#ifndef JOBQ_REGISTRY_H
#define JOBQ_REGISTRY_H

#include <jobq/handler.h>

#define REGISTRY_MAX 256
#define REGISTRY_ERR_MAX 256

/* Finds the operator's setting key for job type type, or NULL; the string
 * must live as long as the registry. arg is the one given with it. With
 * type NULL, key names one of the worker's own settings (a secret one is
 * NULL). */
typedef const char *(*registry_lookup_fn)(void *arg, const char *type,
                                          const char *key);

struct plugin; /* plugins.c */
struct httpc;  /* httpc.c */
struct event_base;
struct evdns_base;

struct jobq_registry {
    int n;
    jobq_handler h[REGISTRY_MAX];
    /* jobq_register calls refused so far, and why the last one was: a
     * loader tells an init that ignored a refusal from one that did not. */
    int refused, refused_rc;
    char err[REGISTRY_ERR_MAX];
    registry_lookup_fn lookup; /* NULL: no settings */
    void *lookup_arg;
    struct event_base *base; /* borrowed: the loop, for plugins at init */
    struct evdns_base *dns;  /* borrowed from net.c; NULL: none */
    struct plugin *plugins;  /* plugins.c: loaded objects, newest first */
    struct httpc *http;      /* borrowed: jobq_http_start's client; NULL */
};

/* registry_clear, then the built-ins. Returns JOBQ_OK, or the code of the
 * first built-in family that failed, with the reason in reg->err (a bug:
 * built-ins never collide). */
int registry_init(struct jobq_registry *reg);
/* An empty registry: no handlers, no lookup, no loop. */
void registry_clear(struct jobq_registry *reg);
/* Registers every built-in family (worker/handlers/builtin.c), in order,
 * each through its init exactly as a plugin's. */
int registry_add_builtins(struct jobq_registry *reg);

/* Wiring, by the daemon. The lookup serves jobq_setting(), so set it
 * before anything registers that reads settings (registry_clear, set,
 * registry_add_builtins, then plugins). */
void registry_set_settings_lookup(struct jobq_registry *reg,
                                  registry_lookup_fn fn, void *arg);
/* What jobq_loop() and jobq_dns() return to io handlers. */
void registry_set_loop(struct jobq_registry *reg, struct event_base *base,
                       struct evdns_base *dns);

/* What jobq_http_start() uses; NULL: the service is not offered. */
void registry_set_http(struct jobq_registry *reg, struct httpc *http);

const jobq_handler *registry_find(const struct jobq_registry *reg,
                                  const char *type, size_t len);
/* Drops handlers [from, from + count): a plugin's, on failed init or at
 * unload. Only while no job runs (contexts point into the table). */
void registry_drop(struct jobq_registry *reg, int from, int count);
#endif
