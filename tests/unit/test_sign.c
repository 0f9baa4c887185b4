/* Signing keys: file owner and mode, several keys, constant-time
 * verification. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */

#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sign.h"

#define K1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define K2 "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static void keyfile(char *path, const char *text, mode_t mode)
{
    strcpy(path, "/tmp/jobq-keys-XXXXXX");
    int fd = mkstemp(path);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    chmod(path, mode);
}

static void test_load_and_verify(void **state)
{
    (void)state;
    char path[64], err[256];
    keyfile(path, "k1 = " K1 "\nk2 = " K2 "\n", 0600);
    struct sign_keys ks;
    assert_int_equal(sign_keys_load(path, &ks, err, sizeof(err)), 0);
    assert_int_equal(ks.n, 2);
    unsigned char mac[32];
    assert_int_equal(sign_mac(&ks, "k2", "job", 3, mac), 0);
    assert_int_equal(sign_verify(&ks, "k2", 2, mac, "job", 3), SIGN_OK);
    assert_int_equal(sign_verify(&ks, "k1", 2, mac, "job", 3), SIGN_BAD_MAC);
    assert_int_equal(sign_verify(&ks, "k9", 2, mac, "job", 3),
                     SIGN_UNKNOWN_KID);
    mac[0] ^= 1;
    assert_int_equal(sign_verify(&ks, "k2", 2, mac, "job", 3), SIGN_BAD_MAC);
    unlink(path);
}

static void test_mode_refused(void **state)
{
    (void)state;
    char path[64], err[256];
    keyfile(path, "k1 = " K1 "\n", 0644);
    struct sign_keys ks;
    assert_int_equal(sign_keys_load(path, &ks, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "0644"));
    unlink(path);
}

/* A 0600 file of another user's is theirs to change: refused, naming its
 * owner and never the key. Only root can give a file away to test this. */
static void test_other_owner_refused(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        print_message("needs root to chown the key file; skipped\n");
        skip();
    }
    char path[64], err[256];
    keyfile(path, "k1 = " K1 "\n", 0600);
    assert_int_equal(chown(path, 65534, (gid_t)-1), 0);
    struct sign_keys ks;
    assert_int_equal(sign_keys_load(path, &ks, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "owned by uid 65534"));
    assert_null(strstr(err, K1));
    assert_int_equal(ks.n, 0);
    unlink(path);
}

static void test_fifo_refused_without_blocking(void **state)
{
    (void)state;
    char dir[64] = "/tmp/jobq-keys-XXXXXX", path[96], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/keys", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    struct sign_keys ks;
    assert_int_equal(sign_keys_load(path, &ks, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a regular file"));
    unlink(path);
    rmdir(dir);
}

static void test_bad_key_not_echoed(void **state)
{
    (void)state;
    char path[64], err[256];
    keyfile(path, "k1 = deadbeefsecret\n", 0600);
    struct sign_keys ks;
    assert_int_equal(sign_keys_load(path, &ks, err, sizeof(err)), -1);
    assert_null(strstr(err, "deadbeef"));
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_and_verify),
        cmocka_unit_test(test_mode_refused),
        cmocka_unit_test(test_other_owner_refused),
        cmocka_unit_test(test_fifo_refused_without_blocking),
        cmocka_unit_test(test_bad_key_not_echoed),
    };
    return cmocka_run_group_tests_name("sign", tests, NULL, NULL);
}
