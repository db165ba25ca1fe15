/*
 * shlog_decode_state.h - private to the file format's decoder: the state a
 * reader keeps (sites, the open batch, frame memory) and the calls between
 * the decoder's files: shlog_decode_reader.c (open, frames, the event loop),
 * shlog_decode_sections.c (PROCESS, SITE, LOSS, EXIT, CLOCK),
 * shlog_decode_batch.c (BATCH: records and their arguments),
 * shlog_decode_damage.c (damage as error events) and shlog_dedup.c (which
 * ring positions were returned). The calls run one way, down this list:
 * reader -> sections -> batch -> damage, dedup.
 *
 * The decoder treats every byte as hostile: all lengths are checked against
 * what is left, every allocation is bounded by the limits below, and damage
 * is reported as an event while reading goes on at the next frame.
 */
#ifndef SHLOG_DECODE_STATE_H
#define SHLOG_DECODE_STATE_H

#include "shlog_coding.h"

#include <zstd.h>

#define INFO_CACHE_SLOTS 1024u /* sites kept in the renderer's form, direct-mapped */

/* ==== Dedup: the positions of one ring (shlog_dedup.c) ==== */

/* A span of positions seen, [lo, hi), a node of its ring's tree (a treap
 * by lo, kept in the ring's array: indices, so the array may grow). */
#define DEDUP_NONE UINT32_MAX
struct span {
    uint64_t lo, hi;
    uint32_t left, right, prio;
};

struct dedup_ring {
    struct span *nodes;     /* the tree's nodes, and freed ones chained by left */
    uint32_t root, last;    /* the tree, and its node of the highest lo (the common case's) */
    uint32_t n, cap, free;  /* spans, nodes allocated, the first freed one */
    uint64_t dropped_total; /* highest DROPPED counter seen */
    struct shlog_dedup *d;  /* its state, which bounds the spans of every ring */
};

/* The state of one ring; NULL when out of memory or past the bound (then no
 * duplicates are removed for it). */
struct dedup_ring *shlog__dedup_ring(struct shlog_dedup *d, const struct shm_proc_info *p, uint32_t cpu);
int shlog__dedup_claim_slow(struct dedup_ring *r, uint64_t lo, uint64_t hi);

/* Records [lo, hi) as seen. Returns 1 if lo was new, 0 if it was seen before
 * (and then records nothing). */
static inline int dedup_claim(struct dedup_ring *r, uint64_t lo, uint64_t hi)
{
    if (!r)
        return 1;
    if (hi <= lo)
        hi = lo + 1;
    /* The common case, inline: the next positions of the ring, in order. */
    if (r->n && lo == r->nodes[r->last].hi) {
        r->nodes[r->last].hi = hi;
        return 1;
    }
    return shlog__dedup_claim_slow(r, lo, hi);
}

/* Positions [lo, hi) a batch passed over on purpose, taken as seen where they
 * were not: so the spans of a ring whose records skip positions (PADs, a
 * backtrace's kept records) stay one, not one per gap. */
static inline void dedup_cover(struct dedup_ring *r, uint64_t lo, uint64_t hi)
{
    if (!r || hi <= lo)
        return;
    if (r->n && lo <= r->nodes[r->last].hi && lo >= r->nodes[r->last].lo) {
        if (hi > r->nodes[r->last].hi)
            r->nodes[r->last].hi = hi;
        return;
    }
    shlog__dedup_claim_slow(r, lo, hi);
}

/* ==== The reader ==== */

/* One allocation: the site, then fmt NUL file NUL. */
struct dec_site {
    struct shlog_site pub;
    struct arg_plan plan;
    struct num_ctx *ctx; /* nargs of them, after the struct: arguments before the key argument */
    uint32_t ctx_gen;                    /* the batch ctx is of */
    struct num_ctx *keyed;               /* its table block (shlog__site_tables_init), or NULL */
    struct str_table *str;
    /* The batch in which a record of the site could not be decoded: its
     * contexts are unknown there from then on, so its later records too. */
    uint32_t broken_gen;
};

struct batch_state {
    int open;
    const struct shlog_proc *proc;
    uint32_t cpu, count, done;
    struct cur col[NCOLS];
    uint64_t expected, prev_tsc;
    uint32_t prev_tid;
    struct dedup_ring *dd;
    struct dec_site *cached;
    int backtrace;      /* a BACKTRACE section's records ... */
    uint64_t order_tsc; /* ... shown at this TSC */
    int loss_due;       /* the loss of records that could not be decoded, returned after its error */
    struct shm_loss loss;
    int lost_sync;      /* where a record's arguments end was lost: the rest of the batch is lost */
};

/* What a frame is decoded in. Every reader has its own; readers that take
 * turns may share one. */
struct shlog_frame_mem {
    ZSTD_DCtx *dctx;
    struct buf zbuf, raw;
    struct shlog_reader *user; /* shared: the reader whose frame it holds, or NULL */
};

struct shlog_reader {
    int fd, own_fd, follow; /* fd -1: a reader of pushed bytes (shlog_reader_push) */
    struct buf chunk;       /* ... the bytes pushed last, at file offset chunk_off */
    uint64_t chunk_off;
    uint64_t end_at;        /* shlog_reader_end_at: bytes of the file past it are not read */
    char name[256];
    struct shlog_file_header hdr;
    uint64_t off;       /* next frame starts here */
    uint64_t frame_off; /* the frame being returned */
    struct shlog_frame_mem own;
    struct shlog_frame_mem *shared; /* shlog_reader_share_frame_mem, or NULL */
    struct shlog_frame_mem *fm;     /* what the last frame was decoded in: own or shared */
    struct cur sec; /* sections left in the frame */
    struct cur clock_scan;  /* sections not yet looked at for anchors */
    struct shm_clock_anchor clock_anchors[SHLOG_CLOCK_MAX_ANCHORS]; /* of the CLOCK section being returned */
    uint64_t clock_left, clock_next;
    int clock_damaged;      /* an anchor after the ones left was bad: reported after them */
    struct shlog_clock_info clock;
    struct batch_state b;
    struct shm_copied_record rec;
    /* a record decoded into values, before RECORD gives it as a ring lays it out */
    _Alignas(8) uint8_t row[SHLOG_BLOCK_ROW_MAX];
    struct map procs; /* (key, 0) -> index into proc_v */
    struct shlog_proc **proc_v;
    size_t nprocs, procs_cap;
    struct map sites; /* (proc, id) -> index into site_v */
    struct dec_site **site_v;
    size_t nsites, sites_cap, site_bytes, table_units;
    struct dec_site **retired; /* sites redefined: callers may still hold them */
    size_t nretired, retired_cap;
    uint32_t batch_gen;
    struct shm_site *info_cache[INFO_CACHE_SLOTS];
    size_t ninfo; /* of info_cache's slots, those allocated */
    const struct dec_site *info_of[INFO_CACHE_SLOTS]; /* which site each slot holds */
    int torn_reported;
    int frame_open;     /* a frame was loaded and its SHLOG_EV_FRAME_END is still due */
    int frame_ends;     /* shlog_reader_report_frame_ends */
    int skip_records;   /* shlog_reader_skip_records */
    int (*frame_want)(void *clientd, uint64_t offset, uint64_t bytes, uint32_t prefix_check); /* shlog_reader_want_frames */
    void *frame_want_ctx;
    int frame_light;    /* the frame loaded is one frame_want declined: its batches give TIMES events */
    uint32_t offered_raw; /* what the frame offered to frame_want expands to, by its prefix */
    struct cur taken;   /* shlog_reader_frame_sections: a taken frame's sections */
    uint64_t (*frame_take)(void *clientd, uint64_t offset); /* shlog_reader_take_frames */
    void *frame_take_ctx;
    uint64_t *tscs;     /* a TIMES event's, SHLOG_MAX_BATCH_RECORDS of them (made with the first,
                           freed by shlog_reader_trim) */
    int blocks;         /* shlog_reader_blocks */
    struct shlog_block *block; /* where blocks are decoded: made with a batch, freed by shlog_reader_trim */
    int event_due;      /* an event found after a block's last record, returned after the block */
    struct shlog_event due;
    struct shlog_dedup *dedup;
    int own_dedup;
    struct shlog_reader_stats st;
};

/* An event of kind from the frame being returned, its fields cleared. */
SHLOG_CODING_STATIC void ev_begin(struct shlog_reader *r, struct shlog_event *ev, int kind)
{
    ev->kind = kind;
    ev->offset = r->frame_off;
    ev->proc = NULL;
    ev->cpu = 0;
    ev->site = NULL;
    ev->site_info = NULL;
    ev->rec = NULL;
    ev->block = NULL;
    ev->torn = 0;
    ev->backtrace = 0;
    ev->error[0] = '\0';
}

/* The process the file defines under key, or NULL. */
SHLOG_CODING_STATIC struct shlog_proc *need_proc(struct shlog_reader *r, uint64_t key)
{
    uint32_t *idx = key <= UINT32_MAX ? map_find(&r->procs, key, 0) : NULL;
    return idx ? r->proc_v[*idx] : NULL;
}

/* The site (proc, id) as last defined in the file, or NULL. */
SHLOG_CODING_STATIC struct dec_site *reader_find_site(const struct shlog_reader *r, uint32_t proc, uint32_t id)
{
    uint32_t *idx = map_find(&r->sites, proc, id);
    return idx ? r->site_v[*idx] : NULL;
}

/* An ERROR event of the frame at offset, its text "<file>: offset <n>: " and
 * the rest as fmt says (shlog_decode_damage.c). Returns 1. */
__attribute__((format(printf, 4, 5)))
int shlog__ev_error(struct shlog_reader *r, struct shlog_event *ev, uint64_t offset, const char *fmt, ...);
/* Damage inside a frame: report it and drop the rest of the frame
 * (shlog_decode_damage.c). Returns 1: *ev is the error. */
__attribute__((format(printf, 3, 4)))
int shlog__frame_damaged(struct shlog_reader *r, struct shlog_event *ev, const char *fmt, ...);

/* A record that cannot be decoded: reported as an error that does not end
 * the frame (shlog_decode_damage.c). Returns 1: *ev is the error. */
__attribute__((format(printf, 3, 4)))
int shlog__record_damaged(struct shlog_reader *r, struct shlog_event *ev, const char *fmt, ...);

/* The next section of the frame, but CLOCK (shlog_decode_sections.c): 1 with
 * an event, 0 when it gave none. */
int shlog__section_next(struct shlog_reader *r, struct shlog_event *ev);
/* The frame's next anchor (shlog_decode_sections.c): 1 with an event, 0 when
 * the frame has no anchor left. */
int shlog__clock_next(struct shlog_reader *r, struct shlog_event *ev);

/* A BATCH section opens the batch (shlog_decode_batch.c): 0, or 1 with *ev
 * the damage. */
int shlog__sec_batch(struct shlog_reader *r, struct cur *c, struct shlog_event *ev);
/* A BACKTRACE section: its order TSC, then a batch as above. */
int shlog__sec_backtrace(struct shlog_reader *r, struct cur *c, struct shlog_event *ev);
/* A BATCH (backtrace 0) or BACKTRACE section of a declined frame as one TIMES event. */
int shlog__sec_times(struct shlog_reader *r, struct cur *c, struct shlog_event *ev, int backtrace);
/* The next record of the open batch: 1 with an event, 0 when the batch ended. */
int shlog__batch_next(struct shlog_reader *r, struct shlog_event *ev);
/* The same, its next records as one BLOCK event (r->block). */
int shlog__batch_block(struct shlog_reader *r, struct shlog_event *ev);
/* The slot of site s in the reader's cache of sites in reader.h's form. */
SHLOG_CODING_STATIC unsigned site_info_slot(const struct dec_site *s)
{
    return (unsigned)((s->pub.proc * 2654435761u) ^ s->pub.id) % INFO_CACHE_SLOTS;
}

/* shlog__site_info() when the site is not in its slot: converted and kept there, or NULL. */
const struct shm_site *shlog__site_info_make(struct shlog_reader *r, const struct dec_site *s);

/* The site in reader.h's form, converted once and cached (inline: every record's), or NULL. */
SHLOG_CODING_STATIC const struct shm_site *shlog__site_info(struct shlog_reader *r, const struct dec_site *s)
{
    unsigned slot = site_info_slot(s);
    return r->info_of[slot] == s ? r->info_cache[slot] : shlog__site_info_make(r, s);
}

#endif /* SHLOG_DECODE_STATE_H */
