/* Description: a producer for tests/test_bounds.c: many short-lived processes of one uid, each
 * shmlog_init, shmlog_shutdown and _exit, some of them logging one record first: what makes one output
 * file define more processes than readers keep.
 *
 *   proc_flood PROCESSES PARALLEL LOGGING [ID_BASE]
 *
 * Forks PROCESSES children, PARALLEL at a time; the last LOGGING of them log "flood child %u" with
 * their number (from ID_BASE, default 0) before they shut down. Segments 4 KiB pages (SHMLOG_DIR, or
 * the default directory), small: a 64 KiB meta and 64 KiB rings. Prints "done <children that logged>"
 * once every child has exited; exits 1 when a child failed. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmlog.h"

static void child(unsigned id, int logs)
{
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "flood";
    cfg.meta_bytes = 64u << 10;
    cfg.ring_bytes = 64u << 10;
    if (shmlog_init(&cfg) != 0)
        _exit(3);
    if (logs)
        SHMLOG_INFO("flood child %u", id);
    shmlog_shutdown();
    _exit(0);
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: proc_flood PROCESSES PARALLEL LOGGING [ID_BASE]\n");
        return 2;
    }
    unsigned total = (unsigned)strtoul(argv[1], NULL, 10), parallel = (unsigned)strtoul(argv[2], NULL, 10);
    unsigned logging = (unsigned)strtoul(argv[3], NULL, 10), base = argc == 5 ? (unsigned)strtoul(argv[4], NULL, 10) : 0;
    if (!parallel || logging > total) {
        fprintf(stderr, "proc_flood: PARALLEL is at least 1, LOGGING at most PROCESSES\n");
        return 2;
    }
    unsigned started = 0, running = 0, failed = 0, logged = 0;
    while (started < total || running) {
        if (started < total && running < parallel) {
            int logs = started >= total - logging;
            pid_t pid = fork();
            if (pid < 0) {
                perror("proc_flood: fork");
                return 1;
            }
            if (pid == 0)
                child(base + started, logs);
            started++;
            running++;
            logged += (unsigned)logs;
            continue;
        }
        int st;
        if (wait(&st) < 0) {
            perror("proc_flood: wait");
            return 1;
        }
        running--;
        failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    if (failed) {
        fprintf(stderr, "proc_flood: %u of %u children failed\n", failed, total);
        return 1;
    }
    printf("done %u\n", logged);
    fflush(stdout);
    return 0;
}
