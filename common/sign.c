/* Signing keys and MACs (see sign.h). Keys are held in memory only as
 * long as the worker runs and are wiped on release. */
#include "sign.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct load_state {
    struct sign_keys *ks;
    char *err;
    size_t errlen;
    int bad;
};

static int on_line(void *user, const char *section, const char *name,
                   const char *value)
{
    struct load_state *st = user;
    (void)section;
    size_t binlen = 0;
    size_t kidlen = strlen(name);
    if (st->bad)
        return 1;
    if (kidlen == 0 || kidlen > SIGN_KID_MAX) {
        snprintf(st->err, st->errlen,
                 "signing-keys: key id must be 1 to %d "
                 "bytes",
                 SIGN_KID_MAX);
        st->bad = 1;
        return 1;
    }
    if (st->ks->n >= SIGN_KEYS_MAX) {
        snprintf(st->err, st->errlen, "signing-keys: more than %d keys",
                 SIGN_KEYS_MAX);
        st->bad = 1;
        return 1;
    }
    struct sign_key *k = &st->ks->k[st->ks->n];
    if (sodium_hex2bin(k->key, sizeof(k->key), value, strlen(value), NULL,
                       &binlen, NULL) != 0 ||
        binlen != sizeof(k->key)) {
        /* Never echo the value: it is a secret, even when malformed. */
        snprintf(st->err, st->errlen,
                 "signing-keys: key %s must be %zu bytes "
                 "as hex",
                 name, sizeof(k->key));
        st->bad = 1;
        return 1;
    }
    for (int i = 0; i < st->ks->n; i++)
        if (strcmp(st->ks->k[i].kid, name) == 0) {
            snprintf(st->err, st->errlen, "signing-keys: key id %s given twice",
                     name);
            st->bad = 1;
            return 1;
        }
    memcpy(k->kid, name, kidlen + 1);
    st->ks->n++;
    return 1;
}

/* Opens path and judges the open descriptor, so that the file judged is
 * the file read: with stat() then open(), a rename in between could swap
 * it. Ours and 0600 or stricter: a file's owner can rewrite it whatever
 * its mode, so keys in a file another user owns (root included) are keys
 * of their choosing. */
static FILE *open_checked(const char *path, char *err, size_t errlen)
{
    /* O_NONBLOCK: a FIFO in the file's place must not hang the start; it
     * is refused below as not a regular file. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        snprintf(err, errlen, "signing-keys: %s: %s", path, strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "signing-keys: %s is not a regular file", path);
    } else if ((sb.st_mode & 077) != 0) {
        snprintf(err, errlen,
                 "signing-keys: %s has mode %04o; refused unless "
                 "0600 or stricter",
                 path, (unsigned)(sb.st_mode & 07777));
    } else if (sb.st_uid != geteuid()) {
        snprintf(err, errlen,
                 "signing-keys: %s is owned by uid %u; refused unless owned "
                 "by uid %u, the user running this",
                 path, (unsigned)sb.st_uid, (unsigned)geteuid());
    } else {
        FILE *f = fdopen(fd, "r");
        if (f)
            return f;
        snprintf(err, errlen, "signing-keys: %s: %s", path, strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

int sign_keys_load(const char *path, struct sign_keys *ks, char *err,
                   size_t errlen)
{
    memset(ks, 0, sizeof(*ks));
    FILE *f = open_checked(path, err, errlen);
    if (!f)
        return -1;
    struct load_state st = {ks, err, errlen, 0};
    int rc = ini_parse_file(f, on_line, &st);
    fclose(f);
    if (rc != 0 && !st.bad) {
        snprintf(err, errlen, "signing-keys: %s: %s", path,
                 rc < 0 ? "cannot read" : "syntax error");
        st.bad = 1;
    }
    if (!st.bad && ks->n == 0) {
        snprintf(err, errlen, "signing-keys: %s holds no keys", path);
        st.bad = 1;
    }
    if (st.bad) {
        sign_keys_wipe(ks);
        return -1;
    }
    return 0;
}

void sign_keys_wipe(struct sign_keys *ks)
{
    sodium_memzero(ks, sizeof(*ks));
}

static const struct sign_key *find(const struct sign_keys *ks, const char *kid,
                                   size_t kidlen)
{
    for (int i = 0; i < ks->n; i++)
        if (strlen(ks->k[i].kid) == kidlen &&
            memcmp(ks->k[i].kid, kid, kidlen) == 0)
            return &ks->k[i];
    return NULL;
}

enum sign_result sign_verify(const struct sign_keys *ks, const char *kid,
                             size_t kidlen, const unsigned char *mac,
                             const void *job, size_t joblen)
{
    const struct sign_key *k = find(ks, kid, kidlen);
    if (!k)
        return SIGN_UNKNOWN_KID;
    return crypto_auth_verify(mac, job, joblen, k->key) == 0 ? SIGN_OK
                                                             : SIGN_BAD_MAC;
}

int sign_mac(const struct sign_keys *ks, const char *kid, const void *job,
             size_t joblen, unsigned char *mac)
{
    const struct sign_key *k = find(ks, kid, strlen(kid));
    if (!k)
        return -1;
    crypto_auth(mac, job, joblen, k->key);
    return 0;
}
