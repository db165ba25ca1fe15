/*
 * bench_context.c - what knowing every frame's context costs the shipper
 * (it sends one where a reader may start): shlog_context_next over every
 * frame of a directory's files (a decompression and a look at the columns
 * that name sites), its cpu per record and per frame, and the context's
 * bytes against the frames' (were every frame to carry one).
 *   shmlog-bench-context DIR [REPEATS]    (bench/ship.sh runs it)
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shlog_file.h"

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: shmlog-bench-context DIR [REPEATS]\n");
        return 2;
    }
    int repeats = argc > 2 ? atoi(argv[2]) : 3;
    DIR *d = opendir(argv[1]);
    if (!d) {
        perror(argv[1]);
        return 1;
    }
    char *names[4096];
    size_t nn = 0;
    struct dirent *de;
    while ((de = readdir(d)) && nn < 4096) {
        uint64_t seq;
        int part;
        if (shlog_file_name_seq(de->d_name, &seq, &part) == 0)
            names[nn++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, nn, sizeof(*names), by_name);
    /* The files in memory first: the cost measured is the context's, not the disk's. */
    uint8_t **data = calloc(nn, sizeof(*data));
    size_t *len = calloc(nn, sizeof(*len));
    for (size_t i = 0; i < nn; i++) {
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", argv[1], names[i]);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        fseek(f, 0, SEEK_END);
        len[i] = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        data[i] = malloc(len[i] ? len[i] : 1);
        len[i] = fread(data[i], 1, len[i], f);
        fclose(f);
    }
    struct shlog_context *c;
    if (shlog_context_new(&c))
        return 1;
    double best = 1e30;
    uint64_t frames = 0, records = 0, fbytes = 0, cbytes = 0;
    for (int r = 0; r < repeats; r++) {
        frames = records = fbytes = cbytes = 0;
        double t0 = cpu_s();
        for (size_t i = 0; i < nn; i++) {
            shlog_context_reset(c);
            for (size_t at = SHLOG_FILE_HEADER_BYTES; at < len[i];) {
                uint64_t fb = shlog_frame_bytes(data[i] + at, len[i] - at);
                if (!fb || fb > len[i] - at)
                    break;
                struct shlog_context_out out;
                if (shlog_context_next(c, data[i] + at, fb, &out) == 0) {
                    frames++;
                    records += out.records;
                    fbytes += fb;
                    cbytes += out.ctx_n;
                }
                at += fb;
            }
        }
        double t = cpu_s() - t0;
        if (t < best)
            best = t;
    }
    printf("  context (shlog_context_next, best of %d): %.1f ns of cpu per record, %.0f us per frame, "
           "%.2f M records/s per core; %llu frames, %llu records, context %.2f%% of the frames' bytes\n",
           repeats, best * 1e9 / (double)(records ? records : 1), best * 1e6 / (double)(frames ? frames : 1),
           (double)records / best / 1e6, (unsigned long long)frames, (unsigned long long)records,
           100.0 * (double)cbytes / (double)(fbytes ? fbytes : 1));
    shlog_context_free(c);
    return 0;
}
