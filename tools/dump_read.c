/* dump_read.c - shmlog-dump read and follow: the records of collector files, merged in time order, or as they come. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <errno.h>

#include "dump_files.h"
#include "shmlog_read.h"

#define FOLLOW_POLL_NS 100000000u

/* ==== The dump's output ==== */

static void dump_entry(void *ctx, const struct entry *e)
{
    (void)ctx;
    struct render_buf b = out_begin();
    entry_line(e, running->cli->json, &b);
    out_end(&b);
}

static void dump_error(void *ctx, const char *msg)
{
    (void)ctx;
    out_push();
    fprintf(stderr, "%s: %s\n", dump_prog, msg);
}

__attribute__((noreturn)) static void dump_oom(void *ctx)
{
    (void)ctx;
    out_push();
    fprintf(stderr, "%s: out of memory\n", dump_prog);
    exit(1);
}

void use_dump_output(void)
{
    static const struct file_sink dump_sink = {dump_entry, dump_error, dump_oom, NULL};
    running->sink = &dump_sink;
}

/* ==== read ==== */

/* read is the first user of libshmlog-read (shmlog_read.h): what it prints
 * is what the library gives any program. */
int cmd_read(struct cli *cli)
{
    begin(cli, MODE_READ);
    int nargs;
    const char *const *args = input_args(cli, &nargs);
    /* A path that cannot be read is said, and the others are read. */
    const char **paths = calloc((size_t)nargs, sizeof *paths);
    if (!paths)
        oom();
    size_t n = 0;
    for (int i = 0; i < nargs; i++) {
        struct stat st;
        if (stat_input(cli, args[i], &st) == 0)
            paths[n++] = args[i];
    }
    const struct dump_filter *f = &cli->filter;
    struct shmlog_read_options o = SHMLOG_READ_OPTIONS_INIT;
    o.min_level = f->min_level;
    o.category = f->category[0] ? f->category : NULL;
    o.app = f->app;
    o.pid = f->pid;
    o.since_ns = f->since_ns;
    o.until_ns = f->until_ns == UINT64_MAX ? 0 : f->until_ns;
    o.grep = cli->grep_arg;
    o.limit = f->limit;
    o.local_time = render_time_is_local();
    struct shmlog_read *r = NULL;
    char err[512];
    int rc = n ? shmlog_read_open(&r, paths, n, &o, err, sizeof err) : 0;
    if (rc == -ENOMEM)
        oom();
    if (rc != 0) {
        note_error(err);
        running->status = 1;
    }
    const struct shmlog_read_event *ev;
    while (r) {
        /* Many lines per call, straight into the output; an error between them on its own. */
        struct render_buf b = out_begin();
        size_t len;
        long lines = shmlog_read_lines(r, cli->json, b.data, b.cap, &len);
        if (lines < 0)
            oom();
        b.len = len;
        out_end(&b);
        if (lines > 0)
            continue;
        if ((rc = shmlog_read_next(r, &ev)) <= 0)
            break;
        if (ev->kind != SHMLOG_READ_ERROR) { /* lines() stops before errors only: not reached */
            b = out_begin();
            long n = shmlog_read_format(r, cli->json, b.data, b.cap);
            b.len = n > 0 ? (size_t)n : 0;
            out_end(&b);
            continue;
        }
        char msg[4096 + 16];
        snprintf(msg, sizeof msg, "%s%s", ev->flags & SHMLOG_READ_NOTE ? "note: " : "", ev->error);
        note_error(msg);
    }
    if (r) {
        if (rc < 0)
            oom();
        if (shmlog_read_had_errors(r))
            running->status = 1;
        shmlog_read_close(r);
    }
    free(paths);
    return running->status;
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

int cmd_follow(struct cli *cli)
{
    begin(cli, MODE_FOLLOW);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct in_file file;
    struct source src;
    memset(&src, 0, sizeof src);
    memset(&file, 0, sizeof file);
    src.files = &file;
    src.frame_off = UINT64_MAX;
    if (shlog_dedup_new(&src.dedup) != 0)
        oom();
    struct timespec poll = {0, FOLLOW_POLL_NS};

    /* Start at the end of the open file; with none, after the newest file
     * there is: records already written are not new. */
    int has_after = 0, said_waiting = 0;
    uint64_t after = 0;
    struct in_file start;
    memset(&start, 0, sizeof start);
    if (find_file(cli->out_dir, 0, 0, 1, 1, &start) == 0) {
        struct stat st;
        has_after = start.seq > 0;
        after = start.seq - 1;
        src.skip_below = stat(start.path, &st) == 0 ? (uint64_t)st.st_size : 0;
    } else if (find_file(cli->out_dir, 0, 0, 1, 0, &start) == 0) {
        has_after = 1;
        after = start.seq;
    }

    while (!follow_stop && !running->stop) {
        if (!src.rd) {
            /* The next file in sequence, closed or still open: a rotation
             * may have closed one before we saw it open. */
            memset(&file, 0, sizeof file);
            if (find_file(cli->out_dir, has_after, after, 0, 0, &file) != 0) {
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
            file.writer_alive = file.part;
            said_waiting = 1;
            has_after = 1;
            after = file.seq;
            src.nfiles = 1;
            src.next = 0;
            if (!source_open_next(&src)) {
                src.skip_below = 0;
                continue;
            }
        }
        while (source_step(&src) && !follow_stop)
            ;
        if (!file.part || !path_exists(file.path)) {
            /* Closed (renamed after its last write): read to its end. */
            while (source_step(&src))
                ;
            source_close_file(&src);
            src.skip_below = 0;
        }
        drain(&src, 1, 1);
        out_push();
        if (src.rd)
            nanosleep(&poll, NULL);
    }
    drain(&src, 1, 1);
    out_push();
    source_close_file(&src);
    shlog_dedup_free(src.dedup);
    hmap_clear(&src.procs);
    hmap_clear(&src.by_ptr);
    free_sources(NULL, 0);
    return running->status;
}
