/* Job signing: HMAC-SHA-512-256 (libsodium crypto_auth) over the frame's
 * job bytes, with key ids so that keys can rotate. */
#ifndef JOBQ_SIGN_H
#define JOBQ_SIGN_H

#include <sodium.h>
#include <stddef.h>

#define SIGN_KID_MAX 64
#define SIGN_KEYS_MAX 32

struct sign_key {
    char kid[SIGN_KID_MAX + 1];
    unsigned char key[crypto_auth_KEYBYTES];
};

struct sign_keys {
    int n;
    struct sign_key k[SIGN_KEYS_MAX];
};

/* Loads "kid = hex" lines. The file must be owned by us and not readable
 * or writable by group or others. Returns 0 or -1 with a reason. */
int sign_keys_load(const char *path, struct sign_keys *ks, char *err,
                   size_t errlen);
void sign_keys_wipe(struct sign_keys *ks);

enum sign_result { SIGN_OK = 0, SIGN_UNKNOWN_KID = -1, SIGN_BAD_MAC = -2 };

/* Verifies in constant time (crypto_auth_verify). */
enum sign_result sign_verify(const struct sign_keys *ks, const char *kid,
                             size_t kidlen, const unsigned char *mac,
                             const void *job, size_t joblen);

/* mac must hold crypto_auth_BYTES (32). Returns -1 for an unknown kid. */
int sign_mac(const struct sign_keys *ks, const char *kid, const void *job,
             size_t joblen, unsigned char *mac);
#endif
