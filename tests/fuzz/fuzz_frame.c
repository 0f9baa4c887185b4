/* libFuzzer: frame and job decoding must reject or accept any bytes
 * without reading out of bounds, leaking, or trusting a length. */
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct frame_limits lim = {1 << 20, 65536, 262144};
    struct frame f = {0};
    struct job j = {0};
    char err[FRAME_ERROR_MAX];
    if (frame_decode((const char *)data, size, &lim, &f, err, sizeof(err)) !=
        0) {
        frame_free(&f);
        return 0;
    }
    if (job_decode(&f, &lim, &j, err, sizeof(err)) == 0)
        (void)mp_map_get(j.args, "username");
    job_free(&j);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    frame_encode_retry(&sb, &f, f.attempt + 1, "e", 1, 1);
    struct frame g = {0};
    /* A retry frame of a valid frame must itself decode. */
    if (frame_decode(sb.data, sb.size, &(struct frame_limits){SIZE_MAX, 0, 0},
                     &g, err, sizeof(err)) != 0)
        __builtin_trap();
    frame_free(&g);
    msgpack_sbuffer_destroy(&sb);
    frame_free(&f);
    return 0;
}
