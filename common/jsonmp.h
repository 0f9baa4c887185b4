/* JSON <-> msgpack for the command-line tool: producers type JSON, the wire
 * carries msgpack. Binary values show as base64 strings in JSON. */
#ifndef JOBQ_JSONMP_H
#define JOBQ_JSONMP_H

#include <jansson.h>
#include <msgpack.h>

void jsonmp_pack(msgpack_packer *pk, const json_t *j);
/* A new reference; NULL only on allocation failure. */
json_t *jsonmp_from_object(const msgpack_object *o);
/* Decodes msgpack bytes (bounded) into JSON; NULL when not msgpack. */
json_t *jsonmp_from_bytes(const char *buf, size_t len);
#endif
