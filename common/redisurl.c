/* Redis URL parsing (see redisurl.h). Userinfo is percent-decoded so that
 * passwords may hold ':' and '@'. */
#include "redisurl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "invalid redis URL: %s", msg);
    return -1;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int pct_decode(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = h * 16 + l;
            i += 2;
        }
        if (c == 0 || o + 1 >= outlen)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = 0;
    return 0;
}

static int parse_int(const char *s, size_t n, int lo, int hi, int *out)
{
    if (n == 0 || n > 9)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int redis_url_parse(const char *s, struct redis_url *u, char *err,
                    size_t errlen)
{
    memset(u, 0, sizeof(*u));
    u->port = 6379;
    if (strncmp(s, "unix://", 7) == 0) {
        u->is_unix = true;
        const char *p = s + 7, *q = strchr(p, '?');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n == 0 || p[0] != '/')
            return fail(err, errlen, "unix:// needs an absolute socket path");
        if (n >= sizeof(u->path))
            return fail(err, errlen, "socket path too long");
        memcpy(u->path, p, n);
        if (q) {
            if (strncmp(q, "?db=", 4) != 0 ||
                parse_int(q + 4, strlen(q + 4), 0, 1 << 20, &u->db) != 0)
                return fail(err, errlen, "query must be ?db=N");
        }
        return 0;
    }
    if (strncmp(s, "redis://", 8) != 0)
        return fail(err, errlen, "scheme must be redis:// or unix://");
    const char *p = s + 8, *end = p + strlen(p);
    const char *slash = strchr(p, '/');
    const char *hostend = slash ? slash : end;
    const char *at = NULL;
    for (const char *c = p; c < hostend; c++)
        if (*c == '@')
            at = c; /* the last '@' ends userinfo */
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *uend = colon ? colon : at;
        if (pct_decode(p, (size_t)(uend - p), u->user, sizeof(u->user)) != 0)
            return fail(err, errlen, "bad user name encoding");
        if (colon) {
            if (pct_decode(colon + 1, (size_t)(at - colon - 1), u->password,
                           sizeof(u->password)) != 0)
                return fail(err, errlen, "bad password encoding");
            u->has_password = true;
        }
        p = at + 1;
    }
    const char *portsep = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(hostend - p));
        if (!rb)
            return fail(err, errlen, "unclosed [ in host");
        if ((size_t)(rb - p - 1) >= sizeof(u->host) || rb == p + 1)
            return fail(err, errlen, "bad host");
        memcpy(u->host, p + 1, (size_t)(rb - p - 1));
        if (rb + 1 < hostend) {
            if (rb[1] != ':')
                return fail(err, errlen, "junk after ]");
            portsep = rb + 1;
        }
    } else {
        portsep = memchr(p, ':', (size_t)(hostend - p));
        const char *he = portsep ? portsep : hostend;
        if (he == p || (size_t)(he - p) >= sizeof(u->host))
            return fail(err, errlen, "missing host");
        memcpy(u->host, p, (size_t)(he - p));
    }
    if (portsep && parse_int(portsep + 1, (size_t)(hostend - portsep - 1), 1,
                             65535, &u->port) != 0)
        return fail(err, errlen, "port must be 1 to 65535");
    if (slash && slash + 1 < end &&
        parse_int(slash + 1, (size_t)(end - slash - 1), 0, 1 << 20, &u->db) !=
            0)
        return fail(err, errlen, "database must be a number");
    return 0;
}

void redis_url_mask(const char *s, char *out, size_t outlen)
{
    const char *p = strstr(s, "://");
    const char *at = NULL, *colon = NULL;
    if (p) {
        p += 3;
        const char *slash = strchr(p, '/');
        for (const char *c = p; *c && (!slash || c < slash); c++)
            if (*c == '@')
                at = c;
        if (at)
            colon = memchr(p, ':', (size_t)(at - p));
    }
    if (!colon) {
        snprintf(out, outlen, "%s", s);
        return;
    }
    snprintf(out, outlen, "%.*s:***%s", (int)(colon - s), s, at);
}
