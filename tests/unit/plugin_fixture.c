/* A tiny plugin for test_handlers_plugins, built several ways (see
 * CMakeLists.txt): FIXTURE_VERSION is the API version it claims,
 * FIXTURE_TYPE the job type it serves. Compiled with include/ alone. */
#include <jobq/handler.h>
#include <stdio.h>

#ifndef FIXTURE_VERSION
JOBQ_PLUGIN_DECLARE();
#else
const int jobq_plugin_api_version = FIXTURE_VERSION;
#endif

/* Answers {"greeting": <the greeting setting>}. */
static int hello(jobq_ctx *ctx)
{
    const char *greeting = jobq_handler_data(ctx);
    msgpack_packer *pk = jobq_packer(ctx);
    msgpack_pack_map(pk, 1);
    jobq_pack_cstr(pk, "greeting");
    jobq_pack_cstr(pk, greeting);
    return 0;
}

static char greeting[64] = "hello";

int jobq_plugin_init(jobq_registry *reg, int api_version)
{
    if (api_version != JOBQ_HANDLER_API_VERSION)
        return JOBQ_EVERSION;
    const char *g = jobq_setting(reg, FIXTURE_TYPE, "greeting");
    if (g)
        snprintf(greeting, sizeof(greeting), "%s", g);
    jobq_handler h = {.type = FIXTURE_TYPE,
                      .cls = JOBQ_CLASS_CPU,
                      .cpu = hello,
                      .data = greeting};
    int rc = jobq_register(reg, &h);
#ifdef FIXTURE_IGNORE_REFUSAL
    (void)rc;
    return JOBQ_OK;
#else
    return rc;
#endif
}
