// The public headers together, as C++: extern "C" linkage (this links
// against the C worker library), no clashing names, and a plugin's
// JOBQ_PLUGIN_DECLARE() defining the version with C linkage.
#include <jobq/handler.h>
#include <jobq/jobq.h>

#include <cstdio>
#include <cstring>

JOBQ_PLUGIN_DECLARE();

static int cpu(jobq_ctx *ctx)
{
    jobq_pack_cstr(jobq_packer(ctx), "from C++");
    return 0;
}

// A plugin written in C++: the init as the docs show it.
JOBQ_EXPORT int jobq_plugin_init(jobq_registry *reg, int api_version)
{
    jobq_handler h = {};
    h.type = "cxx.hello";
    h.cls = JOBQ_CLASS_CPU;
    h.cpu = cpu;
    return api_version == JOBQ_HANDLER_API_VERSION ? jobq_register(reg, &h)
                                                   : JOBQ_EVERSION;
}

int main()
{
    jobq_handler h = {};
    h.type = "cxx.hello";
    h.cls = JOBQ_CLASS_CPU;
    h.cpu = cpu;
    int (*result)(jobq_client *, const char *, const char *, uint64_t, char **,
                  size_t *, char *, size_t) = jobq_result;
    jobq_plugin_init_fn init = jobq_plugin_init;
    if (!result || !h.cpu || !init || jobq_plugin_api_version != 2 ||
        std::strcmp(jobq_strerror(JOBQ_EEXIST), "already registered") != 0 ||
        jobq_now_ms() == 0) {
        std::fprintf(stderr, "headers (C++): unexpected\n");
        return 1;
    }
    return 0;
}
