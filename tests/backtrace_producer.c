/* Description: a producer for tests/test_backtrace.c, pinned to one cpu, that logs what its stdin asks for and says "ok" after each command. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmlog.h"

/*
 * usage: backtrace_producer RECORDS|off [overwrite]
 *
 * Live level INFO; with RECORDS, backtrace_level DEBUG, trigger ERROR and
 * backtrace_records RECORDS; overwrite: the ring policy SHMLOG_OVERWRITE.
 * Commands, one a line:
 *   debug A B   DEBUG "d i=%u" for i in [A, B); every 10th also carries a
 *               string of 100 bytes (a record of three slots)
 *   info A B    INFO "n i=%u" for i in [A, B)
 *   error K     ERROR "e k=%u"
 *   flush       shmlog_backtrace_flush()
 *   shrink      truncates its own meta segment to its header (what a hostile
 *               or broken producer can do to itself)
 *   quit        shmlog_shutdown(), exit 0
 */
int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: backtrace_producer RECORDS|off [overwrite]\n");
        return 2;
    }
    cpu_set_t all, one;
    CPU_ZERO(&one);
    if (sched_getaffinity(0, sizeof all, &all) != 0)
        return 1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &all)) {
            CPU_SET(c, &one);
            break;
        }
    if (sched_setaffinity(0, sizeof one, &one) != 0)
        return 1;
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "bt";
    cfg.level = SHMLOG_LEVEL_INFO;
    if (argc == 3 && strcmp(argv[2], "overwrite") == 0)
        cfg.policy = SHMLOG_OVERWRITE;
    if (strcmp(argv[1], "off") != 0) {
        cfg.backtrace_level = SHMLOG_LEVEL_DEBUG;
        cfg.backtrace_trigger = SHMLOG_LEVEL_ERROR;
        cfg.backtrace_records = (unsigned)strtoul(argv[1], NULL, 10);
    }
    int rc = shmlog_init(&cfg);
    if (rc != 0) {
        fprintf(stderr, "backtrace_producer: shmlog_init: %d\n", rc);
        return 1;
    }
    char line[128], cmd[16], pad[101];
    memset(pad, 'p', 100);
    pad[100] = '\0';
    printf("pid %d\n", (int)getpid());
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        unsigned a = 0, b = 0;
        if (sscanf(line, "%15s %u %u", cmd, &a, &b) < 1)
            continue;
        if (strcmp(cmd, "debug") == 0) {
            for (unsigned i = a; i < b; i++) {
                if (i % 10 == 9)
                    SHMLOG_DEBUG("d i=%u s=%s", i, pad);
                else
                    SHMLOG_DEBUG("d i=%u", i);
            }
        } else if (strcmp(cmd, "info") == 0) {
            for (unsigned i = a; i < b; i++)
                SHMLOG_INFO("n i=%u", i);
        } else if (strcmp(cmd, "error") == 0) {
            SHMLOG_ERROR("e k=%u", a);
        } else if (strcmp(cmd, "flush") == 0) {
            if (shmlog_backtrace_flush() != 0)
                return 1;
        } else if (strcmp(cmd, "shrink") == 0) {
            char path[4200];
            snprintf(path, sizeof path, "%s/bt-%d.meta", shmlog_dir(), (int)getpid());
            if (truncate(path, SHMLOG_META_HEADER_BYTES) != 0)
                return 1;
        } else if (strcmp(cmd, "quit") == 0) {
            break;
        }
        printf("ok\n");
        fflush(stdout);
    }
    shmlog_shutdown();
    return 0;
}
