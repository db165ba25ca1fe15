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

static struct io_uring uring;
/* frames submitted, in order; the done ones at its head wait for writer_take_done */
static struct frame *fifo_head, *fifo_tail;
static unsigned nframes;   /* in the FIFO */
static unsigned nsyncs;    /* file syncs submitted and not yet taken */
/* file syncs completed, not yet taken (linked through next) */
static struct outfile *synced_head, *synced_tail;
static struct writer_stats stats;

int uring_setup(int sqpoll_cpu)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    if (sqpoll_cpu >= 0) {
        p.flags = IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF;
        p.sq_thread_cpu = (unsigned)sqpoll_cpu;
        p.sq_thread_idle = 100; /* ms before the kernel thread sleeps */
    }
    int rc = io_uring_queue_init_params(64, &uring, &p);
    if (rc < 0)
        shm_warn(PROG, "io_uring_queue_init: %s", strerror(-rc));
    return rc;
}

static struct io_uring_sqe *get_sqe(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&uring);
    if (!sqe) {
        io_uring_submit(&uring);
        sqe = io_uring_get_sqe(&uring);
    }
    return sqe;
}

static void frame_submit(struct frame *f)
{
    struct io_uring_sqe *sqe = get_sqe();
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
    io_uring_submit(&uring);
}

/* The whole file, metadata too (its size): it is renamed to its final name
 * once this is done. 0, or -1 when no submission slot is free. */
static int file_sync_submit(struct outfile *file)
{
    struct io_uring_sqe *sqe = get_sqe();
    if (!sqe)
        return -1;
    io_uring_prep_fsync(sqe, file->fd, 0);
    io_uring_sqe_set_data(sqe, (void *)((uintptr_t)file | SYNC_TAG));
    io_uring_submit(&uring);
    return 0;
}

static void frame_failed(struct frame *f, int err)
{
    output_failed(f->state == FR_SYNCING ? "fsync" : "write", f->file->part_path, err);
    stats.write_errors++;
    f->retry_state = f->state;
    f->state = FR_RETRY;
    f->retry_at = shm_mono_ns() + WRITE_RETRY_NS;
}

static void file_synced(struct outfile *file, int res)
{
    if (res == -EINTR || res == -EAGAIN) {
        if (file_sync_submit(file) == 0)
            return;
        res = -EAGAIN;
    }
    file->sync_err = res < 0 ? -res : 0;
    file->next = NULL;
    if (synced_tail)
        synced_tail->next = file;
    else
        synced_head = file;
    synced_tail = file;
}

static void handle_cqe(struct io_uring_cqe *cqe)
{
    void *data = io_uring_cqe_get_data(cqe);
    int res = cqe->res;
    io_uring_cqe_seen(&uring, cqe);
    if (!data)
        return;
    if ((uintptr_t)data & SYNC_TAG) {
        file_synced((struct outfile *)((uintptr_t)data & ~SYNC_TAG), res);
        return;
    }
    struct frame *f = data;
    if (res == -EINTR || res == -EAGAIN) {
        frame_submit(f);
        return;
    }
    if (res < 0) {
        frame_failed(f, -res);
        return;
    }
    if (f->state == FR_WRITING) {
        if (res == 0) {
            frame_failed(f, EIO);
            return;
        }
        f->done += (size_t)res;
        stats.written_bytes += (uint64_t)res;
        if (f->done < f->len) { /* short write: the rest at its offset */
            frame_submit(f);
            return;
        }
        if (f->need_sync) {
            f->state = FR_SYNCING;
            frame_submit(f);
            return;
        }
    }
    output_ok();
    f->state = FR_DONE;
}

unsigned reap(int wait, uint64_t timeout_ns)
{
    struct io_uring_cqe *cqe;
    unsigned n = 0;
    if (wait && (nframes || nsyncs)) {
        struct __kernel_timespec ts = {(long long)(timeout_ns / 1000000000ull), (long long)(timeout_ns % 1000000000ull)};
        if (io_uring_wait_cqe_timeout(&uring, &cqe, &ts) == 0) {
            handle_cqe(cqe);
            n++;
        }
    }
    while (io_uring_peek_cqe(&uring, &cqe) == 0) {
        handle_cqe(cqe);
        n++;
    }
    return n;
}

void retry_frames(void)
{
    uint64_t now = shm_mono_ns();
    for (struct frame *f = fifo_head; f; f = f->next)
        if (f->state == FR_RETRY && now >= f->retry_at) {
            f->state = f->retry_state;
            frame_submit(f);
        }
}

/* Waits up to 100 ms for a write to complete, then retries what is due. A
 * collector told to stop while its output keeps failing would wait here for
 * ever: after two more retries it exits instead. It released nothing it did
 * not write, so the next run finds every unwritten record in its ring. */
void wait_output(int stopping)
{
    static uint64_t term_seen_ns;
    int err = output_error();
    if (stopping && err) {
        uint64_t now = shm_mono_ns();
        if (!term_seen_ns)
            term_seen_ns = now;
        if (now - term_seen_ns > 2 * WRITE_RETRY_NS + WRITE_RETRY_NS / 2) {
            shm_warn(PROG, "exiting on SIGTERM while the output fails (%s): %u frame(s) not written, their records "
                  "stay in the rings for the next run", strerror(err), nframes);
            exit(1);
        }
    }
    if (nframes || nsyncs) {
        reap(1, 100000000ull);
    } else {
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
    retry_frames();
}

/* Appends a frame flush_frame sealed to the FIFO and submits its write; one
 * with nothing to write is done at once, handed back in its turn. */
void frame_enqueue(struct frame *f)
{
    if (fifo_tail)
        fifo_tail->next = f;
    else
        fifo_head = f;
    fifo_tail = f;
    nframes++;
    if (f->len) {
        f->state = FR_WRITING;
        frame_submit(f);
    } else {
        f->state = FR_DONE;
    }
}

struct frame *writer_take_done(void)
{
    struct frame *f = fifo_head;
    if (!f || f->state != FR_DONE)
        return NULL;
    fifo_head = f->next;
    if (!fifo_head)
        fifo_tail = NULL;
    nframes--;
    return f;
}

int writer_sync_file(struct outfile *file)
{
    if (file_sync_submit(file) != 0)
        return -1;
    nsyncs++;
    return 0;
}

struct outfile *writer_take_synced(void)
{
    struct outfile *file = synced_head;
    if (!file)
        return NULL;
    synced_head = file->next;
    if (!synced_head)
        synced_tail = NULL;
    nsyncs--;
    return file;
}

unsigned writer_frames(void) { return nframes; }
unsigned writer_busy(void) { return nframes + nsyncs; }
const struct writer_stats *writer_stats(void) { return &stats; }
