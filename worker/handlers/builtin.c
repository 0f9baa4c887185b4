/* The table of built-in handler families (see builtin.h). A new family is
 * a file here with an init, and one line below. */
#include "builtin.h"

const jobq_plugin_init_fn builtin_families[] = {
    builtin_users_init, builtin_data_init,   builtin_timer_init,
    builtin_file_init,  builtin_notify_init, builtin_http_init,
};
const size_t builtin_families_n =
    sizeof(builtin_families) / sizeof(builtin_families[0]);

int builtin_register_all(jobq_registry *reg, const jobq_handler *hs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = jobq_register(reg, &hs[i]);
        if (rc != JOBQ_OK)
            return rc;
    }
    return JOBQ_OK;
}
