/* JSON for exec commands and runners (see userjson.h). */
#include "userjson.h"

#include <string.h>

#include "frame.h"
#include "jsonmp.h"
#include "utf8.h"

json_t *userjson_args(const jobq_ctx *ctx)
{
    const msgpack_object *a = jobq_args(ctx);
    return a ? jsonmp_from_object(a) : json_null();
}

void userjson_result(jobq_ctx *ctx, const json_t *j)
{
    jsonmp_pack(jobq_packer(ctx), j);
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
