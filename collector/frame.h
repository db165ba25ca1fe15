/*
 * frame.h - the frame being built: batches, processes defined in the file,
 * releases and EXITs (frame.c; private to shmlog-collector).
 */
#ifndef COLLECTOR_FRAME_H
#define COLLECTOR_FRAME_H

#include "collector.h"

int end_batch(struct collector_state *c);
void mark_content(struct collector_state *c);
void note_release(struct collector_state *c, struct ring *r, uint64_t pos);
void note_exit(struct proc *p);
void frame_forget(struct collector_state *c, struct proc *p);
int ensure_process(struct collector_state *c, struct proc *p);
/* records of p went into the frame being built (counted for p, the
 * collector and the file's tally). */
void proc_wrote(struct collector_state *c, struct proc *p, uint64_t records);
/* records of p (or of a process gone, p NULL) were in a file deleted while
 * open: no longer counted as written. */
void proc_unwrote(struct collector_state *c, struct proc *p, uint64_t records);
/* The frame being built is to be flushed at the end of this pass. */
void frame_flush_soon(struct collector_state *c);
/* A new file began: it is far from what readers keep (rotate_soon). */
void note_rotated(struct collector_state *c);
/* p's EXIT section in the frame being built, its process defined first. */
int write_exit(struct collector_state *c, struct proc *p, enum shlog_exit_how how);
/* Defines process key (info) in the current file, its tally there at
 * *tally; near what readers keep, a new file begins soon. 0 or -errno. */
int define_process(struct collector_state *c, uint32_t key, const struct shm_proc_info *info, size_t *tally);
/* Whether p may have sections in the current file now: it is defined there,
 * or the file is not near what readers keep (rotate_soon). Else what it has
 * waits, in its rings and its meta, for the next file. */
int file_takes_process(const struct collector_state *c, const struct proc *p);
/* A definition went into the current file: near what readers keep, a new
 * file begins before the next (rotate_soon). */
void note_defined(struct collector_state *c);
/* The open batch is of ring r, its process in the file: 1 if it was begun now. */
int batch_of(struct collector_state *c, struct ring *r);
/* Records of ring r from position `from` on were kept (not written): an open
 * batch of r without a record yet passes over them (shlog_enc_batch_from). */
void batch_passed_from(struct collector_state *c, struct ring *r, uint64_t from);
/* Seals the frame being built and hands it to the writer: 1, or 0 when the
 * output cannot take it yet (the caller goes on, or waits and applies). */
int flush_frame(struct collector_state *c);
/* The index's footer of file, whose last frame flush_frame sealed, as one
 * more write in the writer's order (FORMAT.md, "Index"): the file is synced
 * and renamed only once it is done. Nothing for a file never opened or
 * deleted, or when there is no memory for it (readers then walk the file). */
void footer_enqueue(struct collector_state *c, struct outfile *file);
/* The frame being built can take no more records: the loop writes it first. */
int frame_full(struct collector_state *c);

#endif
