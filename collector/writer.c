/*
 * writer.c - frame writes and file syncs through io_uring: the FIFO of frames
 * in submission order, completions, short writes, fsync, retries. It applies
 * nothing: the loop takes the frames done at the FIFO's head (in order) and the
 * files synced, and releases ring space, ends processes and closes files itself.
 */
#include <errno.h>
#include <liburing.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "output.h"
#include "writer.h"

/* A completion's user data: a frame, or a file being synced before its close
 * (this bit set; both are at least 8-byte aligned). */
#define SYNC_TAG ((uintptr_t)1)

struct writer {
    struct io_uring uring;
    /* frames submitted, in order; the done ones at its head wait for writer_take_done */
    struct frame *fifo_head, *fifo_tail;
    unsigned nframes; /* in the FIFO */
    unsigned nsyncs;  /* file syncs submitted and not yet taken */
    /* file syncs completed, not yet taken (linked through next) */
    struct outfile *synced_head, *synced_tail;
    struct writer_stats stats;
    uint64_t term_seen_ns; /* wait_output: when it first waited after a SIGTERM with the output failing */
    struct output *output;  /* told of each write's failure and success */
};

struct writer *writer_new(int sqpoll_cpu, struct output *output)
{
    struct writer *w = calloc(1, sizeof(*w));
    if (!w) {
        shm_warn(PROG, "out of memory");
        return NULL;
    }
    w->output = output;
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    if (sqpoll_cpu >= 0) {
        p.flags = IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF;
        p.sq_thread_cpu = (unsigned)sqpoll_cpu;
        p.sq_thread_idle = 100; /* ms before the kernel thread sleeps */
    }
    int rc = io_uring_queue_init_params(64, &w->uring, &p);
    if (rc < 0) {
        shm_warn(PROG, "io_uring_queue_init: %s", strerror(-rc));
        free(w);
        return NULL;
    }
    return w;
}

static struct io_uring_sqe *get_sqe(struct writer *w)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&w->uring);
    if (!sqe) {
        io_uring_submit(&w->uring);
        sqe = io_uring_get_sqe(&w->uring);
    }
    return sqe;
}

static void frame_submit(struct writer *w, struct frame *f)
{
    struct io_uring_sqe *sqe = get_sqe(w);
    if (!sqe) { /* cannot happen with MAX_INFLIGHT far below the queue depth */
        f->retry_state = f->state;
        f->state = FR_RETRY;
        f->retry_at = shm_mono_ns();
        return;
    }
    if (f->state == FR_SYNCING)
        io_uring_prep_fsync(sqe, f->file->fd, IORING_FSYNC_DATASYNC);
    else
        io_uring_prep_write(sqe, f->file->fd, f->buf + f->done, (unsigned)(f->len - f->done), f->off + f->done);
    io_uring_sqe_set_data(sqe, f);
    io_uring_submit(&w->uring);
}

/* The whole file, metadata too (its size): it is renamed to its final name
 * once this is done. 0, or -1 when no submission slot is free. */
static int file_sync_submit(struct writer *w, struct outfile *file)
{
    struct io_uring_sqe *sqe = get_sqe(w);
    if (!sqe)
        return -1;
    io_uring_prep_fsync(sqe, file->fd, 0);
    io_uring_sqe_set_data(sqe, (void *)((uintptr_t)file | SYNC_TAG));
    io_uring_submit(&w->uring);
    return 0;
}

static void frame_failed(struct writer *w, struct frame *f, int err)
{
    output_failed(w->output, f->state == FR_SYNCING ? "fsync" : "write", f->file->part_path, err);
    w->stats.write_errors++;
    f->retry_state = f->state;
    f->state = FR_RETRY;
    f->retry_at = shm_mono_ns() + WRITE_RETRY_NS;
}

static void file_synced(struct writer *w, struct outfile *file, int res)
{
    if (res == -EINTR || res == -EAGAIN) {
        if (file_sync_submit(w, file) == 0)
            return;
        res = -EAGAIN;
    }
    file->sync_err = res < 0 ? -res : 0;
    file->next = NULL;
    if (w->synced_tail)
        w->synced_tail->next = file;
    else
        w->synced_head = file;
    w->synced_tail = file;
}

static void handle_cqe(struct writer *w, struct io_uring_cqe *cqe)
{
    void *data = io_uring_cqe_get_data(cqe);
    int res = cqe->res;
    io_uring_cqe_seen(&w->uring, cqe);
    if (!data)
        return;
    if ((uintptr_t)data & SYNC_TAG) {
        file_synced(w, (struct outfile *)((uintptr_t)data & ~SYNC_TAG), res);
        return;
    }
    struct frame *f = data;
    if (res == -EINTR || res == -EAGAIN) {
        frame_submit(w, f);
        return;
    }
    if (res < 0) {
        frame_failed(w, f, -res);
        return;
    }
    if (f->state == FR_WRITING) {
        if (res == 0) {
            frame_failed(w, f, EIO);
            return;
        }
        f->done += (size_t)res;
        w->stats.written_bytes += (uint64_t)res;
        if (f->done < f->len) { /* short write: the rest at its offset */
            frame_submit(w, f);
            return;
        }
        if (f->need_sync) {
            f->state = FR_SYNCING;
            frame_submit(w, f);
            return;
        }
    }
    output_ok(w->output);
    f->state = FR_DONE;
}

unsigned reap(struct writer *w, int wait, uint64_t timeout_ns)
{
    struct io_uring_cqe *cqe;
    unsigned n = 0;
    if (wait && (w->nframes || w->nsyncs)) {
        struct __kernel_timespec ts = {(long long)(timeout_ns / 1000000000ull), (long long)(timeout_ns % 1000000000ull)};
        if (io_uring_wait_cqe_timeout(&w->uring, &cqe, &ts) == 0) {
            handle_cqe(w, cqe);
            n++;
        }
    }
    while (io_uring_peek_cqe(&w->uring, &cqe) == 0) {
        handle_cqe(w, cqe);
        n++;
    }
    return n;
}

void retry_frames(struct writer *w)
{
    uint64_t now = shm_mono_ns();
    for (struct frame *f = w->fifo_head; f; f = f->next)
        if (f->state == FR_RETRY && now >= f->retry_at) {
            f->state = f->retry_state;
            frame_submit(w, f);
        }
}

/* Waits up to 100 ms for a write to complete, then retries what is due. A
 * collector told to stop while its output keeps failing would wait here for
 * ever: after two more retries it exits instead. It released nothing it did
 * not write, so the next run finds every unwritten record in its ring. */
void wait_output(struct writer *w, int stopping)
{
    int err = output_error(w->output);
    if (stopping && err) {
        uint64_t now = shm_mono_ns();
        if (!w->term_seen_ns)
            w->term_seen_ns = now;
        if (now - w->term_seen_ns > 2 * WRITE_RETRY_NS + WRITE_RETRY_NS / 2) {
            shm_warn(PROG, "exiting on SIGTERM while the output fails (%s): %u frame(s) not written, their records "
                  "stay in the rings for the next run", strerror(err), w->nframes);
            exit(1);
        }
    }
    if (w->nframes || w->nsyncs) {
        reap(w, 1, 100000000ull);
    } else {
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
    retry_frames(w);
}

/* Appends a frame flush_frame sealed to the FIFO and submits its write; one
 * with nothing to write is done at once, handed back in its turn. */
void frame_enqueue(struct writer *w, struct frame *f)
{
    if (w->fifo_tail)
        w->fifo_tail->next = f;
    else
        w->fifo_head = f;
    w->fifo_tail = f;
    w->nframes++;
    if (f->len) {
        f->state = FR_WRITING;
        frame_submit(w, f);
    } else {
        f->state = FR_DONE;
    }
}

struct frame *writer_take_done(struct writer *w)
{
    struct frame *f = w->fifo_head;
    if (!f || f->state != FR_DONE)
        return NULL;
    w->fifo_head = f->next;
    if (!w->fifo_head)
        w->fifo_tail = NULL;
    w->nframes--;
    return f;
}

int writer_sync_file(struct writer *w, struct outfile *file)
{
    if (file_sync_submit(w, file) != 0)
        return -1;
    w->nsyncs++;
    return 0;
}

struct outfile *writer_take_synced(struct writer *w)
{
    struct outfile *file = w->synced_head;
    if (!file)
        return NULL;
    w->synced_head = file->next;
    if (!w->synced_head)
        w->synced_tail = NULL;
    w->nsyncs--;
    return file;
}

unsigned writer_frames(const struct writer *w) { return w->nframes; }
unsigned writer_busy(const struct writer *w) { return w->nframes + w->nsyncs; }
const struct writer_stats *writer_stats(const struct writer *w) { return &w->stats; }
