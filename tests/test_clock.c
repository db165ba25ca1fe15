/* Description: the host clock's anchors and the map readers build from them
 * (shm/clock.h): interpolation, the rate beyond the anchors, a step of the
 * wall clock, a TSC that restarts, hostile anchors, a bounded map; an anchor
 * taker against the kernel's clock; the CLOCK section through a real file:
 * its anchors come before the frame's records, damage is reported. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "test_util_file.h"

#define GHZ_Q16 (1000000000ull << 16) /* 1 tick a nanosecond */
#define EPOCH 1800000000000000000ull

static struct shm_clock_anchor anchor(uint64_t tsc, uint64_t ns, uint32_t flags)
{
    return (struct shm_clock_anchor){.tsc = tsc, .ns = ns, .err_ns = 10, .flags = flags};
}

static struct shm_clock_map *new_map(void)
{
    struct shm_clock_map *m = calloc(1, sizeof(*m));
    cr_assert(m);
    return m;
}

Test(clock_map, interpolates_between_the_anchors_around_a_tsc)
{
    struct shm_clock_map *m = new_map();
    cr_assert_not(shm_clock_map_ready(m));
    /* The wall clock ran 1000 ppm fast against the nominal rate between
     * these two: the map follows the anchors, not the rate. */
    struct shm_clock_anchor a = anchor(1000000, EPOCH, 0), b = anchor(2001000, EPOCH + 1001000, 0);
    shm_clock_map_add(m, &a, GHZ_Q16);
    shm_clock_map_add(m, &b, 0);
    cr_assert(shm_clock_map_ready(m));
    cr_assert_eq(shm_clock_map_ns(m, 1000000), EPOCH);
    cr_assert_eq(shm_clock_map_ns(m, 2001000), EPOCH + 1001000);
    cr_assert_eq(shm_clock_map_ns(m, 1500500), EPOCH + 500500);
    /* Beyond the last anchor and before the first: at the rate. */
    cr_assert_eq(shm_clock_map_ns(m, 3001000), EPOCH + 2001000);
    cr_assert_eq(shm_clock_map_ns(m, 0), EPOCH - 1000000);
    free(m);
}

Test(clock_map, a_step_maps_the_records_before_the_next_anchor_on_the_old_clock)
{
    struct shm_clock_map *m = new_map();
    struct shm_clock_anchor a = anchor(1000, EPOCH, 0);
    /* 5 s forward between the two anchors, 1 ms of TSC apart. */
    struct shm_clock_anchor b = anchor(1001000, EPOCH + 5001000000ull, SHM_ANCHOR_STEPPED);
    struct shm_clock_anchor c = anchor(2001000, EPOCH + 5002000000ull, 0);
    shm_clock_map_add(m, &a, GHZ_Q16);
    shm_clock_map_add(m, &b, 0);
    shm_clock_map_add(m, &c, 0);
    cr_assert_eq(m->steps, 1);
    /* Not smeared over the interval: the clock before the step ... */
    cr_assert_eq(shm_clock_map_ns(m, 501000), EPOCH + 500000);
    /* ... and after it, the new one. */
    cr_assert_eq(shm_clock_map_ns(m, 1501000), EPOCH + 5001500000ull);
    free(m);
}

/* An anchor that knows its offset of CLOCK_REALTIME from CLOCK_MONOTONIC. */
static struct shm_clock_anchor anchor_off(uint64_t tsc, uint64_t ns, int64_t offset_ns)
{
    struct shm_clock_anchor a = anchor(tsc, ns, SHM_ANCHOR_OFFSET);
    a.offset_ns = offset_ns;
    return a;
}

Test(clock_map, a_step_no_taker_saw_is_seen_in_the_offsets_and_its_records_flagged)
{
    /* A collector's last anchor, and the first of the next one 2 s later
     * (1 GHz), after a step of +5 s neither saw: not flagged STEPPED, but
     * CLOCK_REALTIME - CLOCK_MONOTONIC moved by 5 s. */
    struct shm_clock_map *m = new_map();
    struct shm_clock_anchor a = anchor_off(1000, EPOCH, 1000000000000ll);
    struct shm_clock_anchor b = anchor_off(2000001000, EPOCH + 7000000000ull, 1005000000000ll);
    struct shm_clock_anchor c = anchor_off(2001001000, EPOCH + 7001000000ull, 1005000000000ll);
    shm_clock_map_add(m, &a, GHZ_Q16);
    shm_clock_map_add(m, &b, 0);
    shm_clock_map_add(m, &c, 0);
    int uncertain;
    /* Between a and b: on the clock before the step, never the 3.5 s that
     * interpolation would smear it to, and flagged. */
    cr_assert_eq(shm_clock_map_ns_certain(m, 1000001000, &uncertain), EPOCH + 1000000000ull);
    cr_assert_eq(uncertain, 1);
    /* Between b and c (no step): interpolated, certain. */
    cr_assert_eq(shm_clock_map_ns_certain(m, 2000501000, &uncertain), EPOCH + 7000500000ull);
    cr_assert_eq(uncertain, 0);
    /* Offsets that agree within two reads' jitter are no step. */
    struct shm_clock_map *n = new_map();
    struct shm_clock_anchor d = anchor_off(1000, EPOCH, 1000000000000ll);
    struct shm_clock_anchor e = anchor_off(1000001000, EPOCH + 1000000000ull, 1000000000300ll);
    shm_clock_map_add(n, &d, GHZ_Q16);
    shm_clock_map_add(n, &e, 0);
    cr_assert_eq(shm_clock_map_ns_certain(n, 500001000, &uncertain), EPOCH + 500000000ull);
    cr_assert_eq(uncertain, 0);
    free(m);
    free(n);
}

Test(clock_map, a_tsc_that_restarts_starts_the_map_afresh)
{
    struct shm_clock_map *m = new_map();
    struct shm_clock_anchor a = anchor(50000000000ull, EPOCH, 0);
    struct shm_clock_anchor b = anchor(50001000000ull, EPOCH + 1000000, 0);
    shm_clock_map_add(m, &a, GHZ_Q16);
    shm_clock_map_add(m, &b, 0);
    /* Resumed from suspend with the TSC counting from 0 again. */
    struct shm_clock_anchor c = anchor(1000, EPOCH + 3600000000000ull, SHM_ANCHOR_STEPPED);
    shm_clock_map_add(m, &c, 0);
    cr_assert_eq(m->epochs, 1);
    cr_assert_eq(m->n, 1);
    cr_assert_eq(shm_clock_map_ns(m, 2000), EPOCH + 3600000001000ull);
    free(m);
}

Test(clock_map, an_anchor_it_holds_or_one_slightly_out_of_order_is_ignored)
{
    struct shm_clock_map *m = new_map();
    struct shm_clock_anchor a = anchor(10000000, EPOCH, 0), b = anchor(20000000, EPOCH + 10000000, 0);
    shm_clock_map_add(m, &a, GHZ_Q16);
    shm_clock_map_add(m, &b, 0);
    shm_clock_map_add(m, &b, 0);
    struct shm_clock_anchor late = anchor(15000000, EPOCH + 999999999, 0);
    shm_clock_map_add(m, &late, 0);
    cr_assert_eq(m->n, 2);
    cr_assert_eq(m->anchors, 2);
    cr_assert_eq(m->epochs, 0);
    cr_assert_eq(shm_clock_map_ns(m, 15000000), EPOCH + 5000000);
    free(m);
}

Test(clock_map, memory_is_fixed_and_the_newest_anchors_are_kept)
{
    struct shm_clock_map *m = new_map();
    for (uint64_t i = 0; i < 10000; i++) {
        /* every anchor 1 ms apart, each interval 1 ns longer than the last */
        struct shm_clock_anchor a = anchor(i * 1000000, EPOCH + i * 1000000 + i * (i + 1) / 2, 0);
        shm_clock_map_add(m, &a, GHZ_Q16);
    }
    cr_assert_eq(m->n, SHM_CLOCK_MAP_ANCHORS);
    cr_assert_eq(m->anchors, 10000);
    uint64_t i = 9990;
    cr_assert_eq(shm_clock_map_ns(m, i * 1000000), EPOCH + i * 1000000 + i * (i + 1) / 2);
    cr_assert_eq(shm_clock_map_ns(m, i * 1000000 + 500000), EPOCH + i * 1000000 + i * (i + 1) / 2 + 500000 +
                                                                   (i + 1) / 2);
    free(m);
}

Test(clock_map, hostile_anchors_give_clamped_times_not_undefined_behaviour)
{
    struct shm_clock_map *m = new_map();
    struct shm_clock_anchor a = anchor(1, UINT64_MAX, 0), b = anchor(UINT64_MAX, 0, 0);
    shm_clock_map_add(m, &a, 1); /* a rate of 1/65536 Hz */
    shm_clock_map_add(m, &b, 0);
    /* A tick of 65536 s before the first anchor. */
    cr_assert_eq(shm_clock_map_ns(m, 0), UINT64_MAX - 65536000000000ull);
    cr_assert_eq(shm_clock_map_ns(m, 1), UINT64_MAX);
    cr_assert_eq(shm_clock_map_ns(m, UINT64_MAX), 0);
    (void)shm_clock_map_ns(m, UINT64_MAX / 2); /* backwards in time between them: any value, no trap */
    struct shm_clock_map *z = new_map();
    struct shm_clock_anchor c = anchor(UINT64_MAX, UINT64_MAX, 0);
    shm_clock_map_add(z, &c, UINT64_MAX);
    /* 2^64 - 1 ticks back at 2^48 Hz: 65536 s. */
    cr_assert_eq(shm_clock_map_ns(z, 0), UINT64_MAX - 65536000000000ull);
    free(z);
    free(m);
}

/* xorshift64*: the same pseudo-random anchors and TSCs on every run. */
static uint64_t next_random(uint64_t *x)
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 2685821657736338717ull;
}

Test(clock_map, a_piece_maps_every_tsc_as_the_map_does)
{
    /* Maps of anchors a frame apart (the collector's), a second apart, far
     * apart, stepped, backwards in time and at the ends of the range; TSCs
     * around and between them, in runs (as a reader's records come) and
     * jumping; anchors added between the TSCs. */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    static const uint64_t gaps[] = {1, 1000, 105000000, 2100000000, 1ull << 33, 1ull << 62};
    unsigned mapped = 0;
    for (unsigned round = 0; round < 400; round++) {
        struct shm_clock_map *m = new_map();
        struct shm_clock_piece piece = {0};
        uint64_t tsc = next_random(&x) >> (round % 3 == 0 ? 1 : 8), ns = next_random(&x) >> (round % 5 == 0 ? 0 : 4);
        for (unsigned i = 0; i < 80; i++) {
            uint64_t gap = gaps[next_random(&x) % 6], r = next_random(&x);
            struct shm_clock_anchor a = anchor(tsc, ns, r % 7 == 0 ? SHM_ANCHOR_STEPPED : 0);
            shm_clock_map_add(m, &a, r % 11 == 0 ? 0 : (r >> 8) % (4ull << 40) + 1);
            uint64_t from = tsc < gap ? 0 : tsc - gap;
            for (unsigned k = 0; k < 40; k++) {
                uint64_t t = k % 4 == 3 ? next_random(&x) : from + next_random(&x) % (2 * gap + 1) + (k % 2) * k;
                uint64_t want = shm_clock_map_ns(m, t), got = shm_clock_piece_ns(m, &piece, t);
                cr_assert_eq(got, want, "round %u anchor %u tsc %llu: piece %llu, map %llu", round, i,
                             (unsigned long long)t, (unsigned long long)got, (unsigned long long)want);
                mapped++;
            }
            tsc += gap;
            ns += r % 13 == 0 ? -(gap / 3) : gap + (r % 1000);
        }
        free(m);
    }
    cr_assert_eq(mapped, 400u * 80 * 40);
}

Test(clock_map, a_live_process_s_start_anchor_is_used_unless_a_step_came_since)
{
    struct shm_clock_map *m = new_map();
    struct shm_clock_anchor now = anchor(10000001000ull, EPOCH + 10000000000ull, 0);
    /* 10 s since the process's anchor, at the rate within 0.1 ppm: kept. */
    shm_clock_map_live(m, 1000, EPOCH, &now, GHZ_Q16);
    cr_assert_eq(m->n, 2);
    cr_assert_eq(shm_clock_map_ns(m, 5000000500ull), EPOCH + 4999999500ull);
    /* 10 s of TSC but 12 s of wall clock: stepped; from now at the rate. */
    shm_clock_map_live(m, 1000, EPOCH - 2000000000ull, &now, GHZ_Q16);
    cr_assert_eq(m->n, 1);
    cr_assert_eq(shm_clock_map_ns(m, 10000000000ull), EPOCH + 9999999000ull);
    free(m);
}

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t tsc_now(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

Test(clock_taker, anchors_map_the_kernel_s_clock_within_their_error)
{
    struct shm_clock_taker t = {0};
    struct shm_clock_anchor a, b;
    shm_clock_take(&t, &a);
    cr_assert(t.hz_q16 > (100000000ull << 16), "a TSC rate above 100 MHz: %llu", (unsigned long long)(t.hz_q16 >> 16));
    cr_assert(a.err_ns >= 1 && a.err_ns < 1000000, "anchor error %u ns", a.err_ns);
    cr_assert_eq(a.flags & SHM_ANCHOR_STEPPED, 0);
    struct timespec nap = {0, 300000000};
    nanosleep(&nap, NULL);
    shm_clock_take(&t, &b);
    cr_assert(b.tsc > a.tsc && b.ns > a.ns);
    cr_assert_eq(b.flags & SHM_ANCHOR_STEPPED, 0, "no step while the clock was not set");
    /* 300 ms at the first rate, measured over 20 ms: a few ppm at most. */
    int64_t predicted = (int64_t)shm_clock_taker_ns(&(struct shm_clock_taker){.have_last = 1, .last = a,
                                                                                      .hz_q16 = t.hz_q16},
                                                       b.tsc);
    int64_t off = predicted - (int64_t)b.ns;
    cr_assert(off > -20000 && off < 20000, "the first rate predicts 300 ms off by %lld ns", (long long)off);

    /* A fresh bracket maps to the time read inside it. */
    struct shm_clock_map *m = new_map();
    shm_clock_map_add(m, &a, t.hz_q16);
    shm_clock_map_add(m, &b, t.hz_q16);
    uint64_t best = UINT64_MAX, mid = 0, ns = 0;
    for (int i = 0; i < 64; i++) {
        uint64_t t0 = tsc_now(), w = realtime_ns(), t1 = tsc_now();
        if (t1 - t0 < best) {
            best = t1 - t0;
            mid = t0 + best / 2;
            ns = w;
        }
    }
    int64_t err = (int64_t)shm_clock_map_ns(m, mid) - (int64_t)ns;
    cr_assert(err > -2000 && err < 2000, "a reading just after the anchors maps %lld ns off", (long long)err);
    free(m);

    struct shm_clock_state st;
    shm_clock_state_read(&st);
    cr_assert(st.tsc_invariant >= -1 && st.tsc_invariant <= 1);
    cr_assert(st.synchronized >= -1 && st.synchronized <= 1);
    cr_assert(st.clocksource[0], "the kernel names its clocksource");
}

/* ==== The CLOCK section through a file ==== */

static char dir[] = "/tmp/shmlog-test-clock-XXXXXX";

static void setup(void)
{
    cr_assert(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    (void)system(cmd);
}

TestSuite(clock_file, .init = setup, .fini = teardown);

Test(clock_file, a_frame_s_anchors_come_before_its_records_wherever_the_section_is)
{
    char path[512];
    snprintf(path, sizeof path, "%s/a.shlog", dir);
    struct tu_file f;
    tu_file_open(&f, path, 1);
    struct shm_proc_info p;
    tu_proc_info(&p, 42, 7);
    cr_assert_eq(shlog_enc_process(f.enc, 1, &p), 0);
    struct shm_site s;
    tu_site(&s, 0, "x=%d", SHMLOG_ARG_I32, 0);
    cr_assert_eq(shlog_enc_site(f.enc, 1, &s), 0);
    cr_assert_eq(shlog_enc_batch_begin(f.enc, 1, 0), 0);
    struct shm_copied_record r;
    memset(&r, 0, sizeof r);
    r.tsc = 5000;
    uint64_t v[1] = {9};
    tu_slots(&r, tu_payload(&r, &s, v, NULL));
    cr_assert_eq(shlog_enc_record(f.enc, &r), 0);
    cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
    struct shm_clock_anchor an[2] = {anchor(4000, EPOCH, 0), anchor(6000, EPOCH + 2000, SHM_ANCHOR_STEPPED)};
    an[0].err_ns = 7;
    struct shlog_clock_info ci = {.hz_q16 = GHZ_Q16, .tsc_invariant = SHLOG_YES, .synchronized = SHLOG_NO,
                                  .esterror_ns = 16000000000ull, .clocksource = "kvm-clock"};
    cr_assert_eq(shlog_enc_clock(f.enc, &ci, an, 2), 0);
    cr_assert_eq(shlog_enc_clock(f.enc, &ci, an, 0), -EINVAL);
    tu_file_flush(&f);
    tu_file_close(&f);

    struct shlog_reader *rd;
    char err[256];
    cr_assert_eq(shlog_reader_open(&rd, path, 0, NULL, err, sizeof err), 0, "%s", err);
    struct shlog_event ev;
    int kinds[8], n = 0;
    struct shm_clock_anchor got[2];
    int ng = 0;
    while (shlog_reader_next(rd, &ev) == 1 && n < 8) {
        kinds[n++] = ev.kind;
        if (ev.kind == SHLOG_EV_CLOCK) {
            cr_assert_lt(ng, 2);
            got[ng++] = ev.anchor;
            cr_assert_eq(ev.clock.hz_q16, GHZ_Q16);
            cr_assert_eq(ev.clock.tsc_invariant, SHLOG_YES);
            cr_assert_eq(ev.clock.synchronized, SHLOG_NO);
            cr_assert_eq(ev.clock.esterror_ns, 16000000000ull);
            cr_assert_str_eq(ev.clock.clocksource, "kvm-clock");
        }
    }
    cr_assert_eq(n, 5, "2 anchors, process, site, record: %d events", n);
    cr_assert_eq(kinds[0], SHLOG_EV_CLOCK);
    cr_assert_eq(kinds[1], SHLOG_EV_CLOCK);
    cr_assert_eq(kinds[2], SHLOG_EV_PROCESS);
    cr_assert_eq(kinds[4], SHLOG_EV_RECORD);
    cr_assert_eq(got[0].tsc, 4000);
    cr_assert_eq(got[0].ns, EPOCH);
    cr_assert_eq(got[0].err_ns, 7);
    cr_assert_eq(got[1].flags, SHM_ANCHOR_STEPPED);
    cr_assert_eq(shlog_reader_stats(rd)->anchors, 2);
    cr_assert_eq(shlog_reader_stats(rd)->bad_frames, 0);
    shlog_reader_close(rd);
}

/* A file of one frame whose content is the sections given. */
static void write_raw_frame(const char *path, const uint8_t *content, size_t n)
{
    struct tu_file f;
    tu_file_open(&f, path, 1);
    tu_append_raw_frame(f.fd, &f.off, content, n, (uint32_t)n);
    tu_file_close(&f);
}

Test(clock_file, a_damaged_clock_section_is_reported_and_its_frame_skipped)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bad.shlog", dir);
    /* type 6, 5 bytes: rate 1, state 0, esterror 0, clocksource "", zero anchors */
    static const uint8_t zero_anchors[] = {6, 5, 1, 0, 0, 0, 0};
    write_raw_frame(path, zero_anchors, sizeof zero_anchors);
    struct shlog_reader *rd;
    char err[256];
    cr_assert_eq(shlog_reader_open(&rd, path, 0, NULL, err, sizeof err), 0, "%s", err);
    struct shlog_event ev;
    int errors = 0, clocks = 0;
    while (shlog_reader_next(rd, &ev) == 1) {
        errors += ev.kind == SHLOG_EV_ERROR;
        clocks += ev.kind == SHLOG_EV_CLOCK;
        if (ev.kind == SHLOG_EV_ERROR)
            cr_assert(strstr(ev.error, "CLOCK"), "%s", ev.error);
    }
    cr_assert_eq(errors, 1);
    cr_assert_eq(clocks, 0);
    shlog_reader_close(rd);

    /* An anchor cut short: the count says 2, one follows. */
    static const uint8_t cut[] = {6, 9, 1, 0, 0, 0, 2, 1, 1, 1, 0};
    write_raw_frame(path, cut, sizeof cut);
    cr_assert_eq(shlog_reader_open(&rd, path, 0, NULL, err, sizeof err), 0, "%s", err);
    errors = clocks = 0;
    while (shlog_reader_next(rd, &ev) == 1) {
        errors += ev.kind == SHLOG_EV_ERROR;
        clocks += ev.kind == SHLOG_EV_CLOCK;
    }
    cr_assert_eq(errors, 1);
    cr_assert_eq(clocks, 1, "the whole anchor before the damage is returned");
    shlog_reader_close(rd);
}
