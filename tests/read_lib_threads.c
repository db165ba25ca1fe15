/* Description: libshmlog-read on four threads at once, for the ThreadSanitizer build (a plain program: Criterion's runner is not TSan-clean): readers of the same directory, half of them in local time, each read the lines a reader on the main thread read, and TSan sees every access the library's lock guards. */
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

/* Every JSON line of the input, in UTC or in local time; 0, or -1. */
static int read_all(int local, char *out, size_t *len)
{
    struct shmlog_read_options o = SHMLOG_READ_OPTIONS_INIT;
    o.local_time = local;
    struct shmlog_read *r;
    char err[256];
    if (shmlog_read_open(&r, &input, 1, &o, err, sizeof err) != 0) {
        fprintf(stderr, "read_lib_threads: %s\n", err);
        return -1;
    }
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

static void *reader(void *arg)
{
    int local = (int)(long)arg & 1;
    char *got = malloc(TEXT_MAX);
    long bad = 0;
    for (int i = 0; i < ROUNDS && !bad; i++) {
        size_t len;
        bad = !got || read_all(local, got, &len) != 0 || len != want_len[local] || memcmp(got, want[local], len) != 0;
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
        if (!(want[local] = malloc(TEXT_MAX)) || read_all(local, want[local], &want_len[local]) != 0 ||
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
    if (!failed)
        printf("%d threads x %d reads of %s: the main thread's lines, UTC and local\n", THREADS, ROUNDS, input);
    return failed;
}
