/*
 * dump_nokafka.c - shmlog-dump built without librdkafka (meson -Dkafka=disabled):
 * the kafka:// commands say so.
 */
#include <stdio.h>

#include "dump.h"

int cmd_mirror(struct cli *cli)
{
    (void)cli;
    fprintf(stderr, "%s: mirror: kafka:// is not built in (this build has no librdkafka: meson -Dkafka=enabled)\n",
            dump_prog);
    return EXIT_USAGE;
}
