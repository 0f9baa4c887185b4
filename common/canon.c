/* Canonical msgpack encoding (see canon.h). Recursion depth is bounded by
 * the decoder's FRAME_MAX_DEPTH. */
#include "canon.h"

#include <stdlib.h>
#include <string.h>

struct entry {
    msgpack_sbuffer key;
    const msgpack_object *val;
};

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    size_t n = x->key.size < y->key.size ? x->key.size : y->key.size;
    int c = memcmp(x->key.data, y->key.data, n);
    if (c)
        return c;
    return (x->key.size > y->key.size) - (x->key.size < y->key.size);
}

static void pack_float(msgpack_packer *pk, double d)
{
    float f = (float)d;
    /* NaN never compares equal; all NaNs encode as float32 NaN. */
    if ((double)f == d || d != d)
        msgpack_pack_float(pk, f);
    else
        msgpack_pack_double(pk, d);
}

int canon_encode(msgpack_sbuffer *sb, const msgpack_object *o)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return msgpack_pack_nil(&pk);
    case MSGPACK_OBJECT_BOOLEAN:
        return o->via.boolean ? msgpack_pack_true(&pk)
                              : msgpack_pack_false(&pk);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return msgpack_pack_uint64(&pk, o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return msgpack_pack_int64(&pk, o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        pack_float(&pk, o->via.f64);
        return 0;
    case MSGPACK_OBJECT_STR:
        msgpack_pack_str(&pk, o->via.str.size);
        return msgpack_pack_str_body(&pk, o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN:
        msgpack_pack_bin(&pk, o->via.bin.size);
        return msgpack_pack_bin_body(&pk, o->via.bin.ptr, o->via.bin.size);
    case MSGPACK_OBJECT_EXT:
        msgpack_pack_ext(&pk, o->via.ext.size, o->via.ext.type);
        return msgpack_pack_ext_body(&pk, o->via.ext.ptr, o->via.ext.size);
    case MSGPACK_OBJECT_ARRAY:
        msgpack_pack_array(&pk, o->via.array.size);
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if (canon_encode(sb, &o->via.array.ptr[i]) != 0)
                return -1;
        return 0;
    case MSGPACK_OBJECT_MAP: {
        uint32_t n = o->via.map.size;
        struct entry *e = calloc(n ? n : 1, sizeof(*e));
        if (!e)
            return -1;
        int rc = 0;
        for (uint32_t i = 0; i < n && rc == 0; i++) {
            msgpack_sbuffer_init(&e[i].key);
            e[i].val = &o->via.map.ptr[i].val;
            rc = canon_encode(&e[i].key, &o->via.map.ptr[i].key);
        }
        if (rc == 0) {
            qsort(e, n, sizeof(*e), entry_cmp);
            msgpack_pack_map(&pk, n);
            for (uint32_t i = 0; i < n && rc == 0; i++) {
                msgpack_sbuffer_write(sb, e[i].key.data, e[i].key.size);
                rc = canon_encode(sb, e[i].val);
            }
        }
        for (uint32_t i = 0; i < n; i++)
            msgpack_sbuffer_destroy(&e[i].key);
        free(e);
        return rc;
    }
    }
    return -1;
}
