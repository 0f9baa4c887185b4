/* Built-in cpu handlers: results and the exact messages of worker.md.
 * Args are written as JSON here and packed as msgpack, as producers do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "jobctx.h"
#include "jsonmp.h"
#include "registry.h"

static struct jobq_registry reg;

struct run {
    struct jobq_ctx ctx;
    msgpack_sbuffer args;
    msgpack_unpacked args_un, res_un;
    int rc;
};

static struct run *run(const char *type, const char *json_args)
{
    struct run *r = calloc(1, sizeof(*r));
    json_error_t jerr;
    json_t *j = json_loads(json_args, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j)
        fail_msg("bad test JSON: %s", jerr.text);
    msgpack_sbuffer_init(&r->args);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &r->args, msgpack_sbuffer_write);
    jsonmp_pack(&pk, j);
    json_decref(j);
    size_t off = 0;
    msgpack_unpacked_init(&r->args_un);
    assert_int_equal(
        msgpack_unpack_next(&r->args_un, r->args.data, r->args.size, &off),
        MSGPACK_UNPACK_SUCCESS);
    r->ctx.job.args = &r->args_un.data;
    msgpack_sbuffer_init(&r->ctx.result);
    msgpack_packer_init(&r->ctx.pk, &r->ctx.result, msgpack_sbuffer_write);
    const jobq_handler *h = registry_find(&reg, type, strlen(type));
    assert_non_null(h);
    assert_int_equal(h->cls, JOBQ_CLASS_CPU);
    r->ctx.h = h;
    r->rc = h->cpu(&r->ctx);
    msgpack_unpacked_init(&r->res_un);
    if (r->rc == 0) {
        off = 0;
        assert_int_equal(msgpack_unpack_next(&r->res_un, r->ctx.result.data,
                                             r->ctx.result.size, &off),
                         MSGPACK_UNPACK_SUCCESS);
    }
    return r;
}

static void done(struct run *r)
{
    msgpack_unpacked_destroy(&r->args_un);
    msgpack_unpacked_destroy(&r->res_un);
    msgpack_sbuffer_destroy(&r->args);
    msgpack_sbuffer_destroy(&r->ctx.result);
    free(r);
}

static const msgpack_object *res(struct run *r, const char *key)
{
    assert_int_equal(r->rc, 0);
    const msgpack_object *o = mp_map_get(&r->res_un.data, key);
    if (!o)
        fail_msg("result has no %s", key);
    return o;
}

static void assert_res_str(struct run *r, const char *key, const char *want)
{
    const msgpack_object *o = res(r, key);
    assert_int_equal(o->type, MSGPACK_OBJECT_STR);
    if (o->via.str.size != strlen(want) ||
        memcmp(o->via.str.ptr, want, o->via.str.size))
        fail_msg("%s is \"%.*s\", want \"%s\"", key, (int)o->via.str.size,
                 o->via.str.ptr, want);
}

static void expect_fail(const char *type, const char *args, jobq_failure kind,
                        const char *msg)
{
    struct run *r = run(type, args);
    if (r->rc == 0 || !r->ctx.failed)
        fail_msg("%s %s: expected failure \"%s\", got success", type, args,
                 msg);
    if (strcmp(r->ctx.err, msg) != 0)
        fail_msg("%s %s: error \"%s\", want \"%s\"", type, args, r->ctx.err,
                 msg);
    assert_int_equal(r->ctx.fail_kind, kind);
    done(r);
}

#define GOOD                                                                   \
    "\"username\":\"Alice_1\",\"email\":\"alice@example.com\",\"password\":"   \
    "\"Secret123\""

static void test_user_validate_ok(void **state)
{
    (void)state;
    struct run *r = run("user.validate", "{" GOOD "}");
    assert_true(res(r, "valid")->via.boolean);
    assert_res_str(r, "username", "alice_1");
    done(r);
}

static void test_user_validate_messages(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"{\"email\":\"a@b.co\",\"password\":\"Secret123\"}",
         "Missing required field: username"},
        {"{\"username\":\"abc\",\"password\":\"Secret123\"}",
         "Missing required field: email"},
        {"{\"username\":\"abc\",\"email\":\"a@b.co\",\"password\":\"\"}",
         "Missing required field: password"},
        {"{\"username\":\"ab\",\"email\":\"a@b.co\",\"password\":"
         "\"Secret123\"}",
         "Username must be at least 3 characters long"},
        {"{\"username\":\"a-b\",\"email\":\"a@b.co\",\"password\":"
         "\"Secret123\"}",
         "Username can only contain letters, numbers, and underscores"},
        {"{\"username\":\"abc\",\"email\":\"invalid-email\",\"password\":"
         "\"Secret123\"}",
         "Invalid email format"},
        {"{\"username\":\"abc\",\"email\":\"a@b.c\",\"password\":"
         "\"Secret123\"}",
         "Invalid email format"},
        {"{\"username\":\"abc\",\"email\":\"a@b.co\",\"password\":\"Sec1\"}",
         "Password must be at least 8 characters long"},
        {"{\"username\":\"abc\",\"email\":\"a@b.co\",\"password\":"
         "\"secret123\"}",
         "Password must contain at least one uppercase letter"},
        {"{\"username\":\"abc\",\"email\":\"a@b.co\",\"password\":"
         "\"SECRET123\"}",
         "Password must contain at least one lowercase letter"},
        {"{\"username\":\"abc\",\"email\":\"a@b.co\",\"password\":"
         "\"SecretPwd\"}",
         "Password must contain at least one digit"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_fail("user.validate", cases[i][0], JOBQ_PERMANENT, cases[i][1]);
}

/* Email rules at their edges. A NUL in the local part once matched the
 * terminator of the allowed punctuation ("._%+-") and passed. */
static void test_user_validate_email_edges(void **state)
{
    (void)state;
    const char *refused[] = {"a@.co", "a\\u0000b@x.co", "@x.co",        "a@x.c",
                             "a@x",   "a@x.c\\u0000o",  "a@x\\u0000.co"};
    char args[256];
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        snprintf(args, sizeof(args),
                 "{\"username\":\"abc\",\"email\":\"%s\","
                 "\"password\":\"Secret123\"}",
                 refused[i]);
        expect_fail("user.validate", args, JOBQ_PERMANENT,
                    "Invalid email format");
    }
    struct run *r = run("user.validate", "{\"username\":\"abc\",\"email\":"
                                         "\"a.b+c@x-y.co\",\"password\":"
                                         "\"Secret123\"}");
    assert_true(res(r, "valid")->via.boolean);
    done(r);
}

static void test_password_hash_and_verify(void **state)
{
    (void)state;
    struct run *h = run("password.hash", "{\"password\":\"Secret123\"}");
    const msgpack_object *hash = res(h, "hash");
    assert_true(hash->via.str.size > 20);
    assert_memory_equal(hash->via.str.ptr, "$argon2id$", 10);
    char args[512];
    snprintf(args, sizeof(args),
             "{\"password\":\"Secret123\",\"hash\":\"%.*s\"}",
             (int)hash->via.str.size, hash->via.str.ptr);
    struct run *v = run("password.verify", args);
    assert_true(res(v, "valid")->via.boolean);
    done(v);
    snprintf(args, sizeof(args),
             "{\"password\":\"Wrong1234\",\"hash\":\"%.*s\"}",
             (int)hash->via.str.size, hash->via.str.ptr);
    v = run("password.verify", args);
    assert_false(res(v, "valid")->via.boolean);
    done(v);
    done(h);
    expect_fail("password.hash", "{}", JOBQ_PERMANENT,
                "Missing required field: password");
    expect_fail("password.hash", "{\"password\":\"\"}", JOBQ_PERMANENT,
                "Missing required field: password");
    expect_fail("password.verify", "{\"password\":\"x\"}", JOBQ_PERMANENT,
                "Missing required field: hash");
}

/* A hash whose parameters differ from one of ours: the params part of
 * "$argon2id$v=19$m=65536,t=2,p=1$salt$hash" replaced, salt and hash
 * kept, so libsodium decodes it and only the parameters are hostile. */
static void verify_args(char *out, size_t n, const char *own, const char *head)
{
    const char *salt = strchr(own + strlen("$argon2id$v=19$"), '$');
    snprintf(out, n, "{\"password\":\"Secret123\",\"hash\":\"%s%s\"}", head,
             salt);
}

#define OVER(t, m, p, at, am)                                                  \
    "hash parameters over the limit (t=" t ", m=" m " KiB, p=" p               \
    "; at most t=" at ", m=" am " KiB, p=1)"
#define MALFORMED "hash is not an argon2id or argon2i string"

static void test_password_verify_bounds_hash_parameters(void **state)
{
    (void)state;
    char own[crypto_pwhash_STRBYTES], args[512];
    assert_int_equal(crypto_pwhash_str(own, "Secret123", 9,
                                       crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                       crypto_pwhash_MEMLIMIT_INTERACTIVE),
                     0);
    /* 1 GiB for one job, and a t that would hold the thread for ever. */
    verify_args(args, sizeof(args), own, "$argon2id$v=19$m=1048576,t=2,p=1");
    expect_fail("password.verify", args, JOBQ_PERMANENT,
                OVER("2", "1048576", "1", "2", "65536"));
    verify_args(args, sizeof(args), own,
                "$argon2id$v=19$m=65536,t=4294967295,p=1");
    expect_fail("password.verify", args, JOBQ_PERMANENT,
                OVER("4294967295", "65536", "1", "2", "65536"));
    verify_args(args, sizeof(args), own, "$argon2id$v=19$m=65536,t=3,p=1");
    expect_fail("password.verify", args, JOBQ_PERMANENT,
                OVER("3", "65536", "1", "2", "65536"));
    verify_args(args, sizeof(args), own, "$argon2id$v=19$m=65536,t=2,p=2");
    expect_fail("password.verify", args, JOBQ_PERMANENT,
                OVER("2", "65536", "2", "2", "65536"));
    /* argon2i's own interactive limits: t=4, m=32 MiB, the same work. */
    verify_args(args, sizeof(args), own, "$argon2i$v=19$m=32768,t=5,p=1");
    expect_fail("password.verify", args, JOBQ_PERMANENT,
                OVER("5", "32768", "1", "4", "32768"));
    verify_args(args, sizeof(args), own, "$argon2i$v=19$m=65536,t=4,p=1");
    expect_fail("password.verify", args, JOBQ_PERMANENT,
                OVER("4", "65536", "1", "4", "32768"));
    /* What libsodium's verify would refuse is malformed, not "invalid". */
    const char *bad[] = {
        "$argon2id$v=19$m=65536,t=4294967296,p=1", /* t over 32 bits */
        "$argon2id$v=19$m=065536,t=2,p=1",         /* leading zero */
        "$argon2id$v=16$m=65536,t=2,p=1",          /* other version */
        "$argon2id$m=65536,t=2,p=1",               /* no version */
        "$argon2id$v=19$m=65536,t=0,p=1",
        "$argon2id$v=19$m=65536,t=2,p=0",
        "$argon2id$v=19$m=65536,t=+2,p=1",
        "$argon2d$v=19$m=65536,t=2,p=1",
        "$argon2id$v=19$m=65536,t=2,p=1$!!$x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        verify_args(args, sizeof(args), own, bad[i]);
        expect_fail("password.verify", args, JOBQ_PERMANENT, MALFORMED);
    }
    expect_fail("password.verify",
                "{\"password\":\"x\",\"hash\":\"not-a-hash\"}", JOBQ_PERMANENT,
                MALFORMED);
    expect_fail(
        "password.verify",
        "{\"password\":\"x\",\"hash\":\"$argon2id$v=19$m=65536,t=2,p=1\"}",
        JOBQ_PERMANENT, MALFORMED);
    expect_fail("password.verify",
                "{\"password\":\"x\",\"hash\":\"$argon2id$v=19\\u0000$m=65536,"
                "t=2,p=1\"}",
                JOBQ_PERMANENT, MALFORMED);
    char longer[600];
    snprintf(longer, sizeof(longer), "{\"password\":\"x\",\"hash\":\"%s%0*d\"}",
             own, (int)(crypto_pwhash_STRBYTES - strlen(own)), 0);
    expect_fail("password.verify", longer, JOBQ_PERMANENT, MALFORMED);
    /* Within the limits: ours, and argon2i at its interactive limits. */
    snprintf(args, sizeof(args), "{\"password\":\"Secret123\",\"hash\":\"%s\"}",
             own);
    struct run *v = run("password.verify", args);
    assert_true(res(v, "valid")->via.boolean);
    done(v);
    char own_i[crypto_pwhash_STRBYTES];
    assert_int_equal(
        crypto_pwhash_argon2i_str(own_i, "Secret123", 9,
                                  crypto_pwhash_argon2i_OPSLIMIT_INTERACTIVE,
                                  crypto_pwhash_argon2i_MEMLIMIT_INTERACTIVE),
        0);
    snprintf(args, sizeof(args), "{\"password\":\"Secret123\",\"hash\":\"%s\"}",
             own_i);
    v = run("password.verify", args);
    assert_true(res(v, "valid")->via.boolean);
    done(v);
    /* A cheaper hash than ours is fine, and a wrong password is no error. */
    verify_args(args, sizeof(args), own, "$argon2id$v=19$m=8,t=1,p=1");
    v = run("password.verify", args);
    assert_false(res(v, "valid")->via.boolean);
    done(v);
}

static void test_apikey(void **state)
{
    (void)state;
    struct run *r = run("apikey.generate", "{}");
    const msgpack_object *key = res(r, "key");
    assert_int_equal(key->via.str.size, 43); /* 32 bytes, base64url, no pad */
    for (size_t i = 0; i < key->via.str.size; i++)
        assert_non_null(strchr(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
            key->via.str.ptr[i]));
    unsigned char h[32];
    char hex[65];
    crypto_generichash(h, 32, (const unsigned char *)key->via.str.ptr,
                       key->via.str.size, NULL, 0);
    sodium_bin2hex(hex, sizeof(hex), h, 32);
    assert_res_str(r, "key_hash", hex);
    done(r);
    r = run("apikey.generate", "{\"bytes\":16}");
    assert_int_equal(res(r, "key")->via.str.size, 22);
    done(r);
    expect_fail("apikey.generate", "{\"bytes\":15}", JOBQ_PERMANENT,
                "bytes must be an integer from 16 to 64");
    expect_fail("apikey.generate", "{\"bytes\":65}", JOBQ_PERMANENT,
                "bytes must be an integer from 16 to 64");
}

static void test_user_create(void **state)
{
    (void)state;
    struct run *r = run("user.create", "{" GOOD ",\"full_name\":\"Alice A\"}");
    assert_null(mp_map_get(&r->res_un.data, "password"));
    assert_res_str(r, "full_name", "Alice A");
    assert_res_str(r, "username", "Alice_1");
    assert_memory_equal(res(r, "hashed_password")->via.str.ptr, "$argon2id$",
                        10);
    assert_int_equal(res(r, "api_key")->via.str.size, 43);
    assert_true(res(r, "created_at")->via.u64 > 1700000000000ull);
    assert_int_equal(res(r, "updated_at")->via.u64,
                     res(r, "created_at")->via.u64);
    done(r);
    expect_fail(
        "user.create",
        "{\"username\":\"ab\",\"email\":\"a@b.co\",\"password\":\"Secret123\"}",
        JOBQ_PERMANENT, "Username must be at least 3 characters long");
}

static void test_data_transform(void **state)
{
    (void)state;
    struct run *r =
        run("data.transform",
            "{\"id\":7,\"username\":\"BoB\",\"email\":"
            "\"Bob@X.COM\",\"full_name\":\"Bob B\",\"created_at\":5}");
    assert_int_equal(res(r, "id")->via.u64, 7);
    assert_res_str(r, "username", "bob");
    assert_res_str(r, "email", "bob@x.com");
    assert_int_equal(res(r, "created_at")->via.u64, 5);
    assert_res_str(r, "display_name", "Bob B");
    done(r);
    /* the guide's `full_name or username`: the username as given */
    r = run("data.transform", "{\"username\":\"BoB\",\"full_name\":\"\"}");
    assert_res_str(r, "display_name", "BoB");
    assert_res_str(r, "email", "");
    /* id is present as nil: five entries, and lookups treat nil as absent */
    assert_int_equal(r->res_un.data.via.map.size, 5);
    assert_null(mp_map_get(&r->res_un.data, "id"));
    done(r);
}

static void test_data_digest_is_canonical(void **state)
{
    (void)state;
    struct run *a =
        run("data.digest", "{\"b\":1,\"a\":[1,2,{\"y\":1,\"x\":2}]}");
    struct run *b =
        run("data.digest", "{\"a\":[1,2,{\"x\":2,\"y\":1}],\"b\":1}");
    const msgpack_object *da = res(a, "digest"), *db = res(b, "digest");
    assert_int_equal(da->via.str.size, 64);
    assert_memory_equal(da->via.str.ptr, db->via.str.ptr, 64);
    /* the digest of {"a":1} is BLAKE2b-256 of 81 a1 61 01 */
    done(a);
    done(b);
    a = run("data.digest", "{\"a\":1}");
    unsigned char h[32];
    char hex[65];
    crypto_generichash(h, 32,
                       (const unsigned char *)"\x81\xa1"
                                              "a\x01",
                       4, NULL, 0);
    sodium_bin2hex(hex, sizeof(hex), h, 32);
    assert_res_str(a, "digest", hex);
    done(a);
}

static void test_video_validate(void **state)
{
    (void)state;
    struct run *r =
        run("video.validate", "{\"script\":\" hi \",\"voice_id\":\"v1\"}");
    assert_true(res(r, "valid")->via.boolean);
    done(r);
    expect_fail("video.validate", "{\"voice_id\":\"v\"}", JOBQ_PERMANENT,
                "Missing required field: script");
    expect_fail("video.validate", "{\"script\":\"x\"}", JOBQ_PERMANENT,
                "Missing required field: voice_id");
    expect_fail("video.validate", "{\"script\":\"   \",\"voice_id\":\"v\"}",
                JOBQ_PERMANENT, "Script cannot be empty");
    char big[1100] = "{\"voice_id\":\"v\",\"script\":\"";
    size_t n = strlen(big);
    memset(big + n, 'x', 1001);
    strcpy(big + n + 1001, "\"}");
    expect_fail("video.validate", big, JOBQ_PERMANENT,
                "Script too long (max 1000 characters)");
}

static void test_sum_squares(void **state)
{
    (void)state;
    struct run *r = run("math.sum_squares", "{\"n\":1000}");
    assert_int_equal(res(r, "sum")->via.u64, 999ull * 1000 * 1999 / 6);
    done(r);
    r = run("math.sum_squares", "{\"n\":0}");
    assert_int_equal(res(r, "sum")->via.u64, 0);
    done(r);
    expect_fail("math.sum_squares", "{}", JOBQ_PERMANENT,
                "Missing required field: n");
    expect_fail("math.sum_squares", "{\"n\":-3}", JOBQ_PERMANENT,
                "n must not be negative");
    /* A producer's n is a time it chooses: past the cap it is refused at
     * once instead of timing out on every attempt. */
    expect_fail("math.sum_squares", "{\"n\":10000000001}", JOBQ_PERMANENT,
                "n must be at most 10000000000");
    expect_fail("math.sum_squares", "{\"n\":9223372036854775807}",
                JOBQ_PERMANENT, "n must be at most 10000000000");
}

static void test_sum_squares_polls_cancellation(void **state)
{
    (void)state;
    struct run *r = calloc(1, sizeof(*r));
    (void)r;
    free(r);
    /* A cancelled flag set before the run stops it at the first poll. */
    struct jobq_ctx ctx = {0};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    mp_pack_cstr(&pk, "n");
    msgpack_pack_uint64(&pk, 10000000000ull); /* the cap */
    msgpack_unpacked un;
    msgpack_unpacked_init(&un);
    size_t off = 0;
    msgpack_unpack_next(&un, sb.data, sb.size, &off);
    ctx.job.args = &un.data;
    msgpack_sbuffer_init(&ctx.result);
    msgpack_packer_init(&ctx.pk, &ctx.result, msgpack_sbuffer_write);
    atomic_store(&ctx.cancelled, 1);
    const jobq_handler *h = registry_find(&reg, "math.sum_squares", 16);
    assert_int_equal(h->cpu(&ctx), -1);
    assert_string_equal(ctx.err, "cancelled");
    assert_int_equal(ctx.fail_kind, JOBQ_RETRYABLE);
    msgpack_unpacked_destroy(&un);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&ctx.result);
}

static void test_registry(void **state)
{
    (void)state;
    const char *cpu[] = {
        "user.validate",   "password.hash",  "password.verify",
        "apikey.generate", "user.create",    "data.transform",
        "data.digest",     "video.validate", "math.sum_squares"};
    for (size_t i = 0; i < sizeof(cpu) / sizeof(cpu[0]); i++) {
        const jobq_handler *h = registry_find(&reg, cpu[i], strlen(cpu[i]));
        assert_non_null(h);
        assert_int_equal(h->cls, JOBQ_CLASS_CPU);
    }
    const jobq_handler *s = registry_find(&reg, "sleep", 5);
    assert_non_null(s);
    assert_int_equal(s->cls, JOBQ_CLASS_IO);
    jobq_handler dup = {.type = "sleep",
                        .cls = JOBQ_CLASS_IO,
                        .start = s->start,
                        .cancel = s->cancel};
    assert_int_equal(jobq_register(&reg, &dup), JOBQ_EEXIST);
}

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    return registry_init(&reg) == JOBQ_OK ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_validate_ok),
        cmocka_unit_test(test_user_validate_messages),
        cmocka_unit_test(test_user_validate_email_edges),
        cmocka_unit_test(test_password_hash_and_verify),
        cmocka_unit_test(test_password_verify_bounds_hash_parameters),
        cmocka_unit_test(test_apikey),
        cmocka_unit_test(test_user_create),
        cmocka_unit_test(test_data_transform),
        cmocka_unit_test(test_data_digest_is_canonical),
        cmocka_unit_test(test_video_validate),
        cmocka_unit_test(test_sum_squares),
        cmocka_unit_test(test_sum_squares_polls_cancellation),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests_name("handlers", tests, setup, NULL);
}
