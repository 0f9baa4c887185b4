/* libFuzzer: any URL parses or is refused with a reason that never holds
 * the password; masking never shows it either. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redisurl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    struct redis_url u;
    char err[256], masked[4096];
    if (redis_url_parse(s, &u, err, sizeof(err)) == 0 && u.has_password &&
        strlen(u.password) >= 4) {
        redis_url_mask(s, masked, sizeof(masked));
        if (strstr(masked, u.password) && !strstr(masked, "***"))
            __builtin_trap();
    }
    free(s);
    return 0;
}
