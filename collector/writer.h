/*
 * writer.h - io_uring: frame writes and file syncs, handed back in submission
 * order (writer.c; private to shmlog-collector).
 */
#ifndef COLLECTOR_WRITER_H
#define COLLECTOR_WRITER_H

#include "collector.h"

struct writer_stats {
    uint64_t write_errors, written_bytes;
};

/* The writer's state: its io_uring, the FIFO of frames, the files synced. */
struct writer;

/* Its io_uring made (an SQPOLL thread on sqpoll_cpu, or none when -1): NULL when it cannot be. */
struct writer *writer_new(int sqpoll_cpu, struct output *output);
void frame_enqueue(struct writer *w, struct frame *f);
/* Completions: how many came (their effects wait for the takes below). */
unsigned reap(struct writer *w, int wait, uint64_t timeout_ns);
void retry_frames(struct writer *w);
/* stopping: a SIGTERM came (an output that keeps failing then ends the program). */
void wait_output(struct writer *w, int stopping);
/* The frame at the FIFO's head once it is done (the frames behind it wait
 * their turn), or NULL. The caller applies and frees it. */
struct frame *writer_take_done(struct writer *w);
/* Submits file's fsync (its last frame is done): 0, or -1 (sync it yourself). */
int writer_sync_file(struct writer *w, struct outfile *file);
/* A file whose fsync completed (sync_err set), or NULL. */
struct outfile *writer_take_synced(struct writer *w);
/* Frames not yet taken, and those plus file syncs not yet taken. */
unsigned writer_frames(const struct writer *w);
unsigned writer_busy(const struct writer *w);
const struct writer_stats *writer_stats(const struct writer *w);

#endif
