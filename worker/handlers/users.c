/* User handlers from the guide: validation, argon2id password hashing and
 * verification, API key generation, and user creation combining them. All
 * class cpu. Messages are exactly those of worker.md. */
#include <ctype.h>
#include <jobq/handler.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "builtin.h"

#define USERNAME_MIN 3
#define PASSWORD_MIN 8
#define APIKEY_MIN 16
#define APIKEY_MAX 64
#define APIKEY_DEFAULT 32
/* What an email's local part may hold besides letters and digits. */
#define EMAIL_LOCAL_PUNCT "._%+-"
/* The only argon2 version libsodium reads or writes (0x13). */
#define ARGON2_VERSION 19

/* A required string: missing, nil or empty is "Missing required field". */
static int need_str(jobq_ctx *ctx, const char *key, const char **p, size_t *n)
{
    int rc = jobq_arg_str(ctx, key, p, n);
    if (rc == JOBQ_ETYPE) {
        jobq_fail(ctx, JOBQ_PERMANENT, "Field %s must be a string", key);
        return -1;
    }
    if (rc != JOBQ_OK || *n == 0) {
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
    /* memchr, not strchr: strchr finds the terminator, so a NUL would
     * count as allowed punctuation. */
    for (const char *c = s; c < at; c++)
        if (!(isalnum((unsigned char)*c) ||
              memchr(EMAIL_LOCAL_PUNCT, *c, strlen(EMAIL_LOCAL_PUNCT))))
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
    msgpack_packer *pk = jobq_packer(ctx);
    msgpack_pack_map(pk, 2);
    jobq_pack_cstr(pk, "valid");
    msgpack_pack_true(pk);
    jobq_pack_cstr(pk, "username");
    jobq_pack_lower(pk, f.user, f.ulen);
    return 0;
}

/* No length limit on the password: argon2 reads it once, through BLAKE2b
 * into its first block (about 2 ms a MiB here), so what a long one costs
 * is its bytes, which max-string-bytes and max-frame-bytes already bound.
 * t and m are ours, never the producer's. */
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
    msgpack_packer *pk = jobq_packer(ctx);
    msgpack_pack_map(pk, 1);
    jobq_pack_cstr(pk, "hash");
    jobq_pack_cstr(pk, hash);
    return 0;
}

/* A producer chooses the cost of a verify through the hash it sends: t
 * passes over m KiB, on one of our threads. We verify no hash that costs
 * more than hashing at libsodium's interactive limits for its algorithm
 * (argon2id, ours: t=2, m=64 MiB; argon2i: t=4, m=32 MiB, the same work),
 * so t=2^32-1 cannot hold a thread for ever nor m=1 GiB take a gigabyte.
 * Every hash libsodium makes has p=1, and libsodium runs lanes one after
 * another on the calling thread: more lanes buy nothing, so we refuse them
 * rather than reason about them. */
struct argon2_limits {
    const char *prefix;
    uint32_t t_max, m_max_kib;
};

static const struct argon2_limits ARGON2_LIMITS[] = {
    {crypto_pwhash_argon2id_STRPREFIX,
     crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE,
     crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE / 1024},
    {crypto_pwhash_argon2i_STRPREFIX,
     crypto_pwhash_argon2i_OPSLIMIT_INTERACTIVE,
     crypto_pwhash_argon2i_MEMLIMIT_INTERACTIVE / 1024},
};
#define ARGON2_LANES 1

/* Consumes the literal lit at *s. */
static bool take(const char **s, const char *lit)
{
    size_t n = strlen(lit);
    if (strncmp(*s, lit, n) != 0)
        return false;
    *s += n;
    return true;
}

/* The decimal at *s and the character stop after it, as libsodium reads
 * it: digits only, no leading zero, at most 32 bits. */
static bool take_u32(const char **s, char stop, uint32_t *out)
{
    const char *p = *s;
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > UINT32_MAX)
            return false;
    }
    if (p == *s || (**s == '0' && p - *s > 1) || *p != stop)
        return false;
    *out = (uint32_t)v;
    *s = p + 1;
    return true;
}

/* "<prefix>v=19$m=<m>,t=<t>,p=<p>$<salt>$<hash>": the limits of its
 * algorithm and its parameters, or NULL. Salt and hash are libsodium's. */
static const struct argon2_limits *argon2_params(const char *s, uint32_t *m,
                                                 uint32_t *t, uint32_t *p)
{
    const struct argon2_limits *lim = NULL;
    for (size_t i = 0;
         !lim && i < sizeof(ARGON2_LIMITS) / sizeof(ARGON2_LIMITS[0]); i++)
        if (take(&s, ARGON2_LIMITS[i].prefix))
            lim = &ARGON2_LIMITS[i];
    uint32_t v;
    if (!lim || !take(&s, "v=") || !take_u32(&s, '$', &v) ||
        v != ARGON2_VERSION || !take(&s, "m=") || !take_u32(&s, ',', m) ||
        !take(&s, "t=") || !take_u32(&s, ',', t) || !take(&s, "p=") ||
        !take_u32(&s, '$', p))
        return NULL;
    return lim;
}

static int password_verify(jobq_ctx *ctx)
{
    const char *p, *h;
    size_t n, hn;
    if (need_str(ctx, "password", &p, &n) != 0 ||
        need_str(ctx, "hash", &h, &hn) != 0)
        return -1;
    char hash[crypto_pwhash_STRBYTES] = {0};
    const struct argon2_limits *lim = NULL;
    uint32_t m, t, lanes;
    /* needs_rehash decodes the whole string as verify would (salt and hash
     * included) without computing anything: -1 is a string that verify
     * would refuse whatever the password, a producer's mistake. */
    if (hn < sizeof(hash) && !memchr(h, 0, hn)) {
        memcpy(hash, h, hn);
        if (crypto_pwhash_str_needs_rehash(
                hash, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                crypto_pwhash_MEMLIMIT_INTERACTIVE) != -1)
            lim = argon2_params(hash, &m, &t, &lanes);
    }
    if (!lim) {
        jobq_fail(ctx, JOBQ_PERMANENT,
                  "hash is not an argon2id or argon2i string");
        return -1;
    }
    if (t > lim->t_max || m > lim->m_max_kib || lanes != ARGON2_LANES) {
        jobq_fail(ctx, JOBQ_PERMANENT,
                  "hash parameters over the limit (t=%u, "
                  "m=%u KiB, p=%u; at most t=%u, m=%u KiB, p=%d)",
                  t, m, lanes, lim->t_max, lim->m_max_kib, ARGON2_LANES);
        return -1;
    }
    bool valid = crypto_pwhash_str_verify(hash, p, n) == 0;
    msgpack_packer *pk = jobq_packer(ctx);
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
    if (rc == JOBQ_ETYPE || n < APIKEY_MIN || n > APIKEY_MAX) {
        jobq_fail(ctx, JOBQ_PERMANENT, "bytes must be an integer from %d to %d",
                  APIKEY_MIN, APIKEY_MAX);
        return -1;
    }
    char key[APIKEY_B64_MAX], hash[65];
    make_apikey(n, key, hash);
    msgpack_packer *pk = jobq_packer(ctx);
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
    uint64_t now = jobq_now_ms();
    msgpack_packer *pk = jobq_packer(ctx);
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

int builtin_users_init(jobq_registry *reg, int api_version)
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
    (void)api_version;
    return builtin_register_all(reg, hs, sizeof(hs) / sizeof(hs[0]));
}
