/* Loading plugins (see plugins.h). A plugin's handlers are a contiguous run
 * of the registry (loads happen one at a time), so refusing or unloading a
 * plugin drops its run. */
#include "plugins.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

struct plugin {
    struct plugin *next;
    void *dl;
    char *path;
    int first, count; /* its handlers in the registry */
};

/* A function pointer from dlsym: POSIX guarantees the conversion. */
static jobq_plugin_init_fn init_symbol(void *dl)
{
    jobq_plugin_init_fn fn;
    void *p = dlsym(dl, JOBQ_PLUGIN_INIT_SYMBOL);
    memcpy(&fn, &p, sizeof(fn));
    return p ? fn : NULL;
}

/* Closes dl (when open) and says why path was refused. */
static int refuse(void *dl, int rc, char *err, size_t errlen, const char *path,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int refuse(void *dl, int rc, char *err, size_t errlen, const char *path,
                  const char *fmt, ...)
{
    char why[REGISTRY_ERR_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "plugin %s: %s", path, why);
    if (dl)
        dlclose(dl);
    return rc;
}

int plugins_load(struct jobq_registry *reg, const char *path, char *err,
                 size_t errlen)
{
    dlerror();
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *e = dlerror();
        return refuse(NULL, JOBQ_ELOAD, err, errlen, path, "%s",
                      e ? e : "dlopen failed");
    }
    const int *version = dlsym(dl, JOBQ_PLUGIN_VERSION_SYMBOL);
    if (!version)
        return refuse(dl, JOBQ_ELOAD, err, errlen, path,
                      "no %s symbol (JOBQ_PLUGIN_DECLARE() missing?)",
                      JOBQ_PLUGIN_VERSION_SYMBOL);
    if (*version != JOBQ_HANDLER_API_VERSION)
        return refuse(dl, JOBQ_EVERSION, err, errlen, path,
                      "built for handler API version %d, but this worker "
                      "speaks version %d: rebuild it against this worker's "
                      "jobq/handler.h",
                      *version, JOBQ_HANDLER_API_VERSION);
    jobq_plugin_init_fn init = init_symbol(dl);
    if (!init)
        return refuse(dl, JOBQ_ELOAD, err, errlen, path, "no %s function",
                      JOBQ_PLUGIN_INIT_SYMBOL);

    int first = reg->n, refused = reg->refused;
    int rc = init(reg, JOBQ_HANDLER_API_VERSION);
    bool was_refused = reg->refused != refused;
    if (rc == JOBQ_OK && was_refused)
        rc = reg->refused_rc; /* an init that ignored a refusal */
    if (rc != JOBQ_OK) {
        /* Its handlers point into the object about to be closed. */
        registry_drop(reg, first, reg->n - first);
        if (rc > 0)
            rc = JOBQ_EINIT;
        return refuse(dl, rc, err, errlen, path, "init failed: %s",
                      was_refused ? reg->err : jobq_strerror(rc));
    }

    struct plugin *p = xcalloc(1, sizeof(*p));
    p->dl = dl;
    p->path = xstrdup(path);
    p->first = first;
    p->count = reg->n - first;
    p->next = reg->plugins;
    reg->plugins = p;
    return JOBQ_OK;
}

void plugins_unload_all(struct jobq_registry *reg)
{
    /* Newest first: a later plugin's run sits after an earlier one's, so
     * dropping it leaves the earlier indices as they were. */
    while (reg->plugins) {
        struct plugin *p = reg->plugins;
        reg->plugins = p->next;
        registry_drop(reg, p->first, p->count);
        dlclose(p->dl);
        free(p->path);
        free(p);
    }
}
