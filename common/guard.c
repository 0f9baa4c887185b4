/* The outbound guard (see guard.h): http-allow parsed into rules, and the
 * check made on each connected address. */
#include "guard.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GUARD_ITEM_MAX 300
#define GUARD_SEPARATORS ", \t"

/* Always refused unless a CIDR allows them: where cloud metadata services
 * and other host-local services answer. */
static const struct {
    int family;
    const char *addr;
    unsigned prefix;
} refused_nets[] = {
    {AF_INET, "169.254.0.0", 16},
    {AF_INET6, "fe80::", 10},
    {AF_INET6, "fd00:ec2::254", 128}, /* AWS's IPv6 metadata address */
};

static bool prefix_match(const unsigned char *a, const unsigned char *b,
                         unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (!rest)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

static int parse_cidr(struct guard_rule *r, const char *item, char *err,
                      size_t errlen)
{
    char addr[GUARD_ITEM_MAX];
    snprintf(addr, sizeof(addr), "%s", item);
    char *slash = strchr(addr, '/');
    if (slash)
        *slash = 0;
    if (inet_pton(AF_INET, addr, r->addr) == 1)
        r->family = AF_INET;
    else if (inet_pton(AF_INET6, addr, r->addr) == 1)
        r->family = AF_INET6;
    else
        return 1; /* not an address: a host name */
    unsigned max = r->family == AF_INET ? 32 : 128;
    r->prefix = max;
    if (slash) {
        char *end;
        unsigned long p = strtoul(slash + 1, &end, 10);
        if (!slash[1] || *end || p > max) {
            snprintf(err, errlen, "http-allow: bad prefix in \"%s\"", item);
            return -1;
        }
        r->prefix = (unsigned)p;
    }
    return 0;
}

static bool host_ok(const char *h)
{
    if (!*h || strlen(h) > GUARD_HOST_MAX)
        return false;
    if (h[0] == '*' && h[1] == '.')
        h += 2;
    for (; *h; h++)
        if (!isalnum((unsigned char)*h) && *h != '-' && *h != '.')
            return false;
    return true;
}

int guard_parse(struct guard *g, const char *text, char *err, size_t errlen)
{
    memset(g, 0, sizeof(*g));
    if (!text)
        return 0;
    char *copy = strdup(text), *save = NULL;
    if (!copy) {
        snprintf(err, errlen, "http-allow: out of memory");
        return -1;
    }
    int rc = 0;
    for (char *item = strtok_r(copy, GUARD_SEPARATORS, &save); item;
         item = strtok_r(NULL, GUARD_SEPARATORS, &save)) {
        if (g->n >= GUARD_MAX_RULES) {
            snprintf(err, errlen, "http-allow: more than %d entries",
                     GUARD_MAX_RULES);
            rc = -1;
            break;
        }
        struct guard_rule *r = &g->r[g->n];
        int c = strlen(item) < GUARD_ITEM_MAX ? parse_cidr(r, item, err, errlen)
                                              : 1;
        if (c < 0) {
            rc = -1;
            break;
        }
        if (c > 0) {
            if (!host_ok(item)) {
                snprintf(err, errlen,
                         "http-allow: \"%.64s\" is neither a host name nor "
                         "an address or CIDR",
                         item);
                rc = -1;
                break;
            }
            r->is_host = true;
            snprintf(r->host, sizeof(r->host), "%s", item);
        }
        g->n++;
    }
    free(copy);
    if (rc)
        memset(g, 0, sizeof(*g));
    return rc;
}

/* The address as family + bytes; an IPv4-mapped IPv6 address (::ffff:a.b.
 * c.d) is its IPv4 address, so it cannot slip past an IPv4 rule. */
static int addr_of(const struct sockaddr *sa, unsigned char *out)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
                                             0, 0, 0, 0, 0xff, 0xff};
    if (sa->sa_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return AF_INET;
    }
    if (sa->sa_family == AF_INET6) {
        const unsigned char *a =
            ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        if (memcmp(a, mapped, sizeof(mapped)) == 0) {
            memcpy(out, a + 12, 4);
            return AF_INET;
        }
        memcpy(out, a, 16);
        return AF_INET6;
    }
    return -1;
}

static bool host_match(const char *rule, const char *host)
{
    if (rule[0] == '*' && rule[1] == '.') {
        size_t rl = strlen(rule + 1), hl = strlen(host);
        return hl > rl && strcasecmp(host + hl - rl, rule + 1) == 0;
    }
    return strcasecmp(rule, host) == 0;
}

bool guard_allows(const struct guard *g, const char *host,
                  const struct sockaddr *sa, char *why, size_t whylen)
{
    unsigned char a[16];
    int fam = addr_of(sa, a);
    char text[INET6_ADDRSTRLEN] = "?";
    if (fam < 0) {
        snprintf(why, whylen, "refused by http-allow: not an IP address");
        return false;
    }
    inet_ntop(fam, a, text, sizeof(text));
    for (int i = 0; i < g->n; i++)
        if (!g->r[i].is_host && g->r[i].family == fam &&
            prefix_match(a, g->r[i].addr, g->r[i].prefix))
            return true;
    for (size_t i = 0; i < sizeof(refused_nets) / sizeof(refused_nets[0]);
         i++) {
        unsigned char net[16];
        if (refused_nets[i].family != fam)
            continue;
        inet_pton(fam, refused_nets[i].addr, net);
        if (prefix_match(a, net, refused_nets[i].prefix)) {
            snprintf(why, whylen,
                     "refused by http-allow: %s is a link-local or metadata "
                     "address",
                     text);
            return false;
        }
    }
    if (g->n == 0)
        return true;
    for (int i = 0; host && i < g->n; i++)
        if (g->r[i].is_host && host_match(g->r[i].host, host))
            return true;
    snprintf(why, whylen, "refused by http-allow: %s (%s) is not allowed",
             host ? host : "?", text);
    return false;
}
