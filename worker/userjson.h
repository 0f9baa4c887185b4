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
/* Whether the job's args have a JSON form: every string and key valid
 * UTF-8, every float finite. A job whose args do not is failed before a
 * child sees it. */
int userjson_args_fit(const jobq_ctx *ctx);
#define USERJSON_UNFIT                                                         \
    "args have no JSON form (NaN, an infinity, or a string that is not "       \
    "UTF-8)"
/* Packs j as the job's result; -1 (nothing packed) when it nests deeper
 * than USERJSON_DEPTH_MAX, which a record holding it could not be read
 * back with (frames and records are read to a depth of 32). */
#define USERJSON_DEPTH_MAX 30
int userjson_result(jobq_ctx *ctx, const json_t *j);
/* Fails ctx with "prefix: text", text being a child's bytes: trailing
 * white space dropped, the last bytes kept when too long (an error's tail
 * says most), and made valid UTF-8 (other bytes become '?'). */
void userjson_fail(jobq_ctx *ctx, jobq_failure kind, const char *prefix,
                   const char *text, size_t len);
#endif
