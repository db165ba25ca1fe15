/* Description: a producer for tests/test_bounds.c that registers as many call sites as its meta segment
 * holds, each with a long format of its own, and logs one record of each: what one process of an accepted
 * uid can make a reader of its sites keep.
 *
 *   site_flood SITES FORMAT_BYTES [loop]
 *
 * A 64 MiB meta segment (65536 sites at most), one thread. Prints "done <sites registered>", then waits for
 * stdin to close and exits with shmlog_shutdown(). With "loop" it logs its sites round-robin until then
 * (what a process past its uid's site budget makes the collector do on every record), and prints
 * "logged <records>" before it exits. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmlog.h"

static atomic_int stdin_closed;

static void *await_stdin_close(void *arg)
{
    (void)arg;
    char buf[64];
    while (read(0, buf, sizeof(buf)) > 0)
        ;
    atomic_store(&stdin_closed, 1);
    return NULL;
}

static void log_site(uint64_t word)
{
    uint64_t pos;
    uint8_t *head = shmlog__begin(shmlog__rdtsc(), (uint32_t)word, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE, 0, 0, &pos);
    if (head)
        shmlog__commit(head, pos);
}

int main(int argc, char **argv)
{
    int loop = argc == 4 && strcmp(argv[3], "loop") == 0;
    if (argc != 3 && !loop) {
        fprintf(stderr, "usage: site_flood SITES FORMAT_BYTES [loop]\n");
        return 2;
    }
    unsigned sites = (unsigned)strtoul(argv[1], NULL, 10);
    size_t fmt_bytes = strtoul(argv[2], NULL, 10);
    if (fmt_bytes < 16 || fmt_bytes > SHMLOG_MAX_FMT_BYTES) {
        fprintf(stderr, "site_flood: FORMAT_BYTES is 16..%u\n", SHMLOG_MAX_FMT_BYTES);
        return 2;
    }
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "flood";
    cfg.quiet = 1;
    cfg.meta_bytes = 64u << 20;
    cfg.ring_bytes = 1u << 20;
    cfg.policy = SHMLOG_SPIN; /* a full ring waits for the collector: every record lands */
    int rc = shmlog_init(&cfg);
    if (rc != 0) {
        fprintf(stderr, "site_flood: shmlog_init: %d\n", rc);
        return 1;
    }
    uint64_t *cache = calloc(sites, sizeof(*cache)), *words = calloc(sites, sizeof(*words));
    char *fmt = malloc(fmt_bytes + 1);
    if (!cache || !words || !fmt)
        return 1;
    memset(fmt, 'f', fmt_bytes);
    fmt[fmt_bytes] = '\0';
    unsigned made = 0;
    for (unsigned i = 0; i < sites; i++) {
        char id[16];
        int n = snprintf(id, sizeof(id), "site %u ", i); /* each its own format */
        memcpy(fmt, id, (size_t)n);
        static const uint8_t no_types[1];
        uint64_t word = shmlog__register_site(&cache[i], SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE, __FILE__, (int)i, NULL, fmt, NULL,
                                              0, no_types);
        if ((uint32_t)word == 0 || (uint32_t)word == UINT32_MAX)
            continue;
        words[made++] = word;
        log_site(word);
    }
    printf("done %u\n", made);
    fflush(stdout);
    if (loop) {
        pthread_t waiter;
        if (pthread_create(&waiter, NULL, await_stdin_close, NULL) != 0)
            return 1;
        unsigned long long logged = 0;
        while (made && !atomic_load_explicit(&stdin_closed, memory_order_relaxed)) {
            for (unsigned i = 0; i < made; i++)
                log_site(words[i]);
            logged += made;
        }
        pthread_join(waiter, NULL);
        printf("logged %llu\n", logged);
    } else {
        await_stdin_close(NULL);
    }
    shmlog_shutdown();
    free(cache);
    free(words);
    free(fmt);
    return 0;
}
