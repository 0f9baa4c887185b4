/* jobq-worker: settings, signing keys, logging, then the daemon. */
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "daemon.h"
#include "log.h"
#include "settings.h"
#include "sign.h"

#ifndef JOBQ_VERSION
#define JOBQ_VERSION "0.1.0"
#endif

extern char **environ;

int main(int argc, char **argv)
{
    /* exec and runner children run as this user: not dumpable, so one
     * without CAP_SYS_PTRACE cannot read this process's memory,
     * environment (JOBQ_* secrets) or descriptors (its Redis sockets)
     * through /proc or pidfd_getfd. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (sodium_init() < 0) {
        fprintf(stderr, "jobq-worker: libsodium failed to start\n");
        return 1;
    }
    struct settings s;
    struct problems p = {0};
    struct sign_keys keys = {0};
    struct settings_cmdline cmd = {0};
    int code = 0;
    settings_init(&s);
    settings_load_all(&s, argc, argv, environ, &cmd, &p);
    char err[512];
    bool help = cmd.help, version = cmd.version, check = cmd.check_config;
    if (help) {
        settings_usage(stdout);
    } else if (version) {
        printf("jobq-worker %s (protocol 1)\n", JOBQ_VERSION);
    } else if (p.n == 0 && s.signing_keys &&
               sign_keys_load(s.signing_keys, &keys, err, sizeof(err)) != 0) {
        problems_add(&p, "%s", err);
    }
    if (version || help) {
        /* done */
    } else if (p.n) {
        for (int i = 0; i < p.n; i++)
            fprintf(stderr, "jobq-worker: %s\n", p.msg[i]);
        code = 2;
    } else if (check) {
        settings_print(&s, stdout);
    } else if (log_open(s.log_file, s.log_json, (enum log_level)s.log_level) !=
               0) {
        fprintf(stderr, "jobq-worker: cannot open log file %s\n", s.log_file);
        code = 2;
    } else {
        /* A stop signal that arrives while the daemon starts must stop it
         * cleanly, not kill it: held from here until the loop handles
         * them (the daemon lets them through once its handlers are in
         * place), and inherited by every thread, so only the loop thread
         * takes them. Not before: a slow settings parse stays killable. */
        sigset_t stops;
        sigemptyset(&stops);
        sigaddset(&stops, SIGTERM);
        sigaddset(&stops, SIGINT);
        sigaddset(&stops, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &stops, NULL);
        code = daemon_run(&s, &keys);
    }
    sign_keys_wipe(&keys);
    settings_free(&s);
    return code;
}
