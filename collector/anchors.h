/*
 * anchors.h - the collector's anchors of the host's clock: taken when a
 * frame gets its first record, when it is sealed, every 10 ms between, and
 * as soon as the kernel says the wall clock was set; those since the last
 * frame written into the next as its CLOCK section (FORMAT.md, section 6).
 */
#ifndef COLLECTOR_ANCHORS_H
#define COLLECTOR_ANCHORS_H

#include "clock.h"
#include "metrics.h"
#include "shlog_file.h"

struct frame_anchors {
    struct shm_clock_taker taker;
    struct shm_clock_state state; /* refreshed by anchors_tick */
    struct shm_clock_anchor pending[SHLOG_CLOCK_MAX_ANCHORS]; /* for the open frame, in order */
    unsigned npending;
    int frame_open;
    int set_fd;  /* a timerfd the kernel cancels when CLOCK_REALTIME is set; -1 if none */
    uint64_t last_mono_ns; /* when the last anchor was taken (CLOCK_MONOTONIC) */
};

/* Takes the first anchor (it waits 20 ms for a rate) and reads the clocks'
 * state. Returns the warning to log about the host's clocks, or NULL. */
const char *anchors_init(struct frame_anchors *f);
/* The frame got its first content. */
void anchors_frame_opened(struct frame_anchors *f);
/* Once a second: the clocks' state. */
void anchors_tick(struct frame_anchors *f);
/* Often (a read of a timerfd): an anchor at once when the wall clock was
 * set, so that few records fall between the step and the next anchor; and
 * one every ANCHOR_EVERY_NS, so that a change of the clock's rate (NTP's
 * slew) bends the map between two by little. */
void anchors_poll(struct frame_anchors *f);
/* Before the frame is compressed: takes the sealing anchor and appends the
 * frame's CLOCK section. 0 or -errno from the encoder. */
int anchors_seal(struct frame_anchors *f, struct shlog_enc *enc);
/* Wall-clock ns of a TSC reading near now. */
uint64_t anchors_ns(const struct frame_anchors *f, uint64_t tsc);
void anchors_observe(const struct frame_anchors *f, struct metrics_clock *m);

#endif /* COLLECTOR_ANCHORS_H */
