/* Plugins: handler families in shared objects, loaded at start and written
 * against include/jobq/handler.h alone (docs/handlers.md). Their handlers go
 * into the registry like the built-ins'. Loop thread, before jobs run. */
#ifndef JOBQ_PLUGINS_H
#define JOBQ_PLUGINS_H

#include <stddef.h>

#include "registry.h"

/* Loads the shared object at path (dlopen, RTLD_NOW | RTLD_LOCAL), checks
 * its jobq_plugin_api_version against JOBQ_HANDLER_API_VERSION and calls
 * its jobq_plugin_init. Returns JOBQ_OK, or a negative code with the reason
 * in err: JOBQ_ELOAD (dlopen failed, a symbol missing), JOBQ_EVERSION
 * (built for another API version), or init's own failure (JOBQ_EEXIST when
 * it registered a type already served, JOBQ_EINIT when it failed without a
 * code). Whatever a refused plugin registered is dropped and it is closed;
 * a refusal by jobq_register during init refuses the plugin even when its
 * init ignored it. The registry keeps the object open until
 * plugins_unload_all. */
int plugins_load(struct jobq_registry *reg, const char *path, char *err,
                 size_t errlen);

/* Drops every plugin's handlers from reg and closes the objects, newest
 * first. Only when no job is running. */
void plugins_unload_all(struct jobq_registry *reg);
#endif
