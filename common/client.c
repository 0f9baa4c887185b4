/* The producer API of include/jobq/jobq.h over a blocking hiredis
 * connection. */
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jobq/jobq.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "frame.h"
#include "keys.h"
#include "redisurl.h"
#include "xalloc.h"

#define POLL_MS 50

struct jobq_client {
    redisContext *rc;
    char prefix[65];
    char kid[65];
    unsigned char key[crypto_auth_KEYBYTES];
    int signing;
};

static int fail(char *err, size_t errlen, const char *fmt, const char *what)
{
    snprintf(err, errlen, fmt, what);
    return -1;
}

static int check_reply(redisContext *rc, redisReply *rep, char *err,
                       size_t errlen)
{
    if (!rep)
        return fail(err, errlen, "redis: %s", rc->errstr);
    if (rep->type == REDIS_REPLY_ERROR) {
        fail(err, errlen, "redis: %s", rep->str);
        freeReplyObject(rep);
        return -1;
    }
    return 0;
}

jobq_client *jobq_connect(const char *url, const char *prefix, char *err,
                          size_t errlen)
{
    struct redis_url u;
    if (redis_url_parse(url, &u, err, errlen) != 0)
        return NULL;
    struct timeval tv = {5, 0};
    redisContext *rc = u.is_unix ? redisConnectUnixWithTimeout(u.path, tv)
                                 : redisConnectWithTimeout(u.host, u.port, tv);
    if (!rc || rc->err) {
        fail(err, errlen, "cannot connect to Redis: %s",
             rc ? rc->errstr : "out of memory");
        redisFree(rc);
        return NULL;
    }
    redisSetTimeout(rc, tv);
    redisReply *rep = NULL;
    if (u.has_password) {
        rep = u.user[0] ? redisCommand(rc, "AUTH %s %s", u.user, u.password)
                        : redisCommand(rc, "AUTH %s", u.password);
        sodium_memzero(u.password, sizeof(u.password));
        if (check_reply(rc, rep, err, errlen) != 0) {
            redisFree(rc);
            return NULL;
        }
        freeReplyObject(rep);
    }
    if (u.db) {
        rep = redisCommand(rc, "SELECT %d", u.db);
        if (check_reply(rc, rep, err, errlen) != 0) {
            redisFree(rc);
            return NULL;
        }
        freeReplyObject(rep);
    }
    jobq_client *c = xcalloc(1, sizeof(*c));
    c->rc = rc;
    snprintf(c->prefix, sizeof(c->prefix), "%s", prefix ? prefix : "jobq");
    return c;
}

void jobq_close(jobq_client *c)
{
    if (!c)
        return;
    redisFree(c->rc);
    sodium_memzero(c, sizeof(*c));
    free(c);
}

int jobq_set_signing_key(jobq_client *c, const char *kid,
                         const unsigned char key[32])
{
    if (!kid || !*kid || strlen(kid) > 64)
        return -1;
    snprintf(c->kid, sizeof(c->kid), "%s", kid);
    memcpy(c->key, key, sizeof(c->key));
    c->signing = 1;
    return 0;
}

static void pack_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    mp_pack_cstr(pk, k);
    mp_pack_cstr(pk, v);
}

static void pack_kv_uint(msgpack_packer *pk, const char *k, uint64_t v)
{
    mp_pack_cstr(pk, k);
    msgpack_pack_uint64(pk, v);
}

int jobq_enqueue(jobq_client *c, const char *queue, const jobq_job *j,
                 char id_out[65], char *err, size_t errlen)
{
    if (!name_valid_queue(queue, strlen(queue)))
        return fail(err, errlen, "bad queue name: %s", queue);
    if (!j->type || !*j->type || strlen(j->type) > JOB_TYPE_MAX)
        return fail(err, errlen, "%s", "job type must be 1 to 128 bytes");
    if (j->id) {
        if (!name_valid_id(j->id, strlen(j->id)))
            return fail(err, errlen, "bad job id: %s", j->id);
        snprintf(id_out, 65, "%s", j->id);
    } else {
        unsigned char r[12];
        randombytes_buf(r, sizeof(r));
        sodium_bin2hex(id_out, 65, r, sizeof(r));
    }
    char err2[128];
    if (j->args && mp_check(j->args, j->args_len, 0, err2, sizeof(err2)) != 0)
        return fail(err, errlen, "args: %s", err2);
    uint64_t now = clock_wall_ms();
    msgpack_sbuffer job, fr;
    msgpack_sbuffer_init(&job);
    msgpack_sbuffer_init(&fr);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &job, xsbuffer_write);
    uint32_t n = 3 + (j->args ? 1 : 0) + !!j->max_attempts + !!j->timeout_ms +
                 !!j->reply_to + !!j->notify + !!j->expires_at;
    msgpack_pack_map(&pk, n);
    pack_kv_str(&pk, "id", id_out);
    pack_kv_str(&pk, "type", j->type);
    pack_kv_uint(&pk, "created_at", now);
    if (j->args) {
        mp_pack_cstr(&pk, "args");
        xsbuffer_write(&job, j->args, j->args_len);
    }
    if (j->max_attempts)
        pack_kv_uint(&pk, "max_attempts", j->max_attempts);
    if (j->timeout_ms)
        pack_kv_uint(&pk, "timeout_ms", j->timeout_ms);
    if (j->expires_at)
        pack_kv_uint(&pk, "expires_at", j->expires_at);
    if (j->reply_to)
        pack_kv_str(&pk, "reply_to", j->reply_to);
    if (j->notify)
        pack_kv_str(&pk, "notify", j->notify);
    if (c->signing) {
        unsigned char mac[crypto_auth_BYTES];
        crypto_auth(mac, (const unsigned char *)job.data, job.size, c->key);
        frame_encode_new(&fr, job.data, job.size, c->kid, mac);
    } else {
        frame_encode_new(&fr, job.data, job.size, NULL, NULL);
    }
    struct keys k;
    keys_init(&k, c->prefix, queue, "-");
    redisReply *rep;
    if (j->delay_ms) {
        char due[24];
        snprintf(due, sizeof(due), "%" PRIu64, now + j->delay_ms);
        rep = redisCommand(c->rc, "ZADD %s %s %b", k.delayed, due, fr.data,
                           fr.size);
    } else {
        rep = redisCommand(c->rc, "LPUSH %s %b", k.pending, fr.data, fr.size);
    }
    msgpack_sbuffer_destroy(&job);
    msgpack_sbuffer_destroy(&fr);
    if (check_reply(c->rc, rep, err, errlen) != 0)
        return -1;
    freeReplyObject(rep);
    return 0;
}

static int take_string(redisReply *rep, char **rec, size_t *len)
{
    *rec = xmalloc(rep->len ? rep->len : 1);
    memcpy(*rec, rep->str, rep->len);
    *len = rep->len;
    return 0;
}

int jobq_result(jobq_client *c, const char *queue, const char *id,
                uint64_t wait_ms, char **rec, size_t *len, char *err,
                size_t errlen)
{
    struct keys k;
    char rkey[KEYS_MAX];
    keys_init(&k, c->prefix, queue, "-");
    keys_result(&k, id, strlen(id), rkey, sizeof(rkey));
    uint64_t deadline = clock_mono_ms() + wait_ms;
    for (;;) {
        redisReply *rep = redisCommand(c->rc, "GET %s", rkey);
        if (check_reply(c->rc, rep, err, errlen) != 0)
            return -1;
        if (rep->type == REDIS_REPLY_STRING) {
            take_string(rep, rec, len);
            freeReplyObject(rep);
            return 0;
        }
        freeReplyObject(rep);
        if (clock_mono_ms() >= deadline)
            return 1;
        usleep(POLL_MS * 1000);
    }
}

int jobq_reply(jobq_client *c, const char *reply_to, uint64_t wait_ms,
               char **rec, size_t *len, char *err, size_t errlen)
{
    /* BLPOP's timeout is seconds; the socket timeout must outlast it. */
    uint64_t secs = (wait_ms + 999) / 1000;
    struct timeval tv = {(time_t)secs + 5, 0};
    redisSetTimeout(c->rc, tv);
    char t[24];
    snprintf(t, sizeof(t), "%" PRIu64, secs ? secs : 1);
    redisReply *rep = redisCommand(c->rc, "BLPOP %s %s", reply_to, t);
    if (check_reply(c->rc, rep, err, errlen) != 0)
        return -1;
    int rc = 1;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2)
        rc = take_string(rep->element[1], rec, len);
    freeReplyObject(rep);
    return rc;
}

void *jobq_redis(jobq_client *c)
{
    return c->rc;
}

const char *jobq_prefix(const jobq_client *c)
{
    return c->prefix;
}
