/* The worker's one DNS resolver: an evdns_base on the loop, created once
 * and shared by everything on the loop that resolves names (the Redis
 * connections, io handlers through jobq_dns()). Loop thread only. */
#ifndef JOBQ_NET_H
#define JOBQ_NET_H

#include <stddef.h>

struct event_base;
struct evdns_base;
struct net;

/* Reads the system's resolver configuration (/etc/resolv.conf, hosts) once,
 * now. Returns NULL with the reason in err when evdns cannot start. */
struct net *net_new(struct event_base *base, char *err, size_t errlen);
/* Frees the resolver; requests still pending are dropped without their
 * callbacks (their owners cancel them first). NULL is fine. */
void net_free(struct net *net);
/* Borrowed: lives until net_free. */
struct evdns_base *net_dns(const struct net *net);
#endif
