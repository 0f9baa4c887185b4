/* JSON for exec commands and runners (see userjson.h). */
#include "userjson.h"

#include <math.h>
#include <string.h>

#include "frame.h"
#include "jsonmp.h"
#include "utf8.h"

json_t *userjson_args(const jobq_ctx *ctx)
{
    const msgpack_object *a = jobq_args(ctx);
    return a ? jsonmp_from_object(a) : json_null();
}

static int fits(const msgpack_object *o, int depth)
{
    if (depth > USERJSON_DEPTH_MAX)
        return 0;
    switch (o->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return isfinite(o->via.f64);
    case MSGPACK_OBJECT_STR:
        return utf8_valid(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_ARRAY:
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if (!fits(&o->via.array.ptr[i], depth + 1))
                return 0;
        return 1;
    case MSGPACK_OBJECT_MAP:
        for (uint32_t i = 0; i < o->via.map.size; i++)
            if (!fits(&o->via.map.ptr[i].key, depth + 1) ||
                !fits(&o->via.map.ptr[i].val, depth + 1))
                return 0;
        return 1;
    default:
        return 1;
    }
}

int userjson_args_fit(const jobq_ctx *ctx)
{
    const msgpack_object *a = jobq_args(ctx);
    return !a || fits(a, 0);
}

static int depth_of(const json_t *j, int depth)
{
    if (depth > USERJSON_DEPTH_MAX)
        return depth;
    int most = depth;
    if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++) {
            int d = depth_of(json_array_get(j, i), depth + 1);
            most = d > most ? d : most;
        }
    } else if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            int d = depth_of(v, depth + 1);
            most = d > most ? d : most;
        }
    }
    return most;
}

int userjson_result(jobq_ctx *ctx, const json_t *j)
{
    if (depth_of(j, 0) > USERJSON_DEPTH_MAX)
        return -1;
    jsonmp_pack(jobq_packer(ctx), j);
    return 0;
}

void userjson_fail(jobq_ctx *ctx, jobq_failure kind, const char *prefix,
                   const char *text, size_t len)
{
    while (len && strchr(" \t\r\n", text[len - 1]))
        len--;
    char clean[FRAME_ERROR_MAX + 1];
    size_t keep = FRAME_ERROR_MAX - strlen(prefix) - 2, n = 0;
    if (len > keep) {
        text += len - keep;
        len = keep;
    }
    for (size_t i = 0; i < len;) {
        size_t k = utf8_seq((const unsigned char *)text + i, len - i);
        if (k == 0 || (k == 1 && (unsigned char)text[i] < 0x20 &&
                       text[i] != '\n' && text[i] != '\t')) {
            clean[n++] = '?';
            i++;
            continue;
        }
        memcpy(clean + n, text + i, k);
        n += k;
        i += k;
    }
    clean[n] = 0;
    if (n)
        jobq_fail(ctx, kind, "%s: %s", prefix, clean);
    else
        jobq_fail(ctx, kind, "%s", prefix);
}
