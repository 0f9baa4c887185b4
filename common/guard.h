/* The outbound guard of the http.* and webhook.post handlers (setting
 * http-allow): which addresses a request may connect to. It is asked about
 * the address actually connected, after name resolution and on every
 * redirect hop, so a name that resolves to a refused address is refused
 * too. Pure functions over a parsed rule list; no I/O. */
#ifndef JOBQ_GUARD_H
#define JOBQ_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define GUARD_MAX_RULES 64
#define GUARD_HOST_MAX 253 /* a DNS name's longest text form */

struct guard_rule {
    bool is_host;
    /* CIDR: the family, the address in network order and the prefix. */
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned prefix;
    /* Host: a name matched without case; "*.example.com" matches every
     * name below example.com (not example.com itself). */
    char host[GUARD_HOST_MAX + 1];
};

struct guard {
    int n; /* 0: http-allow unset, any address but the always-refused */
    struct guard_rule r[GUARD_MAX_RULES];
};

/* Parses http-allow: hosts and CIDRs (an address alone is a /32 or /128)
 * separated by commas or spaces. NULL or "" gives the default guard.
 * Returns 0, or -1 with the reason in err. */
int guard_parse(struct guard *g, const char *text, char *err, size_t errlen);

/* May a request whose URL names host connect to sa? host may be NULL
 * (then only CIDRs decide). Link-local and metadata addresses
 * (169.254.0.0/16, fe80::/10, fd00:ec2::254, and their IPv4-mapped forms)
 * are refused unless a CIDR of http-allow covers them: a host name never
 * unlocks them, since DNS is what an attacker controls. Returns true, or
 * false with the reason in why. */
bool guard_allows(const struct guard *g, const char *host,
                  const struct sockaddr *sa, char *why, size_t whylen);
#endif
