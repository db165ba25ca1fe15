/* Description: a producer for tests/test_producer_safety.c whose log calls come from a signal handler while
 * its thread is inside shmlog: the main thread calls shmlog_set_level (which takes shmlog's lock) and
 * shmlog_category over and over, a timer's signal interrupts it every 50 us, and the handler logs at a call
 * site never called before (so it registers the site: shmlog's lock again) and on a cpu's ring.
 *
 *   signal_producer SECONDS
 *
 * Prints "done <handler calls> <dropped>" and exits 0 once SECONDS of that passed: a program whose
 * handler waits for a lock its own thread holds never gets there. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "shmlog.h"

#define SITES 3000 /* below the site table of a 2 MiB meta (4088) */

static volatile sig_atomic_t calls;
static uint64_t cache[SITES];
static const uint8_t types[1] = {SHMLOG_ARG_U32};

/* A log call at a site of its own each time: the first call of a site takes
 * the path that registers it. */
static void on_alarm(int sig)
{
    (void)sig;
    unsigned k = (unsigned)calls;
    if (k >= SITES)
        return;
    calls = (sig_atomic_t)(k + 1);
    uint64_t word = shmlog__register_site(&cache[k], SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE, __FILE__, (int)k,
                                          __func__, "from a handler k=%u", NULL, 1, types);
    if ((uint32_t)word == 0 || (uint32_t)word == UINT32_MAX)
        return; /* not written, counted */
    uint64_t pos;
    uint8_t *head = shmlog__begin(shmlog__rdtsc(), (uint32_t)word, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE, 4, 0, &pos);
    if (head) {
        memcpy(((struct shmlog_record *)head)->payload, &k, 4);
        shmlog__commit(head, pos);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: signal_producer SECONDS\n");
        return 2;
    }
    double seconds = strtod(argv[1], NULL);
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "sigprod";
    cfg.quiet = 1;
    int rc = shmlog_init(&cfg);
    if (rc != 0) {
        fprintf(stderr, "signal_producer: shmlog_init: %d\n", rc);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 50}, {0, 50}};
    setitimer(ITIMER_REAL, &it, NULL);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long rounds = 0;
    do {
        shmlog_set_level(rounds & 1 ? SHMLOG_LEVEL_INFO : SHMLOG_LEVEL_DEBUG);
        shmlog_category("sig");
        rounds++;
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    shmlog_set_level(SHMLOG_LEVEL_INFO);
    printf("done %d %llu\n", (int)calls, (unsigned long long)shmlog_dropped());
    fflush(stdout);
    shmlog_shutdown();
    return 0;
}
