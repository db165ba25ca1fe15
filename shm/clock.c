/*
 * clock.c - anchors, the TSC-to-wall-time map, and the clocks' state
 * (clock.h says what a mapped time rests on).
 */
#include "clock.h"
#include "reader.h"

#include <stdio.h>
#include <string.h>
#include <sys/timex.h>
#include <time.h>

/* Brackets per anchor: the tightest of 16 is at the floor of a vDSO
 * clock_gettime (bench/clock.sh prints the anchors' errors). */
#define ANCHOR_TRIES 16
/* CLOCK_REALTIME - CLOCK_MONOTONIC moves only when the clock is set; a
 * change smaller than this is two reads' jitter, not a step. */
#define STEP_MIN_NS 1000
#define FIRST_RATE_NS 20000000L    /* the first rate: 20 ms between two anchors */
#define RATE_MIN_SPAN_NS 1000000000ull  /* a rate measured over less is not taken */
#define RATE_MAX_SPAN_NS 60000000000ull /* a rate follows the clock's slew over this */

static inline uint64_t read_tsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
#endif
}

static inline uint64_t ts_ns(const struct timespec *ts)
{
    return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

/* The tightest bracket: tsc at its middle, the wall time read inside, and
 * its width in ticks. */
static uint64_t bracket(uint64_t *tsc, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < ANCHOR_TRIES; i++) {
        struct timespec ts;
        uint64_t before = read_tsc();
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t after = read_tsc();
        if (after - before < best) {
            best = after - before;
            *tsc = before + best / 2;
            *ns = ts_ns(&ts);
        }
    }
    return best;
}

/* CLOCK_REALTIME - CLOCK_MONOTONIC from the tightest of a few read pairs. */
static int64_t realtime_offset(void)
{
    uint64_t best = UINT64_MAX;
    int64_t off = 0;
    for (int i = 0; i < 4; i++) {
        struct timespec r, m;
        uint64_t before = read_tsc();
        clock_gettime(CLOCK_REALTIME, &r);
        clock_gettime(CLOCK_MONOTONIC, &m);
        uint64_t after = read_tsc();
        if (after - before < best) {
            best = after - before;
            off = (int64_t)(ts_ns(&r) - ts_ns(&m));
        }
    }
    return off;
}

/* ticks * 2^16 * 1e9 / ns, the rate in hz_q16; 0 if ns is 0. */
static uint64_t rate_q16(uint64_t ticks, uint64_t ns)
{
    if (!ns)
        return 0;
    unsigned __int128 q = ((unsigned __int128)ticks << 16) * 1000000000u / ns;
    return q > UINT64_MAX ? UINT64_MAX : (uint64_t)q;
}

/* Signed TSC ticks to ns at a rate in hz_q16, rounded toward zero. */
static __int128 ticks_to_ns(__int128 ticks, uint64_t hz_q16)
{
    if (!hz_q16)
        return 0;
    unsigned __int128 mag = ticks < 0 ? (unsigned __int128)(-ticks) : (unsigned __int128)ticks;
    unsigned __int128 q = (mag << 16) * 1000000000u / hz_q16;
    return ticks < 0 ? -(__int128)q : (__int128)q;
}

static uint64_t clamp_ns(__int128 ns)
{
    return ns < 0 ? 0 : ns > (__int128)UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}

void shm_clock_take(struct shm_clock_taker *t, struct shm_clock_anchor *out)
{
    if (!t->hz_q16) {
        uint64_t t0 = 0, n0 = 0, t1 = 0, n1 = 0;
        bracket(&t0, &n0);
        struct timespec nap = {0, FIRST_RATE_NS};
        nanosleep(&nap, NULL);
        bracket(&t1, &n1);
        t->hz_q16 = n1 > n0 && t1 > t0 ? rate_q16(t1 - t0, n1 - n0) : 0;
    }
    uint64_t tsc = 0, ns = 0;
    uint64_t width = bracket(&tsc, &ns);
    int64_t offset = realtime_offset();
    struct timespec mono_ts;
    clock_gettime(CLOCK_MONOTONIC, &mono_ts);
    uint64_t mono = ts_ns(&mono_ts);

    *out = (struct shm_clock_anchor){.tsc = tsc, .ns = ns, .flags = SHM_ANCHOR_OFFSET, .offset_ns = offset};
    /* Half the bracket, and one tick for the midpoint's rounding. */
    __int128 err = ticks_to_ns((__int128)(width / 2 + 1), t->hz_q16) + 1;
    out->err_ns = err > UINT32_MAX ? UINT32_MAX : (uint32_t)err;

    int64_t moved = offset - t->offset_ns;
    int stepped = t->have_last && (moved > STEP_MIN_NS || moved < -STEP_MIN_NS || tsc <= t->last.tsc);
    if (stepped) {
        out->flags |= SHM_ANCHOR_STEPPED;
        t->steps++;
    }
    if (!t->have_last || stepped) {
        t->base = *out;
        t->base_mono_ns = mono;
    } else if (ns > t->base.ns && ns - t->base.ns >= RATE_MIN_SPAN_NS && tsc > t->base.tsc) {
        uint64_t hz = rate_q16(tsc - t->base.tsc, ns - t->base.ns);
        if (hz)
            t->hz_q16 = hz;
        if (mono - t->base_mono_ns >= RATE_MAX_SPAN_NS) {
            t->base = *out;
            t->base_mono_ns = mono;
        }
    }
    t->anchors++;
    t->offset_ns = offset;
    t->last = *out;
    t->have_last = 1;
}

uint64_t shm_clock_taker_ns(const struct shm_clock_taker *t, uint64_t tsc)
{
    if (!t->have_last)
        return 0;
    return clamp_ns((__int128)t->last.ns + ticks_to_ns((__int128)tsc - (__int128)t->last.tsc, t->hz_q16));
}

/* ==== The map ==== */


static inline const struct shm_clock_anchor *at(const struct shm_clock_map *m, unsigned i)
{
    return &m->a[(m->first + i) % SHM_CLOCK_MAP_ANCHORS];
}

void shm_clock_map_add(struct shm_clock_map *m, const struct shm_clock_anchor *a, uint64_t hz_q16)
{
    if (hz_q16)
        m->hz_q16 = hz_q16;
    if (m->n) {
        const struct shm_clock_anchor *last = at(m, m->n - 1);
        if (a->tsc == last->tsc)
            return;
        if (a->tsc < last->tsc) {
            /* A second's worth below: the TSC restarted. Less: an anchor
             * out of order, which no taker writes; it is not used. */
            uint64_t second = m->hz_q16 ? m->hz_q16 >> 16 : 1000000000ull;
            if (last->tsc - a->tsc < second)
                return;
            m->n = 0;
            m->first = 0;
            m->epochs++;
        }
    }
    m->anchors++;
    if (a->flags & SHM_ANCHOR_STEPPED || (m->n && shm_clock_anchors_stepped(at(m, m->n - 1), a)))
        m->steps++;
    if (a->err_ns > m->max_err_ns)
        m->max_err_ns = a->err_ns;
    if (m->n == SHM_CLOCK_MAP_ANCHORS) {
        m->first = (m->first + 1) % SHM_CLOCK_MAP_ANCHORS;
        m->n--;
    }
    m->a[(m->first + m->n) % SHM_CLOCK_MAP_ANCHORS] = *a;
    m->n++;
}

int shm_clock_map_ready(const struct shm_clock_map *m)
{
    return m->n > 0 && m->hz_q16 != 0;
}

static uint64_t extrapolate(const struct shm_clock_anchor *a, uint64_t hz_q16, uint64_t tsc)
{
    return clamp_ns((__int128)a->ns + ticks_to_ns((__int128)tsc - (__int128)a->tsc, hz_q16));
}

int shm_clock_anchors_stepped(const struct shm_clock_anchor *a, const struct shm_clock_anchor *b)
{
    if (b->flags & SHM_ANCHOR_STEPPED)
        return 1;
    if (!(a->flags & b->flags & SHM_ANCHOR_OFFSET))
        return 0;
    int64_t moved = b->offset_ns - a->offset_ns;
    return moved > STEP_MIN_NS || moved < -STEP_MIN_NS;
}

/* The index of the last anchor at or below tsc (m has one, at or below tsc). */
static unsigned anchor_below(const struct shm_clock_map *m, uint64_t tsc)
{
    unsigned lo = 0, hi = m->n - 1;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo + 1) / 2;
        if (at(m, mid)->tsc <= tsc)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

uint64_t shm_clock_map_ns_certain(const struct shm_clock_map *m, uint64_t tsc, int *uncertain)
{
    *uncertain = 0;
    if (!m->n)
        return 0;
    if (tsc < at(m, 0)->tsc)
        return extrapolate(at(m, 0), m->hz_q16, tsc);
    unsigned lo = anchor_below(m, tsc);
    const struct shm_clock_anchor *left = at(m, lo);
    if (lo + 1 == m->n)
        return extrapolate(left, m->hz_q16, tsc);
    const struct shm_clock_anchor *right = at(m, lo + 1);
    if (shm_clock_anchors_stepped(left, right)) {
        *uncertain = tsc != left->tsc;
        return extrapolate(left, m->hz_q16, tsc);
    }
    /* Anchors hold increasing TSCs; their times come from a file and may
     * run backwards: the arithmetic is signed. Anchors a frame apart make a
     * product that 64 bits hold: then one 64-bit division, the same quotient
     * (both operands are not negative), not a 128-bit one at twice its cost. */
    uint64_t dt = tsc - left->tsc, span_tsc = right->tsc - left->tsc, prod;
    if (right->ns >= left->ns && !__builtin_mul_overflow(right->ns - left->ns, dt, &prod))
        return clamp_ns((__int128)left->ns + prod / span_tsc);
    __int128 span_ns = (__int128)right->ns - (__int128)left->ns;
    __int128 ns = (__int128)left->ns + span_ns * (__int128)dt / (__int128)span_tsc;
    return clamp_ns(ns);
}

uint64_t shm_clock_map_ns(const struct shm_clock_map *m, uint64_t tsc)
{
    int uncertain;
    return shm_clock_map_ns_certain(m, tsc, &uncertain);
}

/* The piece is the stretch between the two anchors around tsc, when one may be kept. */
uint64_t shm_clock_piece_make_ns(const struct shm_clock_map *m, struct shm_clock_piece *p, uint64_t tsc,
                                 int *uncertain)
{
    p->hi = 0;
    p->anchors = m->anchors;
    if (!m->n || tsc < at(m, 0)->tsc)
        return shm_clock_map_ns_certain(m, tsc, uncertain);
    unsigned lo = anchor_below(m, tsc);
    const struct shm_clock_anchor *left = at(m, lo), *right = lo + 1 < m->n ? at(m, lo + 1) : NULL;
    /* Only an interpolation forward over less than 2^32 ticks (a few
     * seconds) is kept: rem * dt then stays within 64 bits. */
    if (!right || shm_clock_anchors_stepped(left, right) || right->ns < left->ns ||
        right->tsc - left->tsc >= 1ull << 32)
        return shm_clock_map_ns_certain(m, tsc, uncertain);
    p->lo = left->tsc;
    p->hi = right->tsc;
    p->lo_ns = left->ns;
    p->span = right->tsc - left->tsc;
    p->whole = (right->ns - left->ns) / p->span;
    p->rem = (right->ns - left->ns) % p->span;
    p->inv = UINT64_MAX / p->span;
    *uncertain = 0;
    return shm_clock_piece_at(p, tsc);
}

uint64_t shm_clock_piece_ns(const struct shm_clock_map *m, struct shm_clock_piece *p, uint64_t tsc)
{
    int uncertain;
    return shm_clock_piece_ns_certain(m, p, tsc, &uncertain);
}

/* A slewing clock (NTP, PTP, adjtime) runs at most 500 ppm off its rate;
 * further off, it was stepped. */
#define SLEW_MAX_PPM 1000

void shm_clock_map_live(struct shm_clock_map *m, uint64_t proc_tsc, uint64_t proc_ns,
                           const struct shm_clock_anchor *now, uint64_t hz_q16)
{
    memset(m, 0, sizeof(*m));
    if (proc_tsc < now->tsc && proc_ns < now->ns && hz_q16) {
        uint64_t slope = rate_q16(now->tsc - proc_tsc, now->ns - proc_ns);
        uint64_t diff = slope > hz_q16 ? slope - hz_q16 : hz_q16 - slope;
        if ((unsigned __int128)diff * 1000000u <= (unsigned __int128)hz_q16 * SLEW_MAX_PPM) {
            struct shm_clock_anchor start = {.tsc = proc_tsc, .ns = proc_ns};
            shm_clock_map_add(m, &start, 0);
        }
    }
    shm_clock_map_add(m, now, hz_q16);
}

/* ==== The clocks' state ==== */

static int read_line(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int ok = fgets(buf, (int)cap, f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    buf[strcspn(buf, "\n")] = 0;
    return 0;
}

static int tsc_invariant(void)
{
#if defined(__x86_64__) || defined(__i386__)
    FILE *f = fopen("/proc/cpuinfo", "re");
    if (!f)
        return -1;
    char line[8192];
    int found = -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "flags", 5) != 0)
            continue;
        found = strstr(line, " constant_tsc") && strstr(line, " nonstop_tsc");
        break;
    }
    fclose(f);
    return found;
#else
    return -1;
#endif
}

void shm_clock_state_read(struct shm_clock_state *out)
{
    memset(out, 0, sizeof(*out));
    out->tsc_invariant = tsc_invariant();
    if (read_line("/sys/devices/system/clocksource/clocksource0/current_clocksource", out->clocksource,
                  sizeof(out->clocksource)) != 0)
        out->clocksource[0] = 0;
    struct timex tx;
    memset(&tx, 0, sizeof(tx));
    int rc = adjtimex(&tx);
    if (rc < 0) {
        out->synchronized = -1;
        return;
    }
    out->synchronized = rc != TIME_ERROR && !(tx.status & STA_UNSYNC);
    out->esterror_ns = (uint64_t)(tx.esterror > 0 ? tx.esterror : 0) * 1000u;
    out->maxerror_ns = (uint64_t)(tx.maxerror > 0 ? tx.maxerror : 0) * 1000u;
}

const char *shm_clock_state_warning(const struct shm_clock_state *s)
{
    if (s->tsc_invariant == 0)
        return "this host's TSC is not invariant (its cpus lack constant_tsc or nonstop_tsc): a record's time "
               "may be off by as much as the TSC drifted between two anchors; run on a host (or a VM type) "
               "with an invariant TSC";
    if (s->synchronized == 0)
        return "the system clock is not synchronised (adjtimex says so): record times follow CLOCK_REALTIME "
               "to within a microsecond, but it may be far from UTC; run chrony or ntpd (or PTP) on this host";
    return NULL;
}

/* ==== A process's own calibration ==== */

void shm_tsc_clock_init(struct shm_tsc_clock *c, const struct shm_proc_info *p)
{
    c->hz = p->tsc_hz;
    c->anchor_tsc = p->anchor_tsc;
    c->anchor_ns = p->anchor_ns;
    c->mult_hi = c->mult_lo = 0;
    if (c->hz) {
        /* floor(1e9 * 2^64 / hz), as 64.64 fixed point */
        unsigned __int128 scaled_hi = (unsigned __int128)1000000000u / c->hz;
        unsigned __int128 rem = (unsigned __int128)1000000000u % c->hz;
        c->mult_hi = (uint64_t)scaled_hi;
        c->mult_lo = (uint64_t)((rem << 64) / c->hz);
    }
}

uint64_t shm_tsc_clock_ns(const struct shm_tsc_clock *c, uint64_t tsc)
{
    if (!c->hz)
        return c->anchor_ns;
    int64_t delta = (int64_t)(tsc - c->anchor_tsc);
    uint64_t d = delta < 0 ? (uint64_t)0 - (uint64_t)delta : (uint64_t)delta;
    /* q = floor(d * 1e9 / hz): the multiplier is at most one unit low in
     * its last bit, so q is exact or one short; one product tells which. */
    unsigned __int128 lo = (unsigned __int128)d * c->mult_lo;
    unsigned __int128 q = (unsigned __int128)d * c->mult_hi + (lo >> 64);
    /* The product is below the exact quotient by less than d / 2^64: it
     * can be one short only when its fraction is that close to 1. */
    if ((uint64_t)lo > (uint64_t)0 - d && (q + 1) * c->hz <= (unsigned __int128)d * 1000000000u)
        q++;
    __int128 ns = (__int128)c->anchor_ns + (delta < 0 ? -(__int128)q : (__int128)q);
    return ns < 0 ? 0 : ns > (__int128)UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}
