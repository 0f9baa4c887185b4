/* The machine's own scaling for argon2id (crypto_pwhash_str, interactive
 * limits) from 1 to 2 threads, with no jobq in the way: the reference for
 * jobq's password.hash scaling. Memory-hard hashing is bound by memory
 * bandwidth, so two threads rarely give twice one.
 * Usage: argon2_scaling JOBS -> prints "one two" in hashes per second. */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int per_thread;

static void *hash_loop(void *arg)
{
    char out[crypto_pwhash_STRBYTES];
    (void)arg;
    for (int i = 0; i < per_thread; i++)
        if (crypto_pwhash_str(out, "Secret123x", 10,
                              crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
            abort();
    return NULL;
}

static double rate(int threads, int jobs)
{
    pthread_t t[2];
    struct timespec a, b;
    per_thread = jobs / threads;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, hash_loop, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    return per_thread * threads /
           ((double)(b.tv_sec - a.tv_sec) +
            (double)(b.tv_nsec - a.tv_nsec) / 1e9);
}

int main(int argc, char **argv)
{
    int jobs = argc > 1 ? atoi(argv[1]) : 40;
    if (sodium_init() < 0 || jobs < 2)
        return 1;
    double one = rate(1, jobs);
    double two = rate(2, jobs);
    printf("%.3f %.3f\n", one, two);
    return 0;
}
