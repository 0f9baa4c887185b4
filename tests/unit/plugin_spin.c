/* A misbehaving io handler for the loop-lag watchdog's test
 * (tests/integration/test_surface.py): type test.spin holds the event loop
 * for SPIN_MS in its start(), which no real io handler may do. Compiled
 * with include/ alone, loaded with --plugin. */
#include <jobq/handler.h>
#include <time.h>

JOBQ_PLUGIN_DECLARE();

#define SPIN_MS 200

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void spin_start(jobq_ctx *ctx)
{
    long long until = now_ms() + SPIN_MS;
    while (now_ms() < until)
        ; /* the point: the loop is held */
    msgpack_packer *pk = jobq_packer(ctx);
    msgpack_pack_map(pk, 1);
    jobq_pack_cstr(pk, "spun_ms");
    msgpack_pack_int(pk, SPIN_MS);
    jobq_done(ctx);
}

static void spin_cancel(jobq_ctx *ctx)
{
    (void)ctx;
}

int jobq_plugin_init(jobq_registry *reg, int api_version)
{
    if (api_version != JOBQ_HANDLER_API_VERSION)
        return JOBQ_EVERSION;
    jobq_handler h = {.type = "test.spin",
                      .cls = JOBQ_CLASS_IO,
                      .start = spin_start,
                      .cancel = spin_cancel};
    return jobq_register(reg, &h);
}
