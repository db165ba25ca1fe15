/* Description: libshmlog-read on four threads at once, for the ThreadSanitizer build (a plain program: Criterion's runner is not TSan-clean): readers of the same directory, half of them in local time, each read the lines a reader on the main thread read (every other time many a call, rendered by threads of the reader's own: shmlog_read_options.threads), with no lock between them (each reader's state is its handle's) and no data race TSan sees; Arrow streams read on four threads, each with builder threads of its own, give the main thread's rows, and their batches are released by another thread than the one that made them. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmlog_read.h"

#define TEXT_MAX (4u << 20)
#define THREADS 4
#define ROUNDS 3

static const char *input;
static char *want[2]; /* UTC, local time */
static size_t want_len[2];

/* Every JSON line of the input, in UTC or in local time, many a call on threads (shmlog_read_lines() with
 * helper threads); 0, or -1. */
static int read_lines(struct shmlog_read *r, char *out, size_t *len)
{
    size_t n = 0;
    for (;;) {
        size_t l;
        long lines = shmlog_read_lines(r, 1, out + n, TEXT_MAX - n, &l);
        if (lines < 0)
            return -1;
        n += l;
        if (lines > 0)
            continue;
        const struct shmlog_read_event *ev;
        int rc = shmlog_read_next(r, &ev);
        if (rc == 0)
            break;
        if (rc < 0 || ev->kind != SHMLOG_READ_ERROR)
            return -1;
    }
    shmlog_read_close(r);
    *len = n;
    return 0;
}

/* The same, one event at a time (threads 0), or as read_lines() reads them. */
static int read_all(int local, unsigned threads, char *out, size_t *len)
{
    struct shmlog_read_options o = SHMLOG_READ_OPTIONS_INIT;
    o.local_time = local;
    o.threads = threads;
    struct shmlog_read *r;
    char err[256];
    if (shmlog_read_open(&r, &input, 1, &o, err, sizeof err) != 0) {
        fprintf(stderr, "read_lib_threads: %s\n", err);
        return -1;
    }
    if (threads)
        return read_lines(r, out, len);
    const struct shmlog_read_event *ev;
    size_t n = 0;
    int rc;
    while ((rc = shmlog_read_next(r, &ev)) > 0) {
        size_t l;
        const char *line = shmlog_read_line(r, 1, &l);
        if (!line || n + l > TEXT_MAX)
            return -1;
        memcpy(out + n, line, l);
        n += l;
    }
    shmlog_read_close(r);
    *len = n;
    return rc;
}

/* Rows of an Arrow stream of the input, its batches handed to *kept (released by the caller). */
static long arrow_rows(struct ArrowArray *kept, size_t cap, size_t *nkept)
{
    struct shmlog_read *r;
    char err[256];
    if (shmlog_read_open(&r, &input, 1, NULL, err, sizeof err) != 0)
        return -1;
    struct shmlog_read_arrow_options o = SHMLOG_READ_ARROW_OPTIONS_INIT;
    o.batch_rows = 5;
    o.threads = 3; /* each stream's batches written by builder threads too */
    struct ArrowArrayStream s;
    int rc = shmlog_read_arrow(r, &o, &s, err, sizeof err);
    shmlog_read_close(r);
    if (rc != 0)
        return -1;
    long rows = 0;
    *nkept = 0;
    for (;;) {
        struct ArrowArray a;
        if (s.get_next(&s, &a) != 0)
            return -1;
        if (!a.release)
            break;
        rows += (long)a.length;
        if (*nkept < cap)
            kept[(*nkept)++] = a;
        else
            a.release(&a);
    }
    s.release(&s);
    return rows;
}

static long want_rows;

struct arrow_job {
    struct ArrowArray kept[64];
    size_t nkept;
    long rows;
};

static void *arrow_reader(void *arg)
{
    struct arrow_job *j = arg;
    j->rows = arrow_rows(j->kept, 64, &j->nkept);
    return NULL;
}

static void *reader(void *arg)
{
    int local = (int)(long)arg & 1;
    char *got = malloc(TEXT_MAX);
    long bad = 0;
    for (int i = 0; i < ROUNDS && !bad; i++) {
        size_t len;
        /* Every other round many lines a call, rendered by three threads: two of the lines' own and this one. */
        unsigned threads = i % 2 ? 3 : 0;
        bad = !got || read_all(local, threads, got, &len) != 0 || len != want_len[local] ||
              memcmp(got, want[local], len) != 0;
    }
    free(got);
    return (void *)bad;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: read_lib_threads FILE|DIR\n");
        return 2;
    }
    input = argv[1];
    setenv("TZ", "Europe/Paris", 1);
    for (int local = 0; local < 2; local++)
        if (!(want[local] = malloc(TEXT_MAX)) || read_all(local, 0, want[local], &want_len[local]) != 0 ||
            want_len[local] == 0) {
            fprintf(stderr, "read_lib_threads: the main thread's read failed\n");
            return 1;
        }
    if (want_len[0] == want_len[1] && memcmp(want[0], want[1], want_len[0]) == 0) {
        fprintf(stderr, "read_lib_threads: local time did not change the lines\n");
        return 1;
    }
    pthread_t th[THREADS];
    for (long i = 0; i < THREADS; i++)
        if (pthread_create(&th[i], NULL, reader, (void *)i) != 0)
            return 1;
    int failed = 0;
    for (int i = 0; i < THREADS; i++) {
        void *bad;
        pthread_join(th[i], &bad);
        if (bad) {
            fprintf(stderr, "read_lib_threads: thread %d read other lines\n", i);
            failed = 1;
        }
    }
    /* Arrow streams on four threads; their batches released here, on the main thread. */
    static struct arrow_job jobs[THREADS];
    size_t nkept;
    static struct ArrowArray mine[64];
    want_rows = arrow_rows(mine, 64, &nkept);
    for (size_t k = 0; k < nkept; k++)
        mine[k].release(&mine[k]);
    if (want_rows <= 0) {
        fprintf(stderr, "read_lib_threads: the main thread's stream failed\n");
        return 1;
    }
    for (long i = 0; i < THREADS; i++)
        if (pthread_create(&th[i], NULL, arrow_reader, &jobs[i]) != 0)
            return 1;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        if (jobs[i].rows != want_rows || jobs[i].nkept == 0) {
            fprintf(stderr, "read_lib_threads: stream %d: %ld rows, the main thread's %ld\n", i, jobs[i].rows,
                    want_rows);
            failed = 1;
        }
        for (size_t k = 0; k < jobs[i].nkept; k++)
            jobs[i].kept[k].release(&jobs[i].kept[k]);
    }
    if (!failed)
        printf("%d threads x %d reads of %s: the main thread's lines, UTC and local; %d streams of %ld rows\n",
               THREADS, ROUNDS, input, THREADS, want_rows);
    return failed;
}
