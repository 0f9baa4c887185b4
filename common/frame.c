/* Bounded frame and job decoding, and frame encoding (see frame.h). */
#include "frame.h"

#include <stdio.h>
#include <string.h>

#include "utf8.h"
#include "xalloc.h"

static int fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return -1;
}

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* The pre-scan walks the encoding iteratively with an explicit stack of
 * "values still owed" per open container, so hostile nesting cannot grow
 * the C stack. A container may not declare more elements than there are
 * bytes left, since every element takes at least one byte. */
int mp_check(const char *buf, size_t len, size_t max_entries, char *err,
             size_t errlen)
{
    return mp_check_limits(buf, len, max_entries, 0, err, errlen);
}

int mp_check_limits(const char *buf, size_t len, size_t max_entries,
                    size_t max_string, char *err, size_t errlen)
{
    const unsigned char *p = (const unsigned char *)buf, *end = p + len;
    uint64_t owed[FRAME_MAX_DEPTH + 1];
    int depth = 0;
    owed[0] = 1;

    while (depth >= 0) {
        if (owed[depth] == 0) {
            depth--;
            continue;
        }
        if (p >= end)
            return fail(err, errlen, "not msgpack: truncated");
        owed[depth]--;
        unsigned b = *p++;
        uint64_t skip = 0, children = 0;
        int lw = 0;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            /* scalar in the type byte */
        } else if (b >= 0xa0 && b <= 0xbf) {
            skip = b & 0x1f;
        } else if (b >= 0x90 && b <= 0x9f) {
            children = b & 0x0f;
        } else if (b >= 0x80 && b <= 0x8f) {
            children = (uint64_t)(b & 0x0f) * 2;
        } else {
            switch (b) {
            case 0xcc:
            case 0xd0:
                skip = 1;
                break;
            case 0xcd:
            case 0xd1:
                skip = 2;
                break;
            case 0xce:
            case 0xd2:
            case 0xca:
                skip = 4;
                break;
            case 0xcf:
            case 0xd3:
            case 0xcb:
                skip = 8;
                break;
            case 0xd4:
                skip = 2;
                break;
            case 0xd5:
                skip = 3;
                break;
            case 0xd6:
                skip = 5;
                break;
            case 0xd7:
                skip = 9;
                break;
            case 0xd8:
                skip = 17;
                break;
            case 0xc4:
            case 0xd9:
                lw = 1;
                break;
            case 0xc5:
            case 0xda:
                lw = 2;
                break;
            case 0xc6:
            case 0xdb:
                lw = 4;
                break;
            case 0xc7:
                lw = 1;
                skip = 1;
                break;
            case 0xc8:
                lw = 2;
                skip = 1;
                break;
            case 0xc9:
                lw = 4;
                skip = 1;
                break;
            case 0xdc:
            case 0xde:
                lw = -2;
                break;
            case 0xdd:
            case 0xdf:
                lw = -4;
                break;
            default:
                snprintf(err, errlen,
                         "not msgpack: invalid byte 0x%02x at "
                         "offset %zu",
                         b, (size_t)(p - 1 - (const unsigned char *)buf));
                return -1;
            }
        }
        if (lw != 0) {
            int n = lw < 0 ? -lw : lw;
            if ((size_t)(end - p) < (size_t)n)
                return fail(err, errlen, "not msgpack: truncated");
            uint64_t v = be(p, n);
            p += n;
            if (lw > 0)
                skip += v;
            else
                children = (b == 0xde || b == 0xdf) ? v * 2 : v;
        }
        if (skip > (uint64_t)(end - p))
            return fail(err, errlen, "not msgpack: length points past the end");
        bool sized = lw > 0 || (b >= 0xa0 && b <= 0xbf); /* str, bin, ext */
        uint64_t data = skip - (b >= 0xc7 && b <= 0xc9); /* ext: type byte */
        if (max_string && sized && data > max_string) {
            snprintf(err, errlen, "string of %llu bytes, limit %zu",
                     (unsigned long long)data, max_string);
            return -1;
        }
        p += skip;
        if (children > 0) {
            if (children > (uint64_t)(end - p))
                return fail(err, errlen,
                            "not msgpack: length points past the end");
            uint64_t entries =
                (b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf
                    ? children / 2
                    : children;
            if (max_entries && entries > max_entries) {
                snprintf(err, errlen, "container has %llu entries, limit %zu",
                         (unsigned long long)entries, max_entries);
                return -1;
            }
            if (depth >= FRAME_MAX_DEPTH) {
                snprintf(err, errlen, "nested deeper than %d", FRAME_MAX_DEPTH);
                return -1;
            }
            owed[++depth] = children;
        }
    }
    if (p != end)
        return fail(err, errlen, "not msgpack: trailing bytes");
    return 0;
}

/* A zone sized to the input: msgpack-c's default first chunk is 8 KiB,
 * which for thousands of small jobs in flight is most of the memory. A
 * zone left by an earlier decode is cleared and kept when its first chunk
 * fits, so a reused frame or job decodes without a malloc. */
#define ZONE_SLACK 256

static int unpack_checked(const char *buf, size_t len, size_t max_entries,
                          size_t max_string, msgpack_zone **zone,
                          msgpack_object *root, char *err, size_t errlen)
{
    if (mp_check_limits(buf, len, max_entries, max_string, err, errlen) != 0)
        return -1;
    if (*zone && (*zone)->chunk_size >= len + ZONE_SLACK) {
        msgpack_zone_clear(*zone);
    } else {
        msgpack_zone_free(*zone);
        *zone = msgpack_zone_new(len + ZONE_SLACK);
    }
    size_t off = 0;
    if (!*zone ||
        msgpack_unpack(buf, len, &off, *zone, root) != MSGPACK_UNPACK_SUCCESS)
        return fail(err, errlen, "not msgpack");
    return 0;
}

bool mp_str_eq(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           memcmp(o->via.str.ptr, s, n) == 0;
}

const msgpack_object *mp_map_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    /* The last occurrence wins, as in most msgpack decoders' dicts. */
    const msgpack_object *found = NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (mp_str_eq(&map->via.map.ptr[i].key, key))
            found = &map->via.map.ptr[i].val;
    if (found && found->type == MSGPACK_OBJECT_NIL)
        return NULL;
    return found;
}

static bool charset_ok(const char *s, size_t len, size_t max, const char *extra)
{
    if (len < 1 || len > max)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || (c && strchr(extra, c))))
            return false;
    }
    return true;
}

bool name_valid_queue(const char *s, size_t len)
{
    return charset_ok(s, len, 64, "_.-");
}

bool name_valid_worker(const char *s, size_t len)
{
    return charset_ok(s, len, 64, "_.-");
}

bool name_valid_id(const char *s, size_t len)
{
    return charset_ok(s, len, JOB_ID_MAX, "_.:-");
}

static bool type_valid(const char *s, size_t len)
{
    if (len < 1 || len > JOB_TYPE_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
            return false;
    /* It is echoed in records and logs, which must stay valid UTF-8. */
    return utf8_valid(s, len);
}

/* The fields of a map that decoding cares about, found in one pass (the
 * last occurrence wins; nil counts as absent). */
struct field {
    const char *name;
    size_t len;
    const msgpack_object *val;
};

#define FIELD(n)                                                               \
    {                                                                          \
        n, sizeof(n) - 1, NULL                                                 \
    }

static void collect(const msgpack_object *m, struct field *f, int n)
{
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type != MSGPACK_OBJECT_STR)
            continue;
        for (int j = 0; j < n; j++)
            if (k->via.str.size == f[j].len &&
                memcmp(k->via.str.ptr, f[j].name, f[j].len) == 0) {
                const msgpack_object *v = &m->via.map.ptr[i].val;
                f[j].val = v->type == MSGPACK_OBJECT_NIL ? NULL : v;
                break;
            }
    }
}

/* Reads an optional field of a given kind; -1 with a reason when present
 * with the wrong type, 0 when absent, 1 when read. */
static int get_uint(const struct field *f, uint64_t *out, char *err,
                    size_t errlen, const char *where)
{
    if (!f->val)
        return 0;
    if (f->val->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        snprintf(err, errlen, "%sfield %s must be an unsigned integer", where,
                 f->name);
        return -1;
    }
    *out = f->val->via.u64;
    return 1;
}

static int get_raw(const struct field *f, msgpack_object_type type,
                   struct slice *out, char *err, size_t errlen,
                   const char *where)
{
    if (!f->val)
        return 0;
    if (f->val->type != type) {
        snprintf(err, errlen, "%sfield %s must be %s", where, f->name,
                 type == MSGPACK_OBJECT_BIN ? "bin" : "a string");
        return -1;
    }
    out->ptr = f->val->via.str.ptr; /* str and bin share the layout */
    out->len = f->val->via.str.size;
    return 1;
}

int frame_decode(const char *buf, size_t len, const struct frame_limits *lim,
                 struct frame *f, char *err, size_t errlen)
{
    frame_release(f);
    if (len > lim->max_bytes) {
        snprintf(err, errlen, "frame too large (%zu bytes, limit %zu)", len,
                 lim->max_bytes);
        return -1;
    }
    /* The frame's own job bin may be as large as the frame: string limits
     * apply inside the job. */
    if (unpack_checked(buf, len, lim->max_entries, 0, &f->zone, &f->root, err,
                       errlen) != 0)
        return -1;
    const msgpack_object *m = &f->root;
    const char *w = "frame ";
    int r;
    if (m->type != MSGPACK_OBJECT_MAP) {
        fail(err, errlen, "frame is not a map");
        goto bad;
    }
    enum { F_V, F_JOB, F_KID, F_MAC, F_ATTEMPT, F_ERROR, F_FAILED_AT };
    struct field fd[] = {FIELD("v"),        FIELD("job"),     FIELD("kid"),
                         FIELD("mac"),      FIELD("attempt"), FIELD("error"),
                         FIELD("failed_at")};
    collect(m, fd, 7);
    if ((r = get_uint(&fd[F_V], &f->v, err, errlen, w)) <= 0) {
        if (r == 0)
            fail(err, errlen, "frame lacks required field v");
        goto bad;
    }
    if (f->v != FRAME_VERSION) {
        snprintf(err, errlen, "unsupported protocol version %llu",
                 (unsigned long long)f->v);
        goto bad;
    }
    if ((r = get_raw(&fd[F_JOB], MSGPACK_OBJECT_BIN, &f->job, err, errlen,
                     w)) <= 0) {
        if (r == 0)
            fail(err, errlen, "frame lacks required field job");
        goto bad;
    }
    if (get_raw(&fd[F_KID], MSGPACK_OBJECT_STR, &f->kid, err, errlen, w) < 0 ||
        get_raw(&fd[F_MAC], MSGPACK_OBJECT_BIN, &f->mac, err, errlen, w) < 0 ||
        get_uint(&fd[F_ATTEMPT], &f->attempt, err, errlen, w) < 0 ||
        get_raw(&fd[F_ERROR], MSGPACK_OBJECT_STR, &f->error, err, errlen, w) <
            0 ||
        get_uint(&fd[F_FAILED_AT], &f->failed_at, err, errlen, w) < 0)
        goto bad;
    if (!f->kid.ptr != !f->mac.ptr) {
        fail(err, errlen, "frame has one of kid and mac without the other");
        goto bad;
    }
    if (f->mac.ptr && f->mac.len != FRAME_MAC_BYTES) {
        fail(err, errlen, "frame field mac must be 32 bytes");
        goto bad;
    }
    return 0;
bad:
    frame_release(f);
    return -1;
}

void frame_release(struct frame *f)
{
    msgpack_zone *zone = f->zone;
    memset(f, 0, sizeof(*f));
    f->zone = zone;
}

void frame_free(struct frame *f)
{
    msgpack_zone_free(f->zone);
    memset(f, 0, sizeof(*f));
}

static const msgpack_object nil_object = {.type = MSGPACK_OBJECT_NIL};

int job_decode(const struct frame *f, const struct frame_limits *lim,
               struct job *j, char *err, size_t errlen)
{
    job_release(j);
    char inner[200];
    if (unpack_checked(f->job.ptr, f->job.len, lim->max_entries,
                       lim->max_string, &j->zone, &j->root, inner,
                       sizeof(inner)) != 0) {
        snprintf(err, errlen, "job: %s", inner);
        return -1;
    }
    const msgpack_object *m = &j->root;
    const char *w = "job ";
    int r;
    if (m->type != MSGPACK_OBJECT_MAP) {
        fail(err, errlen, "job is not a map");
        goto bad;
    }
    enum {
        J_ID,
        J_TYPE,
        J_REPLY,
        J_NOTIFY,
        J_TRACE,
        J_CREATED,
        J_MAX,
        J_TIMEOUT,
        J_EXPIRES,
        J_ARGS
    };
    struct field fd[] = {FIELD("id"),           FIELD("type"),
                         FIELD("reply_to"),     FIELD("notify"),
                         FIELD("traceparent"),  FIELD("created_at"),
                         FIELD("max_attempts"), FIELD("timeout_ms"),
                         FIELD("expires_at"),   FIELD("args")};
    collect(m, fd, 10);
    if ((r = get_raw(&fd[J_ID], MSGPACK_OBJECT_STR, &j->id, err, errlen, w)) <=
        0) {
        if (r == 0)
            fail(err, errlen, "job lacks required field id");
        goto bad;
    }
    if (!name_valid_id(j->id.ptr, j->id.len)) {
        fail(err, errlen, "job id must be 1 to 64 of [A-Za-z0-9_.:-]");
        goto bad;
    }
    if ((r = get_raw(&fd[J_TYPE], MSGPACK_OBJECT_STR, &j->type, err, errlen,
                     w)) <= 0) {
        if (r == 0)
            fail(err, errlen, "job lacks required field type");
        goto bad;
    }
    if (!type_valid(j->type.ptr, j->type.len)) {
        fail(err, errlen, "job type must be 1 to 128 printable bytes of UTF-8");
        goto bad;
    }
    if (get_raw(&fd[J_REPLY], MSGPACK_OBJECT_STR, &j->reply_to, err, errlen,
                w) < 0 ||
        get_raw(&fd[J_NOTIFY], MSGPACK_OBJECT_STR, &j->notify, err, errlen, w) <
            0 ||
        get_raw(&fd[J_TRACE], MSGPACK_OBJECT_STR, &j->traceparent, err, errlen,
                w) < 0 ||
        get_uint(&fd[J_CREATED], &j->created_at, err, errlen, w) < 0 ||
        get_uint(&fd[J_MAX], &j->max_attempts, err, errlen, w) < 0 ||
        get_uint(&fd[J_TIMEOUT], &j->timeout_ms, err, errlen, w) < 0 ||
        get_uint(&fd[J_EXPIRES], &j->expires_at, err, errlen, w) < 0)
        goto bad;
    if (fd[J_MAX].val && j->max_attempts < 1) {
        fail(err, errlen, "job field max_attempts must be at least 1");
        goto bad;
    }
    if (j->reply_to.ptr && j->reply_to.len == 0) {
        fail(err, errlen, "job field reply_to must not be empty");
        goto bad;
    }
    j->args = fd[J_ARGS].val ? fd[J_ARGS].val : &nil_object;
    return 0;
bad:
    job_release(j);
    return -1;
}

void job_release(struct job *j)
{
    msgpack_zone *zone = j->zone;
    memset(j, 0, sizeof(*j));
    j->zone = zone;
}

void job_free(struct job *j)
{
    msgpack_zone_free(j->zone);
    memset(j, 0, sizeof(*j));
}

void mp_pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

void mp_pack_cstr(msgpack_packer *pk, const char *s)
{
    mp_pack_str(pk, s, strlen(s));
}

void mp_pack_bin(msgpack_packer *pk, const void *p, size_t len)
{
    msgpack_pack_bin(pk, len);
    msgpack_pack_bin_body(pk, p, len);
}

static bool is_retry_key(const msgpack_object *k)
{
    return mp_str_eq(k, "attempt") || mp_str_eq(k, "error") ||
           mp_str_eq(k, "failed_at");
}

/* Opens a map of the frame's entries but its retry state plus extra more,
 * and packs those kept entries. */
static void pack_kept(msgpack_packer *pk, const struct frame *f, uint32_t extra)
{
    const msgpack_object *m = &f->root;
    uint32_t keep = 0;
    for (uint32_t i = 0; i < m->via.map.size; i++)
        keep += !is_retry_key(&m->via.map.ptr[i].key);
    msgpack_pack_map(pk, keep + extra);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        if (is_retry_key(&m->via.map.ptr[i].key))
            continue;
        msgpack_pack_object(pk, m->via.map.ptr[i].key);
        msgpack_pack_object(pk, m->via.map.ptr[i].val);
    }
}

void frame_encode_fresh(msgpack_sbuffer *sb, const struct frame *f)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, xsbuffer_write);
    pack_kept(&pk, f, 0);
}

void frame_encode_retry(msgpack_sbuffer *sb, const struct frame *f,
                        uint64_t attempt, const char *error, size_t errlen,
                        uint64_t failed_at)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, xsbuffer_write);
    if (errlen > FRAME_ERROR_MAX)
        errlen = FRAME_ERROR_MAX;
    pack_kept(&pk, f, 3);
    mp_pack_cstr(&pk, "attempt");
    msgpack_pack_uint64(&pk, attempt);
    mp_pack_cstr(&pk, "error");
    mp_pack_str(&pk, error, errlen);
    mp_pack_cstr(&pk, "failed_at");
    msgpack_pack_uint64(&pk, failed_at);
}

void frame_encode_new(msgpack_sbuffer *sb, const void *job, size_t joblen,
                      const char *kid, const unsigned char *mac)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, xsbuffer_write);
    msgpack_pack_map(&pk, kid ? 4 : 2);
    mp_pack_cstr(&pk, "v");
    msgpack_pack_uint64(&pk, FRAME_VERSION);
    mp_pack_cstr(&pk, "job");
    mp_pack_bin(&pk, job, joblen);
    if (kid) {
        mp_pack_cstr(&pk, "kid");
        mp_pack_cstr(&pk, kid);
        mp_pack_cstr(&pk, "mac");
        mp_pack_bin(&pk, mac, FRAME_MAC_BYTES);
    }
}
