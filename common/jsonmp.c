/* JSON <-> msgpack (see jsonmp.h). */
#include "jsonmp.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "utf8.h"
#include "xalloc.h"

void jsonmp_pack(msgpack_packer *pk, const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *v;
        msgpack_pack_map(pk, json_object_size(j));
        json_object_foreach((json_t *)j, k, v)
        {
            mp_pack_cstr(pk, k);
            jsonmp_pack(pk, v);
        }
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *v;
        msgpack_pack_array(pk, json_array_size(j));
        json_array_foreach((json_t *)j, i, v) jsonmp_pack(pk, v);
        break;
    }
    case JSON_STRING:
        mp_pack_str(pk, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER: {
        json_int_t n = json_integer_value(j);
        if (n < 0)
            msgpack_pack_int64(pk, n);
        else
            msgpack_pack_uint64(pk, (uint64_t)n);
        break;
    }
    case JSON_REAL:
        msgpack_pack_double(pk, json_real_value(j));
        break;
    case JSON_TRUE:
        msgpack_pack_true(pk);
        break;
    case JSON_FALSE:
        msgpack_pack_false(pk);
        break;
    default:
        msgpack_pack_nil(pk);
        break;
    }
}

static json_t *base64(const char *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = xmalloc(cap);
    sodium_bin2base64(s, cap, (const unsigned char *)p, n,
                      sodium_base64_VARIANT_ORIGINAL);
    json_t *j = json_string(s);
    free(s);
    return j;
}

static json_t *convert(const msgpack_object *o, bool strict);

/* A str that is not UTF-8 (hostile state in Redis): shown with '?' for
 * each byte that is not, so one bad field costs only itself (jansson would
 * refuse the whole document). */
static json_t *mended(const char *p, size_t n)
{
    char *s = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq((const unsigned char *)p + i, n - i);
        if (k == 0) {
            s[o++] = '?';
            i++;
            continue;
        }
        memcpy(s + o, p + i, k);
        o += k;
        i += k;
    }
    json_t *j = json_stringn_nocheck(s, o);
    free(s);
    return j;
}

/* A map key as JSON text: strings as they are, anything else as the JSON
 * form of its value (1 -> "1", bin -> its base64), never quoted twice. */
static char *key_name(const msgpack_object *k, bool strict)
{
    if (k->type == MSGPACK_OBJECT_STR &&
        utf8_valid(k->via.str.ptr, k->via.str.size))
        return xstrndup(k->via.str.ptr, k->via.str.size);
    json_t *kj = convert(k, strict);
    if (!kj)
        return NULL;
    char *name = json_is_string(kj)
                     ? xstrdup(json_string_value(kj))
                     : json_dumps(kj, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(kj);
    return name;
}

/* strict: NULL for a value JSON has no form for (NaN, an infinity);
 * otherwise those become null, so a record is still shown whole. */
static json_t *convert(const msgpack_object *o, bool strict)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        /* Beyond JSON's signed 64 bits, a decimal string keeps the value. */
        if (o->via.u64 > INT64_MAX) {
            char buf[24];
            snprintf(buf, sizeof(buf), "%llu", (unsigned long long)o->via.u64);
            return json_string(buf);
        }
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer(o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64))
            return strict ? NULL : json_null();
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR:
        if (!utf8_valid(o->via.str.ptr, o->via.str.size))
            return strict ? NULL : mended(o->via.str.ptr, o->via.str.size);
        return json_stringn_nocheck(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN:
        return base64(o->via.bin.ptr, o->via.bin.size);
    case MSGPACK_OBJECT_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            json_t *e = convert(&o->via.array.ptr[i], strict);
            if (!e) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, e);
        }
        return a;
    }
    case MSGPACK_OBJECT_MAP: {
        json_t *m = json_object();
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            char *name = key_name(&o->via.map.ptr[i].key, strict);
            json_t *v = name ? convert(&o->via.map.ptr[i].val, strict) : NULL;
            if (!v) {
                free(name);
                json_decref(m);
                return NULL;
            }
            json_object_set_new(m, name, v);
            free(name);
        }
        return m;
    }
    default:
        return strict ? NULL : json_null();
    }
}

json_t *jsonmp_from_object(const msgpack_object *o)
{
    return convert(o, false);
}

json_t *jsonmp_from_object_strict(const msgpack_object *o)
{
    return convert(o, true);
}

json_t *jsonmp_from_bytes(const char *buf, size_t len)
{
    char err[128];
    if (mp_check(buf, len, 0, err, sizeof(err)) != 0)
        return NULL;
    msgpack_unpacked un;
    msgpack_unpacked_init(&un);
    size_t off = 0;
    json_t *j = NULL;
    if (msgpack_unpack_next(&un, buf, len, &off) == MSGPACK_UNPACK_SUCCESS)
        j = jsonmp_from_object(&un.data);
    msgpack_unpacked_destroy(&un);
    return j;
}
