/* The one DNS resolver (see net.h). evdns, never getaddrinfo(): a blocking
 * lookup on the loop would stall every job on it. */
#include "net.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

#include "xalloc.h"

#define NET_RESOLV_CONF "/etc/resolv.conf"
/* evdns_base_resolv_conf_parse's "out of memory" (event2/dns.h). */
#define NET_RESOLV_CONF_NOMEM 4

struct net {
    struct event_base *base;
    struct evdns_base *dns;
};

struct net *net_new(struct event_base *base, char *err, size_t errlen)
{
    /* DISABLE_WHEN_INACTIVE: an idle resolver holds no event, so it never
     * keeps a loop running that has nothing else to do. libevent 2.1 only
     * honours it for name servers added after it is set, so resolv.conf is
     * read here rather than by EVDNS_BASE_INITIALIZE_NAMESERVERS. */
    struct evdns_base *dns =
        evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (!dns) {
        snprintf(err, errlen, "DNS resolver: cannot start evdns");
        return NULL;
    }
    /* A missing or empty resolv.conf leaves libevent's default, a name
     * server on localhost (as the C library does); only running out of
     * memory (4) is fatal. */
    int rc =
        evdns_base_resolv_conf_parse(dns, DNS_OPTIONS_ALL, NET_RESOLV_CONF);
    if (rc == NET_RESOLV_CONF_NOMEM) {
        evdns_base_free(dns, 0);
        snprintf(err, errlen, "DNS resolver: out of memory reading %s",
                 NET_RESOLV_CONF);
        return NULL;
    }
    struct net *net = xcalloc(1, sizeof(*net));
    net->base = base;
    net->dns = dns;
    return net;
}

void net_free(struct net *net)
{
    if (!net)
        return;
    evdns_base_free(net->dns, 0);
    free(net);
}

struct evdns_base *net_dns(const struct net *net)
{
    return net ? net->dns : NULL;
}
