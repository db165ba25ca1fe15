/* dump_inputs.c - the FILE|DIR arguments of shmlog-dump's file commands, or the collector's directory when none is given. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "dump.h"
#include "read_engine.h"

const char *const *input_args(const struct cli *cli, int *n)
{
    if (cli->npositional == 0) {
        *n = 1;
        return &cli->out_dir;
    }
    *n = cli->npositional;
    return (const char *const *)cli->positional;
}

int stat_input(const struct cli *cli, const char *arg, struct stat *st)
{
    if (stat(arg, st) == 0)
        return 0;
    char msg[4096 + 512];
    if (cli->npositional == 0)
        snprintf(msg, sizeof msg, "%s: no FILE|DIR given, and %s (%s) cannot be read: %s; name the files, or "
                 "point SHMLOG_OUT at the collector's --out", cli->command, arg, cli->out_dir_from, strerror(errno));
    else
        snprintf(msg, sizeof msg, "%s: %s", arg, strerror(errno));
    dump_say(msg, 0);
    return -1;
}

int collect_inputs(struct read_engine *e, const struct cli *cli, struct in_list *l)
{
    int nargs;
    const char *const *args = input_args(cli, &nargs);
    for (int i = 0; i < nargs; i++) {
        struct stat st;
        if (stat_input(cli, args[i], &st) != 0) {
            e->status = 1;
            continue;
        }
        int rc = read_inputs_add(e, l, args[i], S_ISDIR(st.st_mode));
        if (rc != 0)
            return rc;
    }
    read_inputs_sort(l);
    return 0;
}
