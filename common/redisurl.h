/* Redis connection URLs: redis://[user:password@]host[:port][/db] and
 * unix:///path/to/redis.sock[?db=N]. */
#ifndef JOBQ_REDISURL_H
#define JOBQ_REDISURL_H

#include <stdbool.h>
#include <stddef.h>

struct redis_url {
    bool is_unix;
    char host[256]; /* tcp */
    int port;
    char path[512]; /* unix */
    char user[128];
    char password[256];
    bool has_password;
    int db;
};

/* Returns 0, or -1 with the reason in err (which never holds the
 * password). */
int redis_url_parse(const char *s, struct redis_url *u, char *err,
                    size_t errlen);

/* The URL as given with any password replaced by "***". */
void redis_url_mask(const char *s, char *out, size_t outlen);
#endif
