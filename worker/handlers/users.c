/* User handlers from the guide: validation, argon2id password hashing and
 * verification, API key generation, and user creation combining them. All
 * class cpu. Messages are exactly those of worker.md. */
#include <ctype.h>
#include <jobq/handler.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "registry.h"

#define USERNAME_MIN 3
#define PASSWORD_MIN 8
#define APIKEY_MIN 16
#define APIKEY_MAX 64
#define APIKEY_DEFAULT 32

/* A required string: missing, nil or empty is "Missing required field". */
static int need_str(jobq_ctx *ctx, const char *key, const char **p, size_t *n)
{
    int rc = jobq_arg_str(ctx, key, p, n);
    if (rc == -2) {
        jobq_fail(ctx, JOBQ_PERMANENT, "Field %s must be a string", key);
        return -1;
    }
    if (rc != 0 || *n == 0) {
        jobq_fail(ctx, JOBQ_PERMANENT, "Missing required field: %s", key);
        return -1;
    }
    return 0;
}

static bool email_valid(const char *s, size_t n)
{
    /* local@domain.tld: local of [A-Za-z0-9._%+-], domain of [A-Za-z0-9.-]
     * with a dot followed by at least two letters at the end. */
    const char *at = memchr(s, '@', n);
    if (!at || at == s)
        return false;
    for (const char *c = s; c < at; c++)
        if (!(isalnum((unsigned char)*c) || strchr("._%+-", *c)))
            return false;
    const char *d = at + 1, *end = s + n, *dot = NULL;
    if (d == end)
        return false;
    for (const char *c = d; c < end; c++) {
        if (*c == '.')
            dot = c;
        else if (!(isalnum((unsigned char)*c) || *c == '-'))
            return false;
    }
    if (!dot || dot == d || end - dot - 1 < 2)
        return false;
    for (const char *c = dot + 1; c < end; c++)
        if (!isalpha((unsigned char)*c))
            return false;
    return true;
}

struct user_fields {
    const char *user, *email, *pass;
    size_t ulen, elen, plen;
};

/* The guide's validate_user: required fields, then username, email and
 * password rules, each failure permanent with the guide's message. */
static int validate_user(jobq_ctx *ctx, struct user_fields *f)
{
    if (need_str(ctx, "username", &f->user, &f->ulen) != 0 ||
        need_str(ctx, "email", &f->email, &f->elen) != 0 ||
        need_str(ctx, "password", &f->pass, &f->plen) != 0)
        return -1;
    if (jobq_utf8_chars(f->user, f->ulen) < USERNAME_MIN) {
        jobq_fail(ctx, JOBQ_PERMANENT,
                  "Username must be at least 3 characters long");
        return -1;
    }
    for (size_t i = 0; i < f->ulen; i++)
        if (!isalnum((unsigned char)f->user[i]) && f->user[i] != '_') {
            jobq_fail(ctx, JOBQ_PERMANENT,
                      "Username can only contain "
                      "letters, numbers, and underscores");
            return -1;
        }
    if (!email_valid(f->email, f->elen)) {
        jobq_fail(ctx, JOBQ_PERMANENT, "Invalid email format");
        return -1;
    }
    if (jobq_utf8_chars(f->pass, f->plen) < PASSWORD_MIN) {
        jobq_fail(ctx, JOBQ_PERMANENT,
                  "Password must be at least 8 characters long");
        return -1;
    }
    bool up = false, low = false, digit = false;
    for (size_t i = 0; i < f->plen; i++) {
        unsigned char c = (unsigned char)f->pass[i];
        up |= isupper(c) != 0;
        low |= islower(c) != 0;
        digit |= isdigit(c) != 0;
    }
    const char *missing = !up      ? "uppercase letter"
                          : !low   ? "lowercase letter"
                          : !digit ? "digit"
                                   : NULL;
    if (missing) {
        jobq_fail(ctx, JOBQ_PERMANENT, "Password must contain at least one %s",
                  missing);
        return -1;
    }
    return 0;
}

static int user_validate(jobq_ctx *ctx)
{
    struct user_fields f;
    if (validate_user(ctx, &f) != 0)
        return -1;
    msgpack_packer *pk = jobq_result(ctx);
    msgpack_pack_map(pk, 2);
    jobq_pack_cstr(pk, "valid");
    msgpack_pack_true(pk);
    jobq_pack_cstr(pk, "username");
    jobq_pack_lower(pk, f.user, f.ulen);
    return 0;
}

static int hash_password(jobq_ctx *ctx, const char *p, size_t n,
                         char out[crypto_pwhash_STRBYTES])
{
    if (crypto_pwhash_str(out, p, n, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        /* Only memory exhaustion makes argon2id fail: worth a retry. */
        jobq_fail(ctx, JOBQ_RETRYABLE, "out of memory hashing the password");
        return -1;
    }
    return 0;
}

static int password_hash(jobq_ctx *ctx)
{
    const char *p;
    size_t n;
    char hash[crypto_pwhash_STRBYTES];
    if (need_str(ctx, "password", &p, &n) != 0 ||
        hash_password(ctx, p, n, hash))
        return -1;
    msgpack_packer *pk = jobq_result(ctx);
    msgpack_pack_map(pk, 1);
    jobq_pack_cstr(pk, "hash");
    jobq_pack_cstr(pk, hash);
    return 0;
}

static int password_verify(jobq_ctx *ctx)
{
    const char *p, *h;
    size_t n, hn;
    if (need_str(ctx, "password", &p, &n) != 0 ||
        need_str(ctx, "hash", &h, &hn) != 0)
        return -1;
    char hash[crypto_pwhash_STRBYTES] = {0};
    bool valid = false;
    if (hn < sizeof(hash)) {
        memcpy(hash, h, hn);
        valid = crypto_pwhash_str_verify(hash, p, n) == 0;
    }
    msgpack_packer *pk = jobq_result(ctx);
    msgpack_pack_map(pk, 1);
    jobq_pack_cstr(pk, "valid");
    valid ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    return 0;
}

#define APIKEY_B64_MAX (APIKEY_MAX * 4 / 3 + 4)

/* A key of n random bytes as base64url without padding, and the hex
 * BLAKE2b-256 of that key string (what a service stores to look it up). */
static void make_apikey(size_t n, char key[APIKEY_B64_MAX], char hash_hex[65])
{
    unsigned char raw[APIKEY_MAX], h[32];
    randombytes_buf(raw, n);
    sodium_bin2base64(key, APIKEY_B64_MAX, raw, n,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    crypto_generichash(h, sizeof(h), (const unsigned char *)key, strlen(key),
                       NULL, 0);
    sodium_bin2hex(hash_hex, 65, h, sizeof(h));
    sodium_memzero(raw, sizeof(raw));
}

static int apikey_generate(jobq_ctx *ctx)
{
    uint64_t n = APIKEY_DEFAULT;
    int rc = jobq_arg_uint(ctx, "bytes", &n);
    if (rc == -2 || n < APIKEY_MIN || n > APIKEY_MAX) {
        jobq_fail(ctx, JOBQ_PERMANENT, "bytes must be an integer from %d to %d",
                  APIKEY_MIN, APIKEY_MAX);
        return -1;
    }
    char key[APIKEY_B64_MAX], hash[65];
    make_apikey(n, key, hash);
    msgpack_packer *pk = jobq_result(ctx);
    msgpack_pack_map(pk, 2);
    jobq_pack_cstr(pk, "key");
    jobq_pack_cstr(pk, key);
    jobq_pack_cstr(pk, "key_hash");
    jobq_pack_cstr(pk, hash);
    return 0;
}

static bool replaced_by_create(const msgpack_object *k)
{
    static const char *const keys[] = {"password", "hashed_password", "api_key",
                                       "created_at", "updated_at"};
    if (k->type != MSGPACK_OBJECT_STR)
        return false;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (k->via.str.size == strlen(keys[i]) &&
            memcmp(k->via.str.ptr, keys[i], k->via.str.size) == 0)
            return true;
    return false;
}

static int user_create(jobq_ctx *ctx)
{
    struct user_fields f;
    char hash[crypto_pwhash_STRBYTES], key[APIKEY_B64_MAX], keyhash[65];
    if (validate_user(ctx, &f) != 0 || hash_password(ctx, f.pass, f.plen, hash))
        return -1;
    make_apikey(APIKEY_DEFAULT, key, keyhash);
    const msgpack_object *args = jobq_args(ctx);
    uint32_t keep = 0;
    for (uint32_t i = 0; i < args->via.map.size; i++)
        keep += !replaced_by_create(&args->via.map.ptr[i].key);
    uint64_t now = clock_wall_ms();
    msgpack_packer *pk = jobq_result(ctx);
    msgpack_pack_map(pk, keep + 4);
    for (uint32_t i = 0; i < args->via.map.size; i++) {
        if (replaced_by_create(&args->via.map.ptr[i].key))
            continue;
        msgpack_pack_object(pk, args->via.map.ptr[i].key);
        msgpack_pack_object(pk, args->via.map.ptr[i].val);
    }
    jobq_pack_cstr(pk, "hashed_password");
    jobq_pack_cstr(pk, hash);
    jobq_pack_cstr(pk, "api_key");
    jobq_pack_cstr(pk, key);
    jobq_pack_cstr(pk, "created_at");
    msgpack_pack_uint64(pk, now);
    jobq_pack_cstr(pk, "updated_at");
    msgpack_pack_uint64(pk, now);
    return 0;
}

void handlers_users_register(struct jobq_registry *reg)
{
    static const jobq_handler hs[] = {
        {.type = "user.validate", .cls = JOBQ_CLASS_CPU, .cpu = user_validate},
        {.type = "password.hash", .cls = JOBQ_CLASS_CPU, .cpu = password_hash},
        {.type = "password.verify",
         .cls = JOBQ_CLASS_CPU,
         .cpu = password_verify},
        {.type = "apikey.generate",
         .cls = JOBQ_CLASS_CPU,
         .cpu = apikey_generate},
        {.type = "user.create", .cls = JOBQ_CLASS_CPU, .cpu = user_create},
    };
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++)
        jobq_register(reg, &hs[i]);
}
