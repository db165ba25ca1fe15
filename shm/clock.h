/*
 * clock.h - the host's TSC against its wall clock: anchors, the map readers
 * turn record TSCs into wall time with, and the state of the clocks.
 *
 * A record holds only the TSC at the call. The TSC is invariant and shared
 * by every core and process of a host, so one mapping serves all of them,
 * and it is measured outside the producers, which pay nothing for it: the
 * collector takes an anchor (a TSC reading and CLOCK_REALTIME at the same
 * moment) when it opens and when it seals each frame, writes them into the
 * frame (CLOCK section, format/FORMAT.md), and readers map each record's
 * TSC between the anchors taken around it. shmlog-dump's live commands take
 * their own anchors the same way.
 *
 * What a mapped time rests on (README, "Guarantees"; shmlog(3)):
 *   - an anchor's own error: half the width of the tightest of several
 *     rdtsc / clock_gettime / rdtsc brackets, kept with the anchor;
 *   - between two anchors, that CLOCK_REALTIME ran at a steady rate
 *     (NTP's slew changes it by parts per million over minutes: nanoseconds
 *     over a frame);
 *   - a step of CLOCK_REALTIME (settimeofday, an NTP step, a resume from
 *     suspend) is seen as a change of its offset from CLOCK_MONOTONIC, which
 *     only a step changes; records between the anchors around it take the
 *     time of the clock before it.
 */
#ifndef SHM_CLOCK_H
#define SHM_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC and CLOCK_REALTIME in ns: the programs' timers and stamps. */
static inline uint64_t shm_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t shm_real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#ifdef __cplusplus
extern "C" {
#endif

/* shm_clock_anchor.flags */
#define SHM_ANCHOR_STEPPED 0x1u /* CLOCK_REALTIME was set since the previous anchor of its taker */
#define SHM_ANCHOR_OFFSET 0x2u  /* offset_ns is known (files from before it do not say) */

/* A TSC reading and the CLOCK_REALTIME nanoseconds of the same moment. */
struct shm_clock_anchor {
    uint64_t tsc;
    uint64_t ns;       /* since the Unix epoch */
    uint32_t err_ns;   /* the wall time of tsc lies within ns +- err_ns */
    uint32_t flags;    /* SHM_ANCHOR_* */
    int64_t offset_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC then: only a step of the wall clock changes
                          it, so two anchors of any takers (a collector and the next) say whether one
                          came between them */
};

/* What an anchor taker keeps between anchors: the step detector and the
 * rate estimate (TSC ticks per second of CLOCK_REALTIME). */
struct shm_clock_taker {
    int64_t offset_ns;          /* CLOCK_REALTIME - CLOCK_MONOTONIC at the last anchor */
    int have_last;
    struct shm_clock_anchor last;
    struct shm_clock_anchor base; /* where the rate is measured from: no step since */
    uint64_t base_mono_ns;
    uint64_t hz_q16;            /* rate estimate, ticks per second << 16; 0 until known */
    uint64_t steps;             /* steps seen */
    uint64_t anchors;           /* anchors taken */
};

/* Takes an anchor: the tightest of several bracketed reads. The first call
 * of a taker waits 20 ms for a first rate (that many ms of error bar). A
 * step since the taker's last anchor sets SHM_ANCHOR_STEPPED. */
void shm_clock_take(struct shm_clock_taker *t, struct shm_clock_anchor *out);

/* Wall-clock ns of tsc from the taker's last anchor at its rate: for a
 * reading near that anchor (a ring's oldest record, a live view). */
uint64_t shm_clock_taker_ns(const struct shm_clock_taker *t, uint64_t tsc);

/* Converts TSC readings to wall time with the anchors it was given, in the
 * order they were taken, keeping the most recent SHM_CLOCK_MAP_ANCHORS.
 * A TSC between two anchors is interpolated linearly between them; one
 * before the first kept or after the last is extrapolated from the nearest
 * at the rate; one between the anchors around a step, from the anchor before
 * it. Memory is fixed: a map is a plain struct, zeroed to start. */
#define SHM_CLOCK_MAP_ANCHORS 256u
struct shm_clock_map {
    struct shm_clock_anchor a[SHM_CLOCK_MAP_ANCHORS]; /* a ring, in TSC order */
    unsigned first, n;
    uint64_t hz_q16;    /* the rate for extrapolation; 0: none yet */
    uint64_t anchors;   /* taken over the map's life (stats) */
    uint64_t steps;     /* anchors that followed a step */
    uint64_t epochs;    /* times the TSC went back (a reset in suspend): the map restarted */
    uint32_t max_err_ns; /* worst anchor error seen */
};

/* Adds an anchor and, when not 0, the rate the taker estimates. An anchor
 * already held (the same TSC) is ignored; one whose TSC is below the last
 * held one by more than a second's worth starts the map afresh (a TSC reset). */
void shm_clock_map_add(struct shm_clock_map *m, const struct shm_clock_anchor *a, uint64_t hz_q16);
/* 1 when the wall clock was set between anchors a and b (b the later): b
 * says so (SHM_ANCHOR_STEPPED), or their offsets from CLOCK_MONOTONIC differ
 * by more than two reads' jitter. */
int shm_clock_anchors_stepped(const struct shm_clock_anchor *a, const struct shm_clock_anchor *b);
/* 1 when the map can map: an anchor and a rate. */
int shm_clock_map_ready(const struct shm_clock_map *m);
/* Wall-clock ns since the epoch of tsc, clamped to 0..UINT64_MAX. */
uint64_t shm_clock_map_ns(const struct shm_clock_map *m, uint64_t tsc);
/* The same, and *uncertain = 1 when tsc lies between two anchors around a
 * step of the wall clock: it may have been read before the step or after,
 * and is mapped on the clock before it (so its time may be off by the
 * step). Two anchors are around a step when the later one says so
 * (SHM_ANCHOR_STEPPED: its taker saw it) or their offsets differ by more
 * than two reads' jitter (a step no taker saw: a stopped or restarted
 * collector). Never interpolated across. */
uint64_t shm_clock_map_ns_certain(const struct shm_clock_map *m, uint64_t tsc, int *uncertain);

/* The stretch of a map between two anchors that the last TSC fell in, for a
 * caller that maps many TSCs in a row: what shm_clock_map_ns() computes per
 * TSC (a search, a division), done once per stretch. The caller's; zeroed
 * before use. */
struct shm_clock_piece {
    uint64_t anchors;     /* the map's count when made: an anchor since, another piece */
    uint64_t lo, hi;      /* TSCs lo..hi - 1 map here; hi 0: none */
    uint64_t lo_ns;       /* the left anchor's time */
    uint64_t whole, rem;  /* the stretch's ns / ticks, as whole + rem / span */
    uint64_t span, inv;   /* its ticks, and 2^64 / span (from below) */
};
/* shm_clock_map_ns(m, tsc), through p. */
uint64_t shm_clock_piece_ns(const struct shm_clock_map *m, struct shm_clock_piece *p, uint64_t tsc);
/* shm_clock_piece_ns_certain() of a TSC outside p, or after an anchor came: p made anew. */
uint64_t shm_clock_piece_make_ns(const struct shm_clock_map *m, struct shm_clock_piece *p, uint64_t tsc,
                                 int *uncertain);

/* The ns of a TSC within piece p. Interpolation between anchors a frame apart,
 * without a division per TSC: span_ns * dt / span = whole * dt + rem * dt /
 * span, whose last quotient a multiplication by the span's reciprocal gives
 * within 2, corrected exactly. The same ns as shm_clock_map_ns() for every TSC. */
static inline uint64_t shm_clock_piece_at(const struct shm_clock_piece *p, uint64_t tsc)
{
    uint64_t dt = tsc - p->lo, x = p->rem * dt;
    uint64_t q = (uint64_t)(((unsigned __int128)x * p->inv) >> 64);
    while (x - q * p->span >= p->span)
        q++;
    unsigned __int128 ns = (unsigned __int128)p->lo_ns + (unsigned __int128)p->whole * dt + q;
    return ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}

/* shm_clock_map_ns_certain(m, tsc, uncertain), through p. Inline: every
 * record of a file takes it, and most land in the piece of the one before. */
static inline uint64_t shm_clock_piece_ns_certain(const struct shm_clock_map *m, struct shm_clock_piece *p,
                                                  uint64_t tsc, int *uncertain)
{
    *uncertain = 0;
    if (p->anchors != m->anchors || tsc < p->lo || tsc >= p->hi)
        return shm_clock_piece_make_ns(m, p, tsc, uncertain);
    return shm_clock_piece_at(p, tsc);
}

/* A map for the records of one process's live segments, made by a reader
 * that took anchor now at rate hz_q16 (its taker's): the process's own
 * anchor from its start (proc_tsc, proc_ns), and now. The process's anchor
 * is left out when the clock ran from it to now at a rate no clock slews at
 * (a step between): its records then map from now at the rate. */
void shm_clock_map_live(struct shm_clock_map *m, uint64_t proc_tsc, uint64_t proc_ns,
                           const struct shm_clock_anchor *now, uint64_t hz_q16);

/* The host's clocks as the kernel reports them. */
struct shm_clock_state {
    int tsc_invariant;       /* 1: the cpus say constant_tsc and nonstop_tsc; 0: not; -1: unknown */
    int synchronized;        /* 1: the kernel's clock is synchronised (adjtimex); 0: not; -1: unknown */
    uint64_t esterror_ns;    /* the kernel's estimated error of CLOCK_REALTIME */
    uint64_t maxerror_ns;    /* and its maximum error */
    char clocksource[32];    /* the kernel's current clocksource, "" if unknown */
};
void shm_clock_state_read(struct shm_clock_state *out);
/* One line for a host whose clocks cannot give shmlog's accuracy, with what
 * to do; NULL when nothing is wrong. */
const char *shm_clock_state_warning(const struct shm_clock_state *s);

/* ==== A process's own calibration ==== */

/* TSC to ns since the Unix epoch with a process's calibration: floor of
 * anchor_ns + (tsc - anchor_tsc) * 1e9 / tsc_hz in integer math (a double
 * holds epoch nanoseconds only to 256 ns), records before the anchor too,
 * clamped to 0..UINT64_MAX. The division by the TSC rate is a precomputed
 * 64.64 multiplier and one exactness check: a few multiplications a record. */
struct shm_tsc_clock {
    uint64_t hz;
    uint64_t anchor_tsc;
    uint64_t anchor_ns;
    uint64_t mult_hi, mult_lo; /* floor(1e9 * 2^64 / hz) */
};

struct shm_proc_info;
/* The calibration a process wrote in its meta segment (shm_meta_info read it). */
void shm_tsc_clock_init(struct shm_tsc_clock *c, const struct shm_proc_info *p);
uint64_t shm_tsc_clock_ns(const struct shm_tsc_clock *c, uint64_t tsc);

#ifdef __cplusplus
}
#endif

#endif /* SHM_CLOCK_H */
