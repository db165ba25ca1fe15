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

int uring_setup(int sqpoll_cpu);
void frame_enqueue(struct frame *f);
/* Completions: how many came (their effects wait for the takes below). */
unsigned reap(int wait, uint64_t timeout_ns);
void retry_frames(void);
/* stopping: a SIGTERM came (an output that keeps failing then ends the program). */
void wait_output(int stopping);
/* The frame at the FIFO's head once it is done (the frames behind it wait
 * their turn), or NULL. The caller applies and frees it. */
struct frame *writer_take_done(void);
/* Submits file's fsync (its last frame is done): 0, or -1 (sync it yourself). */
int writer_sync_file(struct outfile *file);
/* A file whose fsync completed (sync_err set), or NULL. */
struct outfile *writer_take_synced(void);
/* Frames not yet taken, and those plus file syncs not yet taken. */
unsigned writer_frames(void);
unsigned writer_busy(void);
const struct writer_stats *writer_stats(void);

#endif
