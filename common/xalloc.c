/* Allocation that never returns NULL (see xalloc.h). */
#include "xalloc.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void *checked(void *p, size_t n)
{
    if (!p && n) {
        /* Text lines are formatted on the stack (a JSON line may come out as
         * "{}" here, jansson allocates). */
        log_error("out of memory (%zu bytes): aborting", n);
        abort();
    }
    return p;
}

void *xmalloc(size_t n)
{
    return checked(malloc(n ? n : 1), n ? n : 1);
}

void *xcalloc(size_t n, size_t size)
{
    return checked(calloc(n ? n : 1, size ? size : 1), n ? n * size : 1);
}

void *xrealloc(void *p, size_t n)
{
    return checked(realloc(p, n ? n : 1), n ? n : 1);
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

int xsbuffer_write(void *sbuf, const char *buf, size_t len)
{
    if (msgpack_sbuffer_write(sbuf, buf, len) != 0)
        checked(NULL, len);
    return 0;
}
