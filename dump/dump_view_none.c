/* dump_view_none.c - shmlog-dump view in a build without ncursesw: one clear line instead of the viewer. */
#include "dump.h"

int cmd_view(struct cli *cli)
{
    (void)cli;
    dump_say("view: this shmlog-dump was built without ncursesw (install libncurses-dev and rebuild with -Dview=enabled)",
             0);
    return EXIT_USAGE;
}
