/* JSON <-> msgpack for the command-line tool: producers type JSON, the wire
 * carries msgpack. Binary values show as base64 strings in JSON. */
#ifndef JOBQ_JSONMP_H
#define JOBQ_JSONMP_H

#include <jansson.h>
#include <msgpack.h>
#include <stdbool.h>

void jsonmp_pack(msgpack_packer *pk, const json_t *j);
/* A new reference. NaN and infinities, which JSON has no form for, become
 * null (a record is shown whole); a map key that is not a string becomes
 * the text of its JSON form (1 -> "1", bin -> its base64). */
json_t *jsonmp_from_object(const msgpack_object *o);
/* The same, but NULL when any value has no JSON form (NaN, an infinity):
 * for what is sent on, where null would change the meaning. */
json_t *jsonmp_from_object_strict(const msgpack_object *o);
/* Decodes msgpack bytes (bounded) into JSON; NULL when not msgpack. */
json_t *jsonmp_from_bytes(const char *buf, size_t len);
#endif
