/* An example handler plugin, built out of the jobq tree against the
 * installed <jobq/handler.h> (see Makefile): the cpu handler
 * example.sum_squares, which answers {"sum": <sum of i*i for i < n>}, as
 * the built-in math.sum_squares does (jobq-worker --plugin
 * ./sum_squares.so). The type can be renamed with
 * [handler.example.sum_squares] type = NAME. */
#include <jobq/handler.h>
#include <stdio.h>

JOBQ_PLUGIN_DECLARE(); /* jobq_plugin_api_version, checked before init */

/* Beyond this n the sum no longer fits 64 bits: the answer is then a
 * decimal string, computed in 128 bits (n is bounded so that holds). */
#define N_MAX 100000000ull

static char type[129] = "example.sum_squares";

static int sum_squares(jobq_ctx *ctx)
{
    uint64_t n;
    if (jobq_arg_uint(ctx, "n", &n) != JOBQ_OK || n > N_MAX) {
        jobq_fail(ctx, JOBQ_PERMANENT, "n must be a whole number up to %llu",
                  N_MAX);
        return -1;
    }
    /* sum of i*i for i < n is (n-1)n(2n-1)/6 */
    unsigned __int128 s =
        n ? (unsigned __int128)(n - 1) * n * (2 * n - 1) / 6 : 0;
    msgpack_packer *pk = jobq_packer(ctx);
    msgpack_pack_map(pk, 1);
    jobq_pack_cstr(pk, "sum");
    if (s <= UINT64_MAX) {
        msgpack_pack_uint64(pk, (uint64_t)s);
    } else {
        char buf[48], *p = buf + sizeof(buf);
        *--p = 0;
        for (; s; s /= 10)
            *--p = (char)('0' + (int)(s % 10));
        jobq_pack_cstr(pk, p);
    }
    return 0;
}

JOBQ_EXPORT int jobq_plugin_init(jobq_registry *reg, int api_version)
{
    if (api_version != JOBQ_HANDLER_API_VERSION)
        return JOBQ_EVERSION;
    const char *t = jobq_setting(reg, "example.sum_squares", "type");
    if (t)
        snprintf(type, sizeof(type), "%s", t);
    jobq_handler h = {.type = type, .cls = JOBQ_CLASS_CPU, .cpu = sum_squares};
    return jobq_register(reg, &h);
}
