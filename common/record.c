/* Record encoding (see record.h). */
#include "record.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "xalloc.h"

static void kv_str(msgpack_packer *pk, const char *k, const char *v, size_t len)
{
    mp_pack_cstr(pk, k);
    mp_pack_str(pk, v, len);
}

static void kv_cstr(msgpack_packer *pk, const char *k, const char *v)
{
    kv_str(pk, k, v, strlen(v));
}

static void kv_uint(msgpack_packer *pk, const char *k, uint64_t v)
{
    mp_pack_cstr(pk, k);
    msgpack_pack_uint64(pk, v);
}

void record_result(msgpack_sbuffer *sb, const struct job *job,
                   const char *queue, bool ok, const char *result,
                   size_t result_len, const char *err, unsigned attempts,
                   uint64_t now, const char *worker)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, xsbuffer_write);
    msgpack_pack_map(&pk, 8);
    kv_str(&pk, "id", job->id.ptr, job->id.len);
    kv_cstr(&pk, "queue", queue);
    kv_str(&pk, "type", job->type.ptr, job->type.len);
    kv_cstr(&pk, "status", ok ? "ok" : "dead");
    if (ok) {
        mp_pack_cstr(&pk, "result");
        if (result_len)
            xsbuffer_write(sb, result, result_len);
        else
            msgpack_pack_nil(&pk);
    } else {
        kv_cstr(&pk, "error", err);
    }
    kv_uint(&pk, "attempts", attempts);
    kv_uint(&pk, "finished_at", now);
    kv_cstr(&pk, "worker", worker);
}

void record_event(msgpack_sbuffer *sb, const struct job *job,
                  const char *status, unsigned attempt, uint64_t now,
                  const char *err)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, xsbuffer_write);
    bool ok = strcmp(status, "ok") == 0;
    msgpack_pack_map(&pk, (job ? 2 : 0) + 3 + (ok ? 0 : 1));
    if (job) {
        kv_str(&pk, "id", job->id.ptr, job->id.len);
        kv_str(&pk, "type", job->type.ptr, job->type.len);
    }
    kv_cstr(&pk, "status", status);
    kv_uint(&pk, "attempt", attempt);
    kv_uint(&pk, "at", now);
    if (!ok)
        kv_cstr(&pk, "error", err);
}

void record_dead(msgpack_sbuffer *sb, const char *raw, size_t rawlen,
                 const struct job *job, const char *err, uint64_t now,
                 const char *worker)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, xsbuffer_write);
    msgpack_pack_map(&pk, 4 + (job ? 2 : 0));
    mp_pack_cstr(&pk, "frame");
    mp_pack_bin(&pk, raw, rawlen);
    kv_cstr(&pk, "error", err);
    kv_uint(&pk, "at", now);
    kv_cstr(&pk, "worker", worker);
    if (job) {
        kv_str(&pk, "id", job->id.ptr, job->id.len);
        kv_str(&pk, "type", job->type.ptr, job->type.len);
    }
}

void record_notify_job(msgpack_sbuffer *sb, const struct job *job,
                       const char *rec, size_t rec_len, uint64_t now)
{
    char nid[JOB_ID_MAX + 1];
    if (job->id.len + 7 <= JOB_ID_MAX) {
        snprintf(nid, sizeof(nid), "%.*s:notify", (int)job->id.len,
                 job->id.ptr);
    } else {
        unsigned char h[16];
        crypto_generichash(h, sizeof(h), (const unsigned char *)job->id.ptr,
                           job->id.len, NULL, 0);
        memcpy(nid, "notify:", 7);
        sodium_bin2hex(nid + 7, sizeof(nid) - 7, h, sizeof(h));
    }
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, xsbuffer_write);
    bool tp = job->traceparent.ptr != NULL;
    msgpack_pack_map(&pk, 4 + (tp ? 1 : 0));
    kv_cstr(&pk, "id", nid);
    kv_cstr(&pk, "type", RECORD_NOTIFY_TYPE);
    mp_pack_cstr(&pk, "args");
    msgpack_pack_map(&pk, 2);
    kv_str(&pk, "url", job->notify.ptr, job->notify.len);
    mp_pack_cstr(&pk, "payload");
    xsbuffer_write(sb, rec, rec_len);
    kv_uint(&pk, "created_at", now);
    if (tp)
        kv_str(&pk, "traceparent", job->traceparent.ptr, job->traceparent.len);
}
