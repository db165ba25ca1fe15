/*
 * writer.c - frame writes through io_uring: the FIFO of frames in submission
 * order, completions, short writes, fsync, retries, and the releases of ring
 * space applied from the FIFO's head once its frames are done.
 */
#include <errno.h>
#include <liburing.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"

static struct io_uring uring;
/* frames submitted, in order */
static struct frame *fifo_head, *fifo_tail;

int uring_setup(void)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    if (opt.sqpoll_cpu >= 0) {
        p.flags = IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF;
        p.sq_thread_cpu = (unsigned)opt.sqpoll_cpu;
        p.sq_thread_idle = 100; /* ms before the kernel thread sleeps */
    }
    int rc = io_uring_queue_init_params(64, &uring, &p);
    if (rc < 0)
        warnx("io_uring_queue_init: %s", strerror(-rc));
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
        f->retry_at = mono_ns();
        return;
    }
    if (f->state == FR_SYNCING)
        io_uring_prep_fsync(sqe, f->file->fd, IORING_FSYNC_DATASYNC);
    else
        io_uring_prep_write(sqe, f->file->fd, f->buf + f->done, (unsigned)(f->len - f->done), f->off + f->done);
    io_uring_sqe_set_data(sqe, f);
    io_uring_submit(&uring);
}

static void frame_failed(struct frame *f, int err)
{
    output_failed(f->state == FR_SYNCING ? "fsync" : "write", f->file->part_path, err);
    col.write_errors++;
    f->retry_state = f->state;
    f->state = FR_RETRY;
    f->retry_at = mono_ns() + WRITE_RETRY_NS;
}

struct release_at {
    struct ring *r;
    uint64_t pos;
};

static void release_now(void *ctx)
{
    const struct release_at *a = ctx;
    struct ring *r = a->r;
    shm_ring_release_below(&r->view, a->pos, r->bound);
    r->tail = (int64_t)(a->pos - r->bound) > 0 ? r->bound : a->pos; /* as it stored it */
}

static void ring_release(struct ring *r, uint64_t pos)
{
    struct release_at a = {r, pos};
    if (!r->broken && shm_guarded(release_now, &a) != 0)
        r->broken = 1;
}

/* Applies what the frames at the head of the FIFO made durable. */
static void fifo_advance(void)
{
    struct frame *f;
    while ((f = fifo_head) && f->state == FR_DONE) {
        fifo_head = f->next;
        if (!fifo_head)
            fifo_tail = NULL;
        for (size_t i = 0; i < f->nrel; i++)
            ring_release(f->rel[i].ring, f->rel[i].pos);
        for (size_t i = 0; i < f->nexits; i++)
            proc_finalize(f->exits[i]);
        struct outfile *file = f->file;
        if (file && --file->inflight == 0 && file->closing) {
            struct outfile **pp = &col.closing;
            while (*pp && *pp != file)
                pp = &(*pp)->next;
            if (*pp)
                *pp = file->next;
            outfile_finish(file);
        }
        col.inflight--;
        free(f->buf);
        free(f->rel);
        free(f->exits);
        free(f);
    }
}

static void handle_cqe(struct io_uring_cqe *cqe)
{
    struct frame *f = io_uring_cqe_get_data(cqe);
    int res = cqe->res;
    io_uring_cqe_seen(&uring, cqe);
    if (!f)
        return;
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
        col.written_bytes += (uint64_t)res;
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
    fifo_advance();
}

void reap(int wait, uint64_t timeout_ns)
{
    struct io_uring_cqe *cqe;
    if (wait && col.inflight) {
        struct __kernel_timespec ts = {(long long)(timeout_ns / 1000000000ull), (long long)(timeout_ns % 1000000000ull)};
        if (io_uring_wait_cqe_timeout(&uring, &cqe, &ts) == 0)
            handle_cqe(cqe);
    }
    while (io_uring_peek_cqe(&uring, &cqe) == 0)
        handle_cqe(cqe);
}

void retry_frames(void)
{
    uint64_t now = mono_ns();
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
void wait_output(void)
{
    static uint64_t term_seen_ns;
    if (got_term && col.out_error) {
        uint64_t now = mono_ns();
        if (!term_seen_ns)
            term_seen_ns = now;
        if (now - term_seen_ns > 2 * WRITE_RETRY_NS + WRITE_RETRY_NS / 2) {
            warnx("exiting on SIGTERM while the output fails (%s): %u frame(s) not written, their records "
                  "stay in the rings for the next run", strerror(col.out_error), col.inflight);
            exit(1);
        }
    }
    if (col.inflight) {
        reap(1, 100000000ull);
    } else {
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
    retry_frames();
}

/* Appends a frame flush_frame sealed to the FIFO and submits its write; one
 * with nothing to write is done at once, its releases applied in their turn. */
void frame_enqueue(struct frame *f)
{
    if (fifo_tail)
        fifo_tail->next = f;
    else
        fifo_head = f;
    fifo_tail = f;
    col.inflight++;
    if (f->len) {
        f->state = FR_WRITING;
        frame_submit(f);
    } else {
        f->state = FR_DONE;
        fifo_advance();
    }
}
