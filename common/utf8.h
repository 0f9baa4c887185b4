/* UTF-8 as RFC 3629 has it (no overlongs, no surrogates, nothing past
 * U+10FFFF): what a record or a JSON log line may carry. */
#ifndef JOBQ_UTF8_H
#define JOBQ_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the valid sequence at s (n bytes available), or 0. */
size_t utf8_seq(const unsigned char *s, size_t n);
bool utf8_valid(const char *s, size_t n);
#endif
