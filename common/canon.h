/* The canonical msgpack encoding, used by data.digest: map entries sorted
 * bytewise by their canonical key encoding, every value in its smallest
 * encoding (integers by value, floats as float32 when that is exact). */
#ifndef JOBQ_CANON_H
#define JOBQ_CANON_H

#include <msgpack.h>

/* Appends the canonical encoding of o to sb. Returns 0, or -1 on
 * allocation failure. The input must come from a bounded decode. */
int canon_encode(msgpack_sbuffer *sb, const msgpack_object *o);

#endif
