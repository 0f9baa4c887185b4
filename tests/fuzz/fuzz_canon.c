/* libFuzzer: the canonical encoding of any decodable value decodes again,
 * and encoding that is a fixed point (canonical twice = canonical once). */
#include <stdint.h>
#include <string.h>

#include "canon.h"
#include "frame.h"

static int canon_bytes(const char *buf, size_t len, msgpack_sbuffer *out)
{
    char err[128];
    if (mp_check(buf, len, 65536, err, sizeof(err)) != 0)
        return -1;
    msgpack_zone *z = msgpack_zone_new(len + 256);
    msgpack_object o;
    size_t off = 0;
    int rc = -1;
    if (msgpack_unpack(buf, len, &off, z, &o) == MSGPACK_UNPACK_SUCCESS) {
        msgpack_sbuffer_init(out);
        rc = canon_encode(out, &o);
    }
    msgpack_zone_free(z);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    msgpack_sbuffer a, b;
    if (canon_bytes((const char *)data, size, &a) != 0)
        return 0;
    if (canon_bytes(a.data, a.size, &b) != 0)
        __builtin_trap();
    if (a.size != b.size || memcmp(a.data, b.data, a.size) != 0)
        __builtin_trap();
    msgpack_sbuffer_destroy(&a);
    msgpack_sbuffer_destroy(&b);
    return 0;
}
