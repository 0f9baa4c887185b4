/* The public headers together, as C: a program (a producer that also
 * carries a plugin) includes both. test_handlers_headers_cxx.cpp does the
 * same as C++. Built with -Wall -Wextra -Werror whatever JOBQ_WERROR. */
#include <jobq/handler.h>
#include <jobq/jobq.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    /* Both APIs' answers, each with its own name: the producer's result
     * record and the handler's result packer. */
    int (*result)(jobq_client *, const char *, const char *, uint64_t, char **,
                  size_t *, char *, size_t) = jobq_result;
    msgpack_packer *(*packer)(jobq_ctx *) = jobq_packer;
    if (!result || !packer || JOBQ_HANDLER_API_VERSION != 2 ||
        strcmp(jobq_strerror(JOBQ_EVERSION), "handler API version mismatch")) {
        fprintf(stderr, "headers: unexpected\n");
        return 1;
    }
    return 0;
}
