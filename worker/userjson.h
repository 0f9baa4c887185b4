/* JSON as the handlers the operator adds speak it (exec commands and
 * runners): a job's args out, a result in, and error text from a child made
 * fit for a record. Loop thread. */
#ifndef JOBQ_USERJSON_H
#define JOBQ_USERJSON_H

#include <jansson.h>
#include <jobq/handler.h>
#include <stddef.h>

/* The job's args as JSON (null when absent; bin as base64). A new
 * reference. */
json_t *userjson_args(const jobq_ctx *ctx);
/* Packs j as the job's result. */
void userjson_result(jobq_ctx *ctx, const json_t *j);
/* Fails ctx with "prefix: text", text being a child's bytes: trailing
 * white space dropped, the last bytes kept when too long (an error's tail
 * says most), and made valid UTF-8 (other bytes become '?'). */
void userjson_fail(jobq_ctx *ctx, jobq_failure kind, const char *prefix,
                   const char *text, size_t len);
#endif
