/* dump_inputs.c - the FILE|DIR|kafka:// arguments of shmlog-dump's file commands, or the collector's directory when none is given. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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
    if (shlog_is_kafka_url(arg)) {
        memset(st, 0, sizeof *st);
        return 0;
    }
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

int open_topic(struct read_engine *e, const struct cli *cli, const char *url, struct topics *t)
{
    struct read_kafka **v = realloc(t->v, (t->n + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    t->v = v;
    char err[600];
    int rc = read_kafka_open(e, url, cli->filter.since_ns, e->follow && !cli->filter.since_ns, &t->v[t->n], err,
                             sizeof err);
    if (rc == -ENOMEM)
        return rc;
    if (rc != 0) {
        dump_say(err, 0);
        e->status = 1;
        t->status = rc == -ENOTSUP ? EXIT_USAGE : 1;
        return 0;
    }
    read_sources_append(&t->first, read_kafka_source(t->v[t->n++]));
    return 0;
}

void close_topics(struct read_engine *e, struct topics *t)
{
    for (size_t i = 0; i < t->n; i++)
        read_kafka_close(e, t->v[i]);
    free(t->v);
    memset(t, 0, sizeof *t);
}

int collect_inputs(struct read_engine *e, const struct cli *cli, struct in_list *l, struct topics *t)
{
    int nargs;
    const char *const *args = input_args(cli, &nargs);
    for (int i = 0; i < nargs; i++) {
        struct stat st;
        if (shlog_is_kafka_url(args[i])) {
            if (!t) {
                char msg[4096 + 200];
                snprintf(msg, sizeof msg, "%s: %s reads files; mirror the topic first (shmlog-dump mirror %s --out DIR)",
                         args[i], cli->command, args[i]);
                dump_say(msg, 0);
                e->status = 1;
            } else if (open_topic(e, cli, args[i], t) != 0) {
                return -ENOMEM;
            }
            continue;
        }
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

/* ==== The collector's files in its directory ==== */

int find_file(const char *dir, int has_after, uint64_t after_seq, int newest, int only_part, struct in_file *f)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    int found = 0;
    uint64_t best = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t seq;
        int part;
        if (shlog_file_name_seq(de->d_name, &seq, &part) != 0 || (only_part && !part))
            continue;
        if ((has_after && seq <= after_seq) || (found && (newest ? seq <= best : seq >= best)))
            continue;
        if ((size_t)snprintf(f->path, sizeof f->path, "%s/%s", dir, de->d_name) >= sizeof f->path)
            continue;
        best = seq;
        f->seq = seq;
        f->part = part;
        found = 1;
    }
    closedir(d);
    return found ? 0 : -ENOENT;
}

int find_open_part(const char *dir, uint64_t min_seq, char *path, size_t cap, uint64_t *seq)
{
    struct in_file f;
    if (find_file(dir, min_seq > 0, min_seq - (min_seq > 0), 1, 1, &f) != 0)
        return -ENOENT;
    if ((size_t)snprintf(path, cap, "%s", f.path) >= cap)
        return -ENOENT;
    *seq = f.seq;
    return 0;
}
