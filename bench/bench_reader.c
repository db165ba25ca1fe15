/* libshmlog-read's rates on one directory of files (bench/files.sh runs it):
 * records per cpu-second through shmlog_read_next() with each record's
 * message and fields, through shmlog_read_next_columns() with messages and
 * values, and through the Arrow stream (shmlog_read_arrow) with every column,
 * without the message, without the fields, and with C++ containers' fields as
 * their text rather than list columns, each batch released as a
 * consumer that reads them one by one does; best of 3 runs of each. With
 * --threads: the Arrow stream on one thread, then two streams of the same
 * files on two threads at once, in wall-clock time (the second figure over
 * the first is how readers on several threads scale). With --once WHAT:
 * one pass of one of them, for valgrind --tool=callgrind's instructions a
 * record (bench/RESULTS.md). */
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "shmlog_read.h"

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct shmlog_read *open_dir(const char *dir)
{
    struct shmlog_read *r;
    char err[256];
    if (shmlog_read_open(&r, &dir, 1, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "bench_reader: %s\n", err);
        exit(1);
    }
    return r;
}

static unsigned long long by_events(const char *dir)
{
    struct shmlog_read *r = open_dir(dir);
    const struct shmlog_read_event *ev;
    unsigned long long records = 0, bytes = 0;
    while (shmlog_read_next(r, &ev) > 0) {
        if (ev->kind != SHMLOG_READ_RECORD)
            continue;
        size_t len = 0;
        const struct shmlog_read_field *f;
        if (shmlog_read_message(r, &len))
            bytes += len;
        bytes += (unsigned long long)shmlog_read_fields(r, &f);
        records++;
    }
    shmlog_read_close(r);
    return records + (bytes & 0); /* bytes: the work is not optimized away */
}

static unsigned long long by_columns(const char *dir)
{
    enum { ROWS = 65536, VALUES = ROWS * 8 };
    static uint64_t ts[ROWS], seq[ROWS], msg[ROWS], values[VALUES];
    static uint32_t tid[ROWS], cpu[ROWS], source[ROWS], values_at[ROWS];
    static uint8_t level[ROWS], category[ROWS], flags[ROWS];
    static char text[16 << 20];
    struct shmlog_read_columns c = {sizeof c, ROWS, ts, seq, tid, cpu, source, level, category, flags, msg,
                                    values_at, text, sizeof text, values, VALUES, NULL};
    struct shmlog_read *r = open_dir(dir);
    const struct shmlog_read_event *ev;
    unsigned long long records = 0;
    for (;;) {
        long rows = shmlog_read_next_columns(r, &c);
        if (rows < 0) {
            fprintf(stderr, "bench_reader: columns: %ld\n", rows);
            exit(1);
        }
        records += (unsigned long long)rows;
        if (rows == 0 && shmlog_read_next(r, &ev) <= 0)
            break;
    }
    shmlog_read_close(r);
    return records;
}

/* The Arrow stream of dir, each batch released once read. */
static unsigned long long by_arrow_trees(const char *dir, int fields, int message, int trees)
{
    struct shmlog_read *r = open_dir(dir);
    struct shmlog_read_arrow_options o = SHMLOG_READ_ARROW_OPTIONS_INIT;
    o.fields = fields;
    o.message = message;
    o.trees = trees;
    struct ArrowArrayStream s;
    char err[256];
    if (shmlog_read_arrow(r, &o, &s, err, sizeof err) != 0) {
        fprintf(stderr, "bench_reader: %s\n", err);
        exit(1);
    }
    shmlog_read_close(r);
    unsigned long long rows = 0;
    for (;;) {
        struct ArrowArray a;
        if (s.get_next(&s, &a) != 0) {
            fprintf(stderr, "bench_reader: %s\n", s.get_last_error(&s));
            exit(1);
        }
        if (!a.release)
            break;
        rows += (unsigned long long)a.length;
        a.release(&a);
    }
    s.release(&s);
    return rows;
}

static unsigned long long by_arrow_with(const char *dir, int fields, int message)
{
    return by_arrow_trees(dir, fields, message, 1);
}

static unsigned long long by_arrow_tree_text(const char *dir)
{
    return by_arrow_trees(dir, 1, 1, 0);
}

static unsigned long long by_arrow(const char *dir)
{
    return by_arrow_with(dir, 1, 1);
}

static unsigned long long by_arrow_no_msg(const char *dir)
{
    return by_arrow_with(dir, 1, 0);
}

static unsigned long long by_arrow_no_fields(const char *dir)
{
    return by_arrow_with(dir, 0, 1);
}

static unsigned long long by_arrow_neither(const char *dir)
{
    return by_arrow_with(dir, 0, 0);
}

static const struct {
    const char *name, *what;
    unsigned long long (*fn)(const char *);
} readers[] = {
    {"events", "C events (message, fields):", by_events},
    {"columns", "C columns (messages, values):", by_columns},
    {"arrow", "C Arrow (every column):", by_arrow},
    {"arrow-no-msg", "C Arrow (no msg):", by_arrow_no_msg},
    {"arrow-no-fields", "C Arrow (no fields):", by_arrow_no_fields},
    {"arrow-neither", "C Arrow (no msg, no fields):", by_arrow_neither},
    {"arrow-tree-text", "C Arrow (trees as text):", by_arrow_tree_text},
};

static double wall_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct job {
    const char *dir;
    unsigned long long rows;
};

static void *arrow_job(void *arg)
{
    struct job *j = arg;
    j->rows = by_arrow(j->dir);
    return NULL;
}

/* Records per wall-clock second of n streams of dir on n threads at once,
 * and per cpu-second (the same with n threads as with one when the readers
 * share nothing): best of 3. */
static double threads_rate(const char *dir, int n, double *seconds, double *per_cpu)
{
    double best = 0;
    for (int round = 0; round < 3; round++) {
        pthread_t th[8];
        struct job jobs[8];
        double t0 = wall_now(), c0 = cpu_now();
        for (int i = 0; i < n; i++) {
            jobs[i] = (struct job){dir, 0};
            if (pthread_create(&th[i], NULL, arrow_job, &jobs[i]) != 0)
                exit(1);
        }
        unsigned long long rows = 0;
        for (int i = 0; i < n; i++) {
            pthread_join(th[i], NULL);
            rows += jobs[i].rows;
        }
        double t = wall_now() - t0, rate = (double)rows / t;
        if (rate > best) {
            best = rate;
            *seconds = t;
            *per_cpu = (double)rows / (cpu_now() - c0);
        }
    }
    return best;
}

static void measure(const char *what, unsigned long long (*fn)(const char *), const char *dir)
{
    double best = 0;
    unsigned long long n = 0;
    for (int i = 0; i < 3; i++) {
        double t0 = cpu_now();
        n = fn(dir);
        double t = cpu_now() - t0;
        if (i == 0 || t < best)
            best = t;
    }
    printf("%-34s %.2f M records/s per cpu-second (%llu records, %.2f s cpu, best of 3)\n", what, (double)n / best / 1e6,
           n, best);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--threads") == 0) {
        double t1, t2, c1, c2;
        double one = threads_rate(argv[2], 1, &t1, &c1), two = threads_rate(argv[2], 2, &t2, &c2);
        printf("Arrow, 1 reader on 1 thread:        %.2f M records/s wall (%.2f s), %.2f M per cpu-second\n",
               one / 1e6, t1, c1 / 1e6);
        printf("Arrow, 2 readers on 2 threads:      %.2f M records/s wall (%.2f s), %.2f M per cpu-second: "
               "%.2fx one (wall), best of 3\n", two / 1e6, t2, c2 / 1e6, two / one);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "--once") == 0) {
        for (size_t i = 0; i < sizeof readers / sizeof readers[0]; i++)
            if (strcmp(argv[2], readers[i].name) == 0) {
                printf("%s %llu records\n", readers[i].what, readers[i].fn(argv[3]));
                return 0;
            }
    }
    if (argc != 2) {
        fprintf(stderr, "usage: shmlog-bench-reader [--threads | --once events|columns|arrow|arrow-no-msg|"
                        "arrow-no-fields|arrow-neither|arrow-tree-text] DIR\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof readers / sizeof readers[0]; i++) /* the figures bench/files.sh prints */
        if (strcmp(readers[i].name, "arrow-neither") != 0)
            measure(readers[i].what, readers[i].fn, argv[1]);
    return 0;
}
