/*
 * output.h - output files: the directory, opening, closing, retention, the
 * note of EXITs in flight (output.c; private to shmlog-collector).
 */
#ifndef COLLECTOR_OUTPUT_H
#define COLLECTOR_OUTPUT_H

#include "collector.h"

/* What output.c keeps: the file numbers, the output's trouble, the note of EXITs. */
struct output;

/* Before any other call of output.c: o is kept, not copied. NULL when out of memory. */
struct output *output_new(const struct options *o);

int ensure_dir(const char *dir);
/* The files are evidence: --out must be ours alone (owned by our uid, not
 * writable by its group or others). 0, or -1 with the reason in why. */
int out_dir_unsafe(struct output *out, char *why, size_t cap);
/* The host name the files are named after and carry: before the first file. */
void output_set_host(struct output *out, const char *host);
struct output_stats {
    uint64_t files;             /* made */
    uint64_t unshipped_removed; /* files retention removed before shmlog-ship had them */
};
const struct output_stats *output_stats(struct output *out);
/* --group: the output directory in that group, set-group-ID so the files
 * made in it are too, and readable by it. 0, or -errno. */
int share_out_dir(struct output *out);
void recover_out_dir(struct output *out);
struct outfile *outfile_new(struct output *out);
void output_failed(struct output *out, const char *what, const char *path, int err);
void output_ok(struct output *out);
/* The errno of the output's failure going on, 0 if none. */
int output_error(struct output *out);
int outfile_open(struct output *out, struct outfile *f);
/* Its last frame done and, with --fsync, it synced: close, rename, retention. */
void outfile_close(struct output *out, struct outfile *f);
/* 1 if the open file f was deleted (no name links to it any more). */
int outfile_removed(const struct outfile *f);
/* The note of EXITs in flight (output.c): read at the start (after
 * recover_out_dir), then removed. */
void exits_note_open(struct output *out);
/* 1 if the last run wrote this process's EXIT before it stopped (asked once). */
int exit_written_before(struct output *out, const struct shm_proc_info *info);
/* A frame with the EXITs of procs is about to be written at off of file. */
void exits_note_frame(struct output *out, const struct outfile *file, const uint8_t *buf, size_t len, uint64_t off,
                      struct proc *const *procs, size_t n);
/* A frame with EXITs is done. */
void exits_note_done(struct output *out);

#endif
