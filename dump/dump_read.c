/* dump_read.c - shmlog-dump read and follow: the records of collector files or a kafka:// topic, merged in time order, or as they come. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <errno.h>

#include "dump.h"
#include "read_engine.h"
#include "read_jobs.h"
#include "read_lib.h"
#include "shmlog_read.h"

#define FOLLOW_POLL_NS 100000000u

/* ==== read ==== */

/* read is the first user of libshmlog-read (shmlog_read.h): what it prints
 * is what the library gives any program. */
struct shmlog_read *dump_read_open(const struct cli *cli, int *status_out)
{
    int status = 0;
    int nargs;
    const char *const *args = input_args(cli, &nargs);
    /* A path that cannot be read is said, and the others are read. */
    const char **paths = calloc((size_t)nargs, sizeof *paths);
    if (!paths)
        dump_oom();
    size_t n = 0;
    for (int i = 0; i < nargs; i++) {
        struct stat st;
        if (stat_input(cli, args[i], &st) == 0)
            paths[n++] = args[i];
        else
            status = 1;
    }
    const struct read_filter *f = &cli->filter;
    struct shmlog_read_options o = SHMLOG_READ_OPTIONS_INIT;
    o.min_level = f->min_level;
    o.category = f->category[0] ? f->category : NULL;
    o.app = f->app;
    o.host = f->host;
    o.pid = f->pid;
    o.thread = f->thread;
    o.trace = cli->trace_arg;
    o.since_ns = f->since_ns;
    o.until_ns = f->until_ns == UINT64_MAX ? 0 : f->until_ns;
    o.grep = cli->grep_arg;
    o.where = cli->where_args;
    o.nwhere = cli->nwhere;
    o.limit = f->limit;
    o.local_time = cli->local_time;
    o.merge_bytes = cli->merge_bytes;
    o.threads = cli->jobs ? cli->jobs : read_jobs_threads(0);
    struct shmlog_read *r = NULL;
    char err[512];
    int rc = n ? shmlog_read_open(&r, paths, n, &o, err, sizeof err) : 0;
    if (rc == -ENOMEM)
        dump_oom();
    if (rc != 0) {
        dump_say(err, 0);
        status = rc == -ENOTSUP ? EXIT_USAGE : 1;
    }
    free(paths);
    *status_out = status;
    return r;
}

int cmd_read(struct cli *cli)
{
    int status, rc = 0;
    struct shmlog_read *r = dump_read_open(cli, &status);
    const struct shmlog_read_event *ev;
    while (r) {
        /* Many lines per call, written from where they were rendered; an error between them on its own. */
        const char *text;
        size_t len;
        long lines = read_lines_view(r, cli->json, &text, &len);
        if (lines < 0)
            dump_oom();
        out_write(text, len);
        if (lines > 0)
            continue;
        if ((rc = shmlog_read_next(r, &ev)) <= 0)
            break;
        if (ev->kind != SHMLOG_READ_ERROR) { /* lines() stops before errors only: not reached */
            struct render_buf b = out_begin();
            long k = shmlog_read_format(r, cli->json, b.data, b.cap);
            b.len = k > 0 ? (size_t)k : 0;
            out_end(&b);
            continue;
        }
        dump_say(ev->error, (ev->flags & SHMLOG_READ_NOTE) != 0);
    }
    if (r) {
        if (rc < 0)
            dump_oom();
        if (shmlog_read_had_errors(r))
            status = 1;
        shmlog_read_close(r);
    }
    return status;
}

/* ==== follow ==== */

static volatile sig_atomic_t follow_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    follow_stop = 1;
}

static int path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* follow's entries and messages: straight to standard output and error. */
struct follow_ctx {
    const struct cli *cli;
    struct read_engine *engine;
    struct entry_sink sink; /* the merge's, to these */
};

static int follow_entry(void *ctx, const struct entry *e)
{
    const struct follow_ctx *f = ctx;
    struct render_buf b = out_begin();
    if (read_entry_line(f->engine, e, f->cli->json, &b) != 0)
        dump_oom();
    out_end(&b);
    return 0;
}

static void follow_message(void *ctx, const char *msg, int note)
{
    (void)ctx;
    dump_say(msg, note);
}

/* A following engine whose merge prints through ctx (which keeps its sink). */
/* A follow's engine and merge (62 KiB at most), and the files it looks at: on the heap, not the stack. */
struct follow_state {
    struct read_engine engine;
    struct read_merge merge;
    struct in_file file, start, later;
};

static struct follow_state *follow_engine(struct cli *cli, struct follow_ctx *ctx)
{
    struct follow_state *d = calloc(1, sizeof *d);
    if (!d)
        dump_oom();
    *ctx = (struct follow_ctx){cli, &d->engine, {follow_entry, follow_message, ctx}};
    read_merge_init(&d->merge, &d->engine, &ctx->sink, cli->merge_bytes);
    d->merge.limit = cli->filter.limit;
    struct read_consumer c = read_merge_consumer(&d->merge);
    if (read_engine_init(&d->engine, &cli->filter, &c) != 0)
        dump_oom();
    d->engine.follow = 1;
    return d;
}

/* follow kafka://: the topic's hosts as their messages come, each pass's records in time order. */
static int follow_topic(struct cli *cli, const char *url)
{
    struct follow_ctx ctx;
    struct follow_state *d = follow_engine(cli, &ctx);
    struct topics t = {0};
    if (open_topic(&d->engine, cli, url, &t) != 0)
        dump_oom();
    read_merge_begin(&d->merge, t.first);
    while (t.n && !follow_stop && !d->merge.stop) {
        if (read_kafka_poll(&d->engine, t.v[0], FOLLOW_POLL_NS / 1000000) < 0)
            dump_oom();
        for (struct source *s = d->merge.srcs; s && !follow_stop; s = s->next_src) {
            int rc;
            while ((rc = read_source_step(&d->engine, s)) > 0 && !follow_stop)
                ;
            if (rc < 0)
                dump_oom();
        }
        if (read_merge_drain(&d->merge, 1) < 0)
            dump_oom();
        out_push();
    }
    int status = t.status ? t.status : d->engine.status;
    close_topics(&d->engine, &t);
    read_merge_free(&d->merge);
    read_engine_free(&d->engine);
    free(d);
    return status;
}

/* Whether f is looked at again at the next poll instead of read now: a .part
 * renamed meanwhile (closed: the next poll finds it under its new name), or
 * one shorter than a header while no later file exists, which a collector is
 * making (a crashed run's is removed at the collector's next start), not a
 * damaged file. */
static int not_ready(const char *dir, const struct in_file *f, struct in_file *later)
{
    struct stat st;
    if (!f->part)
        return 0;
    if (stat(f->path, &st) != 0)
        return 1;
    return st.st_size < (off_t)SHLOG_FILE_HEADER_BYTES && find_file(dir, 1, f->seq, 0, 0, later) != 0;
}

int cmd_follow(struct cli *cli)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (cli->npositional == 1) {
        if (!shlog_is_kafka_url(cli->positional[0]))
            usage_error("follow reads the collector's --out O, or a kafka://HOST:PORT[,...]/TOPIC, not '%s'",
                        cli->positional[0]);
        return follow_topic(cli, cli->positional[0]);
    }

    struct follow_ctx ctx;
    struct follow_state *d = follow_engine(cli, &ctx);

    struct source src;
    if (read_source_init(&src) != 0)
        dump_oom();
    src.files = &d->file;
    struct timespec poll = {0, FOLLOW_POLL_NS};

    /* Start at the end of the open file; with none, after the newest file
     * there is: records already written are not new. */
    int has_after = 0, said_waiting = 0;
    uint64_t after = 0;
    if (find_file(cli->out_dir, 0, 0, 1, 1, &d->start) == 0) {
        struct stat st;
        has_after = d->start.seq > 0;
        after = d->start.seq - 1;
        src.skip_below = stat(d->start.path, &st) == 0 ? (uint64_t)st.st_size : 0;
    } else if (find_file(cli->out_dir, 0, 0, 1, 0, &d->start) == 0) {
        has_after = 1;
        after = d->start.seq;
    }

    while (!follow_stop && !d->merge.stop) {
        if (!src.rd) {
            /* The next file in sequence, closed or still open: a rotation
             * may have closed one before we saw it open. */
            memset(&d->file, 0, sizeof d->file);
            if (find_file(cli->out_dir, has_after, after, 0, 0, &d->file) != 0) {
                if (!said_waiting) {
                    /* Silence here looks like a hang: say once, before the
                     * first file, what is awaited and where. */
                    struct stat st;
                    fprintf(stderr, "%s: follow: waiting for the collector's %s file in %s (%s%s)\n", dump_prog,
                            has_after ? "next" : "first", cli->out_dir, cli->out_dir_from,
                            stat(cli->out_dir, &st) == 0 ? "" : ", which does not exist yet");
                    said_waiting = 1;
                }
                nanosleep(&poll, NULL);
                continue;
            }
            if (not_ready(cli->out_dir, &d->file, &d->later)) {
                nanosleep(&poll, NULL);
                continue;
            }
            d->file.writer_alive = d->file.part;
            said_waiting = 1;
            has_after = 1;
            after = d->file.seq;
            src.nfiles = 1;
            src.next = 0;
            if (!read_source_open_next(&d->engine, &src)) {
                src.skip_below = 0;
                continue;
            }
        }
        int rc;
        while ((rc = read_source_step(&d->engine, &src)) > 0 && !follow_stop)
            ;
        if (rc < 0)
            dump_oom();
        if (!d->file.part || !path_exists(d->file.path)) {
            /* Closed (renamed after its last write): read to its end. */
            while ((rc = read_source_step(&d->engine, &src)) > 0)
                ;
            if (rc < 0)
                dump_oom();
            read_source_close_file(&d->engine, &src);
            src.skip_below = 0;
        }
        if (read_merge_drain(&d->merge, 1) < 0)
            dump_oom();
        out_push();
        if (src.rd)
            nanosleep(&poll, NULL);
    }
    if (read_merge_drain(&d->merge, 1) < 0)
        dump_oom();
    out_push();
    read_source_close_file(&d->engine, &src);
    shlog_dedup_free(src.dedup);
    read_hmap_clear(&src.procs);
    read_hmap_clear(&src.by_ptr);
    read_merge_free(&d->merge);
    read_engine_free(&d->engine);
    int status = d->engine.status;
    free(d);
    return status;
}
