/* Frame and job codec: round trips and every decode rejection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */

#include <cmocka.h>
#include <string.h>

#include "canon.h"
#include "frame.h"

static const struct frame_limits lim = {1 << 20, 65536, 0};

/* A job map packed with the given extra entries. */
static void pack_job(msgpack_sbuffer *sb, const char *id, const char *type)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    mp_pack_cstr(&pk, "id");
    mp_pack_cstr(&pk, id);
    mp_pack_cstr(&pk, "type");
    mp_pack_cstr(&pk, type);
    mp_pack_cstr(&pk, "args");
    msgpack_pack_map(&pk, 1);
    mp_pack_cstr(&pk, "n");
    msgpack_pack_uint64(&pk, 7);
    mp_pack_cstr(&pk, "max_attempts");
    msgpack_pack_uint64(&pk, 3);
}

static void test_frame_round_trip(void **state)
{
    (void)state;
    msgpack_sbuffer job, fr;
    msgpack_sbuffer_init(&job);
    msgpack_sbuffer_init(&fr);
    pack_job(&job, "job-1", "data.transform");
    frame_encode_new(&fr, job.data, job.size, NULL, NULL);
    struct frame f = {0};
    struct job j = {0};
    char err[256];
    assert_int_equal(frame_decode(fr.data, fr.size, &lim, &f, err, sizeof(err)),
                     0);
    assert_int_equal(f.v, 1);
    assert_int_equal(f.job.len, job.size);
    assert_memory_equal(f.job.ptr, job.data, job.size);
    assert_int_equal(job_decode(&f, &lim, &j, err, sizeof(err)), 0);
    assert_int_equal(j.id.len, 5);
    assert_memory_equal(j.id.ptr, "job-1", 5);
    assert_int_equal(j.max_attempts, 3);
    assert_true(mp_map_get(j.args, "n")->via.u64 == 7);
    job_free(&j);
    frame_free(&f);
    msgpack_sbuffer_destroy(&job);
    msgpack_sbuffer_destroy(&fr);
}

static void test_retry_frame_keeps_job_and_unknown_keys(void **state)
{
    (void)state;
    /* {v:1, job:bin "xy", extra:"keep", attempt:1} */
    const char raw[] = "\x84\xa1v\x01\xa3job\xc4\x02xy\xa5"
                       "extra\xa4keep"
                       "\xa7"
                       "attempt\x01";
    struct frame f = {0};
    char err[256];
    assert_int_equal(
        frame_decode(raw, sizeof(raw) - 1, &lim, &f, err, sizeof(err)), 0);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    frame_encode_retry(&sb, &f, 2, "boom", 4, 1234);
    struct frame g = {0};
    assert_int_equal(frame_decode(sb.data, sb.size, &lim, &g, err, sizeof(err)),
                     0);
    assert_int_equal(g.attempt, 2);
    assert_int_equal(g.failed_at, 1234);
    assert_memory_equal(g.error.ptr, "boom", 4);
    assert_memory_equal(g.job.ptr, "xy", 2);
    assert_true(mp_str_eq(mp_map_get(&g.root, "extra"), "keep"));
    frame_free(&g);
    frame_free(&f);
    msgpack_sbuffer_destroy(&sb);
}

struct bad_case {
    const char *name;
    const char *bytes;
    size_t len;
    const char *error_prefix;
};

#define CASE(n, b, e)                                                          \
    {                                                                          \
        n, b, sizeof(b) - 1, e                                                 \
    }

static const struct bad_case frame_cases[] = {
    CASE("invalid byte", "\xc1", "not msgpack: invalid byte 0xc1"),
    CASE("truncated map", "\x82\xa1v\x01\xa1j", "not msgpack: truncated"),
    CASE("str length past end", "\xdb\xff\xff\xff\xff",
         "not msgpack: length points past the end"),
    CASE("2^32 array", "\xdd\xff\xff\xff\xff\x01",
         "not msgpack: length points past the end"),
    CASE("2^32 map", "\xdf\xff\xff\xff\xff\x01\x02",
         "not msgpack: length points past the end"),
    CASE("trailing bytes", "\x80\x80", "not msgpack: trailing bytes"),
    CASE("not a map", "\x93\x01\x02\x03", "frame is not a map"),
    CASE("missing v", "\x81\xa3job\xc4\x01\x80",
         "frame lacks required field v"),
    CASE("v wrong type", "\x82\xa1v\xa1x\xa3job\xc4\x01\x80",
         "frame field v must be an unsigned integer"),
    CASE("v 2", "\x82\xa1v\x02\xa3job\xc4\x01\x80",
         "unsupported protocol version 2"),
    CASE("missing job", "\x81\xa1v\x01", "frame lacks required field job"),
    CASE("job as str", "\x82\xa1v\x01\xa3job\xa1x",
         "frame field job must be bin"),
    CASE("kid without mac", "\x83\xa1v\x01\xa3job\xc4\x01\x80\xa3kid\xa1k",
         "frame has one of kid and mac"),
    CASE("short mac",
         "\x84\xa1v\x01\xa3job\xc4\x01\x80\xa3kid\xa1k\xa3mac\xc4\x01x",
         "frame field mac must be 32 bytes"),
    CASE("attempt negative",
         "\x83\xa1v\x01\xa3job\xc4\x01\x80\xa7"
         "attempt\xff",
         "frame field attempt must be"),
};

static void test_frame_rejections(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(frame_cases) / sizeof(frame_cases[0]); i++) {
        const struct bad_case *c = &frame_cases[i];
        struct frame f = {0};
        char err[256] = "";
        int rc = frame_decode(c->bytes, c->len, &lim, &f, err, sizeof(err));
        frame_free(&f);
        if (rc == 0 ||
            strncmp(err, c->error_prefix, strlen(c->error_prefix)) != 0)
            fail_msg("%s: got rc %d error \"%s\"", c->name, rc, err);
    }
}

static void test_frame_too_large(void **state)
{
    (void)state;
    struct frame_limits small = {16, 100, 0};
    char buf[17] = {0};
    struct frame f = {0};
    char err[256];
    assert_int_equal(
        frame_decode(buf, sizeof(buf), &small, &f, err, sizeof(err)), -1);
    assert_string_equal(err, "frame too large (17 bytes, limit 16)");
}

static void test_too_many_entries(void **state)
{
    (void)state;
    char err[256];
    const char arr[] = "\x93\x01\x02\x03";
    assert_int_equal(mp_check(arr, 4, 2, err, sizeof(err)), -1);
    assert_string_equal(err, "container has 3 entries, limit 2");
    assert_int_equal(mp_check(arr, 4, 3, err, sizeof(err)), 0);
}

static void test_string_limit(void **state)
{
    (void)state;
    char err[256];
    const char s5[] = "\xa5hello";
    const char b5[] = "\xc4\x05hello";
    assert_int_equal(mp_check_limits(s5, 6, 0, 5, err, sizeof(err)), 0);
    assert_int_equal(mp_check_limits(s5, 6, 0, 4, err, sizeof(err)), -1);
    assert_string_equal(err, "string of 5 bytes, limit 4");
    assert_int_equal(mp_check_limits(b5, 7, 0, 5, err, sizeof(err)), 0);
    assert_int_equal(mp_check_limits(b5, 7, 0, 4, err, sizeof(err)), -1);
    assert_string_equal(err, "string of 5 bytes, limit 4");
    /* the frame's job bin is not held to the limit, the job's strings are */
    struct frame_limits tight = {1 << 20, 100, 4};
    msgpack_sbuffer job, fr;
    msgpack_sbuffer_init(&job);
    msgpack_sbuffer_init(&fr);
    pack_job(&job, "job-1", "t");
    frame_encode_new(&fr, job.data, job.size, NULL, NULL);
    struct frame f = {0};
    struct job j = {0};
    assert_int_equal(
        frame_decode(fr.data, fr.size, &tight, &f, err, sizeof(err)), 0);
    assert_int_equal(job_decode(&f, &tight, &j, err, sizeof(err)), -1);
    assert_string_equal(err, "job: string of 5 bytes, limit 4"); /* the id */
    job_free(&j);
    frame_free(&f);
    msgpack_sbuffer_destroy(&job);
    msgpack_sbuffer_destroy(&fr);
}

static void test_depth_limit(void **state)
{
    (void)state;
    char buf[64];
    char err[256];
    for (int depth = 31; depth <= 33; depth++) {
        memset(buf, 0x91, (size_t)depth); /* depth nested one-element arrays */
        buf[depth] = 0x01;
        int rc = mp_check(buf, (size_t)depth + 1, 0, err, sizeof(err));
        if (depth <= 32)
            assert_int_equal(rc, 0);
        else {
            assert_int_equal(rc, -1);
            assert_string_equal(err, "nested deeper than 32");
        }
        /* What we accept, msgpack-c must be able to decode. */
        if (rc == 0) {
            msgpack_unpacked un;
            msgpack_unpacked_init(&un);
            size_t off = 0;
            assert_int_equal(
                msgpack_unpack_next(&un, buf, (size_t)depth + 1, &off),
                MSGPACK_UNPACK_SUCCESS);
            msgpack_unpacked_destroy(&un);
        }
    }
}

static int decode_job_bytes(const char *job, size_t len, char *err)
{
    msgpack_sbuffer fr;
    msgpack_sbuffer_init(&fr);
    frame_encode_new(&fr, job, len, NULL, NULL);
    struct frame f = {0};
    struct job j = {0};
    int rc = frame_decode(fr.data, fr.size, &lim, &f, err, 256);
    if (rc == 0)
        rc = job_decode(&f, &lim, &j, err, 256);
    job_free(&j);
    frame_free(&f);
    msgpack_sbuffer_destroy(&fr);
    return rc;
}

static const struct bad_case job_cases[] = {
    CASE("job not msgpack", "\xc1", "job: not msgpack"),
    CASE("job not a map", "\x90", "job is not a map"),
    CASE("no id", "\x81\xa4type\xa1t", "job lacks required field id"),
    CASE("id int", "\x82\xa2id\x01\xa4type\xa1t",
         "job field id must be a string"),
    CASE("id with NUL", "\x82\xa2id\xa2\x61\x00\xa4type\xa1t",
         "job id must be 1 to 64"),
    CASE("id empty", "\x82\xa2id\xa0\xa4type\xa1t", "job id must be 1 to 64"),
    CASE("no type", "\x81\xa2id\xa1x", "job lacks required field type"),
    CASE("type with NUL", "\x82\xa2id\xa1x\xa4type\xa2t\x00",
         "job type must be 1 to 128"),
    CASE("max_attempts 0", "\x83\xa2id\xa1x\xa4type\xa1t\xacmax_attempts\x00",
         "job field max_attempts must be at least 1"),
    CASE("timeout str", "\x83\xa2id\xa1x\xa4type\xa1t\xaatimeout_ms\xa1x",
         "job field timeout_ms must be an unsigned integer"),
    CASE("reply_to int", "\x83\xa2id\xa1x\xa4type\xa1t\xa8reply_to\x01",
         "job field reply_to must be a string"),
};

static void test_job_rejections(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(job_cases) / sizeof(job_cases[0]); i++) {
        const struct bad_case *c = &job_cases[i];
        char err[256] = "";
        int rc = decode_job_bytes(c->bytes, c->len, err);
        if (rc == 0 ||
            strncmp(err, c->error_prefix, strlen(c->error_prefix)) != 0)
            fail_msg("%s: got rc %d error \"%s\"", c->name, rc, err);
    }
}

static void test_names(void **state)
{
    (void)state;
    assert_true(name_valid_queue("emails.high-1_x", 15));
    assert_false(name_valid_queue("a b", 3));
    assert_false(name_valid_queue("", 0));
    assert_true(name_valid_id("order:42", 8));
    assert_false(name_valid_queue("order:42", 8));
    char long_id[66];
    memset(long_id, 'a', 65);
    assert_true(name_valid_id(long_id, 64));
    assert_false(name_valid_id(long_id, 65));
}

static void canon_of(const char *bytes, size_t len, msgpack_sbuffer *out)
{
    msgpack_unpacked un;
    msgpack_unpacked_init(&un);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&un, bytes, len, &off),
                     MSGPACK_UNPACK_SUCCESS);
    msgpack_sbuffer_init(out);
    assert_int_equal(canon_encode(out, &un.data), 0);
    msgpack_unpacked_destroy(&un);
}

static void test_canonical_encoding(void **state)
{
    (void)state;
    msgpack_sbuffer a, b;
    /* {"b":1,"a":2} with a wasteful uint16 -> {"a":2,"b":1} smallest */
    canon_of("\x82\xa1"
             "b\xcd\x00\x01\xa1"
             "a\x02",
             9, &a);
    assert_int_equal(a.size, 7);
    assert_memory_equal(a.data,
                        "\x82\xa1"
                        "a\x02\xa1"
                        "b\x01",
                        7);
    /* the same map in the other order encodes identically */
    canon_of("\x82\xa1"
             "a\x02\xa1"
             "b\x01",
             7, &b);
    assert_int_equal(a.size, b.size);
    assert_memory_equal(a.data, b.data, a.size);
    msgpack_sbuffer_destroy(&a);
    msgpack_sbuffer_destroy(&b);
    /* float64 1.5 is exact as float32 */
    canon_of("\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00", 9, &a);
    assert_int_equal(a.size, 5);
    assert_int_equal((unsigned char)a.data[0], 0xca);
    msgpack_sbuffer_destroy(&a);
    /* str8 "ab" becomes fixstr */
    canon_of("\xd9\x02"
             "ab",
             4, &a);
    assert_int_equal(a.size, 3);
    msgpack_sbuffer_destroy(&a);
    /* negative int in int32 becomes a negative fixint */
    canon_of("\xd2\xff\xff\xff\xff", 5, &a);
    assert_int_equal(a.size, 1);
    assert_int_equal((unsigned char)a.data[0], 0xff);
    msgpack_sbuffer_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_round_trip),
        cmocka_unit_test(test_retry_frame_keeps_job_and_unknown_keys),
        cmocka_unit_test(test_frame_rejections),
        cmocka_unit_test(test_frame_too_large),
        cmocka_unit_test(test_too_many_entries),
        cmocka_unit_test(test_string_limit),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_job_rejections),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_canonical_encoding),
    };
    return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
