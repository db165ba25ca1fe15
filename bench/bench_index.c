/*
 * bench_index.c - what a file's index (FORMAT.md, "Index") costs and what it
 * rules out: its bytes against the file's, and for each question how many of
 * the frames, and of their bytes, may hold a match (what a reader that skips
 * would still read).
 *
 *   shmlog-bench-index FILE [QUESTION...]
 *     QUESTION: NAME=VALUE (a field), LEVEL:N (records of level N), @APP,
 *               #FILE:LINE (a call site), ~TEXT (messages holding TEXT, a run
 *               of word bytes, whole or not: index version 8), or a word
 *   shmlog-bench-index --frames FILE...
 *     one line a listed frame: FILE OFFSET END RECORDS NS_MIN NS_MAX (bench/soak.sh
 *     finds when each frame reached a mirror's copy of the file by its end)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shlog_file.h"

/* Every listed frame of each file, a line each. */
static int list_frames(int nfiles, char **files)
{
    for (int a = 0; a < nfiles; a++) {
        int fd = open(files[a], O_RDONLY | O_CLOEXEC);
        struct shlog_index *ix;
        char err[256];
        if (fd < 0 || shlog_index_open(&ix, fd, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s: %s\n", files[a], fd < 0 ? "cannot open" : err);
            return 1;
        }
        for (size_t i = 0; i < shlog_index_count(ix); i++) {
            const struct shlog_index_frame *f = shlog_index_frame(ix, i);
            printf("%s %llu %llu %llu %llu %llu\n", files[a], (unsigned long long)f->offset,
                   (unsigned long long)(f->offset + f->bytes), (unsigned long long)f->records,
                   (unsigned long long)(f->timed ? f->ns_min : 0), (unsigned long long)(f->timed ? f->ns_max : 0));
        }
        shlog_index_close(ix);
        close(fd);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "--frames"))
        return list_frames(argc - 2, argv + 2);
    if (argc < 2) {
        fprintf(stderr, "usage: shmlog-bench-index FILE [NAME=VALUE | LEVEL:N | @APP | #FILE:LINE | ~TEXT | WORD]...\n"
                        "       shmlog-bench-index --frames FILE...\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(argv[1]);
        return 1;
    }
    struct shlog_index *ix;
    char err[256];
    if (shlog_index_open(&ix, fd, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", argv[1], err);
        return 1;
    }
    size_t n = shlog_index_count(ix);
    uint64_t frame_bytes = 0, filter_bytes = 0, records = 0;
    size_t indexed = 0;
    for (size_t i = 0; i < n; i++) {
        const struct shlog_index_frame *f = shlog_index_frame(ix, i);
        frame_bytes += f->bytes;
        const struct shlog_index_frame *before = i ? shlog_index_frame(ix, i - 1) : NULL;
        /* index version 7: frames without a filter of their own share their group's: counted once */
        if (!before || f->filters == SIZE_MAX || before->filters != f->filters ||
            before->filter_at != f->filter_at || !f->bloom_blocks)
            filter_bytes += (uint64_t)f->bloom_blocks * 32;
        records += f->records;
        indexed += (size_t)f->indexed;
    }
    /* what is neither a listed frame nor the header: the index frames */
    uint64_t index_bytes = (uint64_t)st.st_size - SHLOG_FILE_HEADER_BYTES - frame_bytes;
    printf("%s: %llu bytes, %zu frames (%zu indexed, %s), %llu records; index %llu bytes (%.2f%% of the file, "
           "filters %llu)%s%s\n",
           argv[1], (unsigned long long)st.st_size, n, indexed,
           shlog_index_from_footer(ix) ? "from the footer" : "walked", (unsigned long long)records,
           (unsigned long long)index_bytes, 100.0 * (double)index_bytes / (double)st.st_size,
           (unsigned long long)filter_bytes, shlog_index_note(ix) ? "; " : "",
           shlog_index_note(ix) ? shlog_index_note(ix) : "");
    for (int a = 2; a < argc; a++) {
        const char *q = argv[a], *eq = strchr(q, '=');
        struct shlog_index_query query = {0};
        struct shlog_index_field field;
        char name[256];
        if (!strncmp(q, "LEVEL:", 6)) {
            query.levels = (uint8_t)(1u << (atoi(q + 6) & 7));
        } else if (q[0] == '@') {
            query.app = q + 1;
        } else if (q[0] == '#') {
            query.site = q + 1;
        } else if (q[0] == '~') {
            const char *run = q + 1;
            query.msg_grams = &run;
            query.nmsg_grams = shlog_index_msg_gram(run, strlen(run));
        } else if (eq) {
            snprintf(name, sizeof(name), "%.*s", (int)(eq - q), q);
            field = (struct shlog_index_field){name, eq + 1};
            query.fields = &field;
            query.nfields = 1;
        } else {
            query.words = (const char *const *)&argv[a];
            query.nwords = 1;
        }
        size_t hits = 0;
        uint64_t bytes = 0;
        for (size_t i = 0; i < n; i++) {
            const struct shlog_index_frame *f = shlog_index_frame(ix, i);
            if (shlog_index_may_match_in(ix, f, &query)) {
                hits++;
                bytes += f->bytes;
            }
        }
        printf("  %-24s %6zu of %zu frames may match, %5.1f%% of their bytes\n", q, hits, n,
               frame_bytes ? 100.0 * (double)bytes / (double)frame_bytes : 0.0);
    }
    shlog_index_close(ix);
    close(fd);
    return 0;
}
