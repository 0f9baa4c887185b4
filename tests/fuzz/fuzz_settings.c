/* libFuzzer: any INI text yields settings or a list of problems. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    struct settings s;
    struct problems p = {0};
    settings_init(&s);
    settings_load_ini_string(&s, text, &p);
    settings_finish(&s, &p);
    settings_free(&s);
    free(text);
    return 0;
}
