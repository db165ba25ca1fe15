/*
 * anchors.c - the collector's anchors of the host's clock (anchors.h).
 */
#include "anchors.h"

#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* Anchors this far apart: a clock whose rate changes by R ppm between two of
 * them maps the records between up to R x 2.5 ns off (a quarter of the
 * spacing, at the bend's worst: bench/clock.sh --slew-ppm). */
#define ANCHOR_EVERY_NS 10000000ull
/* An anchor between two others of its frame that the line through them maps
 * within this is not written: the clock's rate held between them, and a slow
 * host's small frames would carry ten anchors of nothing new each. */
#define ANCHOR_ON_LINE_NS 100u

static uint64_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Takes an anchor and notes when. */
static void take(struct frame_anchors *f, struct shm_clock_anchor *a)
{
    shm_clock_take(&f->taker, a);
    f->last_mono_ns = mono_now();
}
/* The anchors since the last seal go into the next frame: they bound the
 * records drained into it, which were logged since. Between frames the
 * oldest make room (a step they saw still shows in the offsets of the ones
 * kept); in a frame, what comes past room is left out. The last slot is
 * the seal's. */
static void push(struct frame_anchors *f, const struct shm_clock_anchor *a)
{
    if (f->npending == SHLOG_CLOCK_MAX_ANCHORS - 1 && !f->frame_open) {
        memmove(f->pending, f->pending + 1, (f->npending - 1) * sizeof(f->pending[0]));
        f->npending--;
    }
    if (f->npending < SHLOG_CLOCK_MAX_ANCHORS - 1)
        f->pending[f->npending++] = *a;
}

/* A timer on CLOCK_REALTIME that never fires, armed so that setting the
 * clock cancels it: the kernel's own notice of a step. */
static void arm_set_timer(struct frame_anchors *f)
{
    struct itimerspec never = {.it_value = {.tv_sec = (time_t)1 << 62}};
    if (timerfd_settime(f->set_fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &never, NULL) != 0) {
        close(f->set_fd);
        f->set_fd = -1; /* the once-a-second anchors still see steps */
    }
}

const char *anchors_init(struct frame_anchors *f)
{
    memset(f, 0, sizeof(*f));
    f->set_fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    if (f->set_fd >= 0)
        arm_set_timer(f);
    struct shm_clock_anchor a;
    take(f, &a);
    shm_clock_state_read(&f->state);
    return shm_clock_state_warning(&f->state);
}

void anchors_frame_opened(struct frame_anchors *f)
{
    if (f->frame_open)
        return;
    f->frame_open = 1;
    struct shm_clock_anchor a;
    take(f, &a);
    push(f, &a);
}

static void take_between(struct frame_anchors *f)
{
    struct shm_clock_anchor a;
    take(f, &a);
    push(f, &a);
}

void anchors_tick(struct frame_anchors *f)
{
    shm_clock_state_read(&f->state);
}

void anchors_poll(struct frame_anchors *f)
{
    uint64_t expirations;
    if (f->set_fd >= 0 && read(f->set_fd, &expirations, sizeof(expirations)) < 0 && errno == ECANCELED) {
        arm_set_timer(f);
        take_between(f);
    } else if (mono_now() - f->last_mono_ns >= ANCHOR_EVERY_NS) {
        take_between(f);
    }
}

/* 1 when the line from anchor a to anchor b maps every anchor between them
 * within ANCHOR_ON_LINE_NS, and none of them, b included, follows a step. */
static int on_line(const struct shm_clock_anchor *a, const struct shm_clock_anchor *b)
{
    if (b->tsc <= a->tsc || b->ns < a->ns)
        return 0;
    for (const struct shm_clock_anchor *m = a + 1; m <= b; m++) {
        if (shm_clock_anchors_stepped(m - 1, m) || m->tsc <= m[-1].tsc)
            return 0;
        __int128 line = (__int128)(b->ns - a->ns) * (m->tsc - a->tsc) / (b->tsc - a->tsc);
        __int128 off = (__int128)m->ns - (__int128)a->ns - line;
        if (m < b && (off > ANCHOR_ON_LINE_NS || off < -(__int128)ANCHOR_ON_LINE_NS))
            return 0;
    }
    return 1;
}

/* The frame's anchors less those the line through the anchors kept around
 * them maps within ANCHOR_ON_LINE_NS: its first and last are kept, and a
 * reader maps every record between two kept ones as it would with all. */
static unsigned keep_off_line(struct shm_clock_anchor *a, unsigned n)
{
    if (n < 3)
        return n;
    unsigned from = 0, kept = 1; /* the line starts at a[from], the last kept */
    uint8_t keep[SHLOG_CLOCK_MAX_ANCHORS] = {0};
    for (unsigned i = 2; i < n; i++)
        if (!on_line(&a[from], &a[i]))
            keep[from = i - 1] = 1;
    for (unsigned i = 1; i < n - 1; i++)
        if (keep[i])
            a[kept++] = a[i];
    a[kept++] = a[n - 1];
    return kept;
}

static enum shlog_tristate tristate(int v)
{
    return v > 0 ? SHLOG_YES : v == 0 ? SHLOG_NO : SHLOG_UNKNOWN;
}

int anchors_seal(struct frame_anchors *f, struct shlog_enc *enc)
{
    struct shm_clock_anchor a;
    take(f, &a);
    f->pending[f->npending++] = a;
    struct shlog_clock_info ci = {.hz_q16 = f->taker.hz_q16,
                                  .tsc_invariant = tristate(f->state.tsc_invariant),
                                  .synchronized = tristate(f->state.synchronized),
                                  .esterror_ns = f->state.esterror_ns};
    memcpy(ci.clocksource, f->state.clocksource, sizeof(ci.clocksource));
    int rc = shlog_enc_clock(enc, &ci, f->pending, keep_off_line(f->pending, f->npending));
    f->npending = 0;
    f->frame_open = 0;
    return rc;
}

uint64_t anchors_ns(const struct frame_anchors *f, uint64_t tsc)
{
    return shm_clock_taker_ns(&f->taker, tsc);
}

void anchors_observe(const struct frame_anchors *f, struct metrics_clock *m)
{
    m->tsc_invariant = f->state.tsc_invariant;
    m->synchronized = f->state.synchronized;
    m->esterror_ns = f->state.esterror_ns;
    m->maxerror_ns = f->state.maxerror_ns;
    memcpy(m->clocksource, f->state.clocksource, sizeof(m->clocksource));
    m->anchors = f->taker.anchors;
    m->steps = f->taker.steps;
    m->last_err_ns = f->taker.last.err_ns;
    m->tsc_hz = (double)f->taker.hz_q16 / 65536.0;
}
