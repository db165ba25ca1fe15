/* libshmlog-read's rates on one directory of files (bench/files.sh runs it):
 * records per cpu-second through shmlog_read_next() with each record's
 * message and fields, and through shmlog_read_next_columns() with messages
 * and values. Best of 3 runs of each. */
#include <stdio.h>
#include <stdlib.h>
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
                                    values_at, text, sizeof text, values, VALUES};
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
    if (argc != 2) {
        fprintf(stderr, "usage: shmlog-bench-reader DIR\n");
        return 2;
    }
    measure("C events (message, fields):", by_events, argv[1]);
    measure("C columns (messages, values):", by_columns, argv[1]);
    return 0;
}
