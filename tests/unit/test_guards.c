/* Guards at the edges that tests/mutants showed unguarded: a frame of
 * exactly max-frame-bytes, and a MAC that differs in any one byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "frame.h"
#include "sign.h"

static void encode_frame(msgpack_sbuffer *fr)
{
    msgpack_sbuffer job;
    msgpack_sbuffer_init(&job);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &job, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    mp_pack_cstr(&pk, "id");
    mp_pack_cstr(&pk, "edge");
    mp_pack_cstr(&pk, "type");
    mp_pack_cstr(&pk, "sleep");
    frame_encode_new(fr, job.data, job.size, NULL, NULL);
    msgpack_sbuffer_destroy(&job);
}

/* max-frame-bytes is the largest frame accepted, not the first refused. */
static void test_frame_of_exactly_max_bytes(void **state)
{
    (void)state;
    msgpack_sbuffer fr;
    msgpack_sbuffer_init(&fr);
    encode_frame(&fr);
    struct frame f = {0};
    char err[256] = "";
    struct frame_limits at = {fr.size, 100, 0};
    if (frame_decode(fr.data, fr.size, &at, &f, err, sizeof(err)) != 0)
        fail_msg("a frame of exactly the limit (%zu bytes) was refused: %s",
                 fr.size, err);
    struct frame_limits under = {fr.size - 1, 100, 0};
    assert_int_equal(
        frame_decode(fr.data, fr.size, &under, &f, err, sizeof(err)), -1);
    char want[80];
    snprintf(want, sizeof(want), "frame too large (%zu bytes, limit %zu)",
             fr.size, fr.size - 1);
    assert_string_equal(err, want);
    frame_free(&f);
    msgpack_sbuffer_destroy(&fr);
}

/* All 32 bytes of the MAC count: flipping any one of them, the last ones
 * included, makes it a bad signature. */
static void test_every_mac_byte_counts(void **state)
{
    (void)state;
    struct sign_keys ks;
    memset(&ks, 0, sizeof(ks));
    ks.n = 1;
    strcpy(ks.k[0].kid, "k1");
    for (size_t i = 0; i < sizeof(ks.k[0].key); i++)
        ks.k[0].key[i] = (unsigned char)i;
    const char job[] = "the job bytes";
    unsigned char mac[crypto_auth_BYTES];
    assert_int_equal(sign_mac(&ks, "k1", job, sizeof(job), mac), 0);
    assert_int_equal(sign_verify(&ks, "k1", 2, mac, job, sizeof(job)), SIGN_OK);
    for (size_t i = 0; i < sizeof(mac); i++) {
        mac[i] ^= 0x01;
        if (sign_verify(&ks, "k1", 2, mac, job, sizeof(job)) != SIGN_BAD_MAC)
            fail_msg("a MAC with byte %zu changed was accepted", i);
        mac[i] ^= 0x01;
    }
    sign_keys_wipe(&ks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_of_exactly_max_bytes),
        cmocka_unit_test(test_every_mac_byte_counts),
    };
    return cmocka_run_group_tests_name("guards", tests, NULL, NULL);
}
