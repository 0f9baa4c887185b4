/* The built-in handler families. Each is registered through an init of the
 * plugin's signature, from the one table in builtin.c, exactly as a plugin
 * is: these files see only <jobq/handler.h>. */
#ifndef JOBQ_HANDLERS_BUILTIN_H
#define JOBQ_HANDLERS_BUILTIN_H

#include <jobq/handler.h>

int builtin_users_init(jobq_registry *reg, int api_version);
int builtin_data_init(jobq_registry *reg, int api_version);
int builtin_timer_init(jobq_registry *reg, int api_version);
int builtin_file_init(jobq_registry *reg, int api_version);
int builtin_notify_init(jobq_registry *reg, int api_version);
int builtin_http_init(jobq_registry *reg, int api_version);

/* Every family, in registration order. */
extern const jobq_plugin_init_fn builtin_families[];
extern const size_t builtin_families_n;

/* Registers n handlers from hs, stopping at the first refusal: what each
 * family's init does with its table. */
int builtin_register_all(jobq_registry *reg, const jobq_handler *hs, size_t n);
#endif
