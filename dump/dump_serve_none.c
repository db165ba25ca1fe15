/* dump_serve_none.c - shmlog-dump serve in a build without libmicrohttpd: it says so. */
#include "dump.h"

int cmd_serve(struct cli *cli)
{
    (void)cli;
    usage_error("serve: this shmlog-dump was built without libmicrohttpd (meson -Dmetrics=enabled)");
}
