/* libFuzzer: frame and job decoding must reject or accept any bytes
 * without reading out of bounds, leaking, or trusting a length. */
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct frame_limits lim = {1 << 20, 65536, 262144};
    struct frame f;
    struct job j;
    char err[FRAME_ERROR_MAX];
    if (frame_decode((const char *)data, size, &lim, &f, err, sizeof(err)) != 0)
        return 0;
    if (job_decode(&f, &lim, &j, err, sizeof(err)) == 0) {
        (void)mp_map_get(j.args, "username");
        job_release(&j);
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    frame_encode_retry(&sb, &f, f.attempt + 1, "e", 1, 1);
    struct frame g;
    /* A retry frame of a valid frame must itself decode. */
    if (frame_decode(sb.data, sb.size, &(struct frame_limits){SIZE_MAX, 0, 0}, &g,
                     err, sizeof(err)) != 0)
        __builtin_trap();
    frame_release(&g);
    msgpack_sbuffer_destroy(&sb);
    frame_release(&f);
    return 0;
}
