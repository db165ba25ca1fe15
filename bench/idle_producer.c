/* Description: an idle producer for bench/idle.sh: makes its segments, logs one record, then sleeps until killed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "shmlog.h"

/* usage: shmlog-bench-idle-producer RING_BYTES
 * Prints "ready" once its record is in its ring, so that the script starts
 * measuring only when every producer is idle. */
int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s RING_BYTES\n", argv[0]);
        return 2;
    }
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "idle";
    cfg.ring_bytes = strtoull(argv[1], NULL, 0);
    cfg.quiet = 1;
    int rc = shmlog_init(&cfg);
    if (rc != 0) {
        fprintf(stderr, "shmlog_init: %d\n", rc);
        return 1;
    }
    SHMLOG_INFO("idle producer %d up", (int)getpid());
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
