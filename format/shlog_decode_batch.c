/*
 * shlog_decode_batch.c - the file format's BATCH sections decoded into
 * records: the columns read in step, the arguments decoded against their
 * contexts and string tables into values (SHM_REC_VALUES, shm/reader.h),
 * each record checked against the dedup state (format/FORMAT.md). Blocks of
 * records are the decoding's own form; a record at a time (RECORD events) is
 * the same decoding, its values then laid out as a ring lays out a payload.
 */
#include "shlog_decode_state.h"

/* The site in reader.h's form, converted once and cached (bounded: a hostile
 * file with a million sites costs conversions, not memory). */
const struct shm_site *shlog__site_info_make(struct shlog_reader *r, const struct dec_site *s)
{
    unsigned slot = site_info_slot(s);
    struct shm_site *info = r->info_cache[slot];
    if (!info) {
        if (!(info = r->info_cache[slot] = malloc(sizeof(*info))))
            return NULL;
        r->ninfo++;
    }
    memset(info, 0, offsetof(struct shm_site, fmt));
    info->id = s->pub.id;
    info->line = s->pub.line;
    info->level = s->pub.level;
    info->category = s->pub.category;
    info->nargs = s->pub.nargs;
    memcpy(info->arg_types, s->pub.arg_types, s->pub.nargs);
    info->fmt_len = s->pub.fmt_len;
    info->file_len = s->pub.file_len;
    memcpy(info->fmt, s->pub.fmt, s->pub.fmt_len + 1);
    memcpy(info->file, s->pub.file, s->pub.file_len + 1);
    info->func_len = s->pub.func_len;
    info->desc_len = s->pub.desc_len;
    memcpy(info->func, s->pub.func, s->pub.func_len + 1);
    memcpy(info->desc, s->pub.desc, s->pub.desc_len + 1);
    r->info_of[slot] = s;
    return info;
}

/* A BATCH or BACKTRACE section's head and columns (FORMAT.md, section 3). */
struct batch_head {
    const struct shlog_proc *proc;
    uint64_t cpu, first, count, base_tsc;
};

/* Reads h and col from c: 0, or what shlog__frame_damaged returns, *ev the damage. */
static int batch_head_read(struct shlog_reader *r, struct cur *c, struct shlog_event *ev, int backtrace,
                           struct batch_head *h, struct cur col[NCOLS])
{
    uint64_t proc = get_varint(c);
    h->cpu = get_varint(c);
    h->first = get_varint(c);
    h->count = get_varint(c);
    h->base_tsc = get_varint(c);
    for (int i = 0; i < NCOLS; i++) {
        uint64_t n = get_varint(c);
        const uint8_t *p = get_bytes(c, n);
        col[i] = (struct cur){p, p ? p + n : NULL, 0};
    }
    if (c->bad || h->cpu > UINT32_MAX || h->count == 0 || h->count > SHLOG_MAX_BATCH_RECORDS ||
        (backtrace && h->cpu >= SHLOG_CPU_BACKTRACE - 1))
        return shlog__frame_damaged(r, ev, backtrace ? "bad BACKTRACE section" : "bad BATCH section");
    if (!(h->proc = need_proc(r, proc)))
        return shlog__frame_damaged(r, ev, "BATCH of an undefined process %llu", (unsigned long long)proc);
    return 0;
}

static int sec_batch_of(struct shlog_reader *r, struct cur *c, struct shlog_event *ev, int backtrace,
                        uint64_t order_tsc)
{
    struct batch_state *b = &r->b;
    struct batch_head h;
    int rc = batch_head_read(r, c, ev, backtrace, &h, b->col);
    if (rc)
        return rc;
    const struct shlog_proc *p = h.proc;
    uint64_t cpu = h.cpu, first = h.first, count = h.count, base_tsc = h.base_tsc;
    b->open = 1;
    b->proc = p;
    b->cpu = (uint32_t)cpu;
    b->count = (uint32_t)count;
    b->done = 0;
    b->expected = first;
    b->prev_tsc = base_tsc;
    b->prev_tid = 0;
    b->cached = NULL;
    b->backtrace = backtrace;
    b->order_tsc = order_tsc;
    /* A backtrace's records are a stream of their own: their positions are
     * the ones the ring's batches passed over. */
    b->dd = shlog__dedup_ring(r->dedup, &p->info, (uint32_t)cpu | (backtrace ? SHLOG_CPU_BACKTRACE : 0));
    b->loss_due = 0;
    b->lost_sync = 0;
    r->batch_gen++;
    return 0;
}

int shlog__sec_batch(struct shlog_reader *r, struct cur *c, struct shlog_event *ev)
{
    return sec_batch_of(r, c, ev, 0, 0);
}

int shlog__sec_backtrace(struct shlog_reader *r, struct cur *c, struct shlog_event *ev)
{
    uint64_t order_tsc = get_varint(c);
    return sec_batch_of(r, c, ev, 1, order_tsc);
}

int shlog__sec_times(struct shlog_reader *r, struct cur *c, struct shlog_event *ev, int backtrace)
{
    uint64_t order_tsc = backtrace ? get_varint(c) : 0;
    struct batch_head h;
    struct cur col[NCOLS];
    int rc = batch_head_read(r, c, ev, backtrace, &h, col);
    if (rc)
        return rc;
    uint64_t tsc = h.base_tsc;
    if (!r->tscs && !(r->tscs = malloc(SHLOG_MAX_BATCH_RECORDS * sizeof *r->tscs)))
        return -ENOMEM;
    for (uint64_t i = 0; i < h.count; i++)
        r->tscs[i] = tsc += (uint64_t)unzigzag(get_varint(&col[COL_TSC]));
    if (col[COL_TSC].bad)
        return shlog__frame_damaged(r, ev, backtrace ? "bad BACKTRACE section" : "bad BATCH section");
    ev_begin(r, ev, SHLOG_EV_TIMES);
    ev->proc = h.proc;
    ev->cpu = (uint32_t)h.cpu;
    ev->covered_from = h.first;
    ev->backtrace = backtrace;
    ev->order_tsc = order_tsc;
    ev->tscs = r->tscs;
    ev->ntscs = (uint32_t)h.count;
    return 1;
}

/* A double or float argument against its context: its bits. Its tokens are
 * taken whatever they hold; when they are not ones the encoder writes, 0
 * with *bad set (and with *bad set already, nothing but the tokens). */
static inline uint64_t dec_float(struct cur *c, struct num_ctx *x, unsigned t, int *bad)
{
    uint64_t h = get_varint(c), v = h & 1 ? get_varint(c) : 0, bits; /* odd: a second token */
    if (*bad)
        return 0;
    if (!(h & 1)) {
        if (x->scale < 0) {
            *bad = 1;
            return 0;
        }
        x->prev += (uint64_t)unzigzag(h >> 1);
        bits = decimal_bits((int64_t)x->prev, x->scale, t);
    } else if (h == 1) {
        if (t == SHMLOG_ARG_F32 && v > UINT32_MAX) {
            *bad = 1;
            return 0;
        }
        bits = bswap_width(v, t) ^ x->bits;
        x->scale = -1;
    } else if ((h >> 1) - 1 <= DECIMAL_MAX_SCALE) {
        x->scale = (int32_t)((h >> 1) - 1);
        x->prev = (uint64_t)unzigzag(v);
        bits = decimal_bits((int64_t)x->prev, x->scale, t);
    } else {
        *bad = 1;
        return 0;
    }
    x->bits = bits;
    return bits;
}

/* What decode_values found. */
enum dec_args {
    DEC_OK,   /* rec's payload holds them */
    DEC_BAD,  /* damaged, but their tokens were passed over as the encoder lays them out:
                 rec->payload_len is the bytes they would take, so the next record is found */
    DEC_LOST, /* not even their tokens could be told apart: where the next record starts is unknown */
};

/* The string token of argument i of site s at c: its header word and bytes
 * (from the table or the column; a literal enters the table, damaged record
 * or not: later records name its slot), *slot the table slot it is in. 1
 * from the table, 0 a literal, -1 when its length is nothing the file says. */
static inline __attribute__((always_inline)) int dec_string(struct shlog_reader *r, struct dec_site *s, unsigned i,
                                                            struct cur *c, uint16_t *hdr, const uint8_t **bytes,
                                                            unsigned *slot)
{
    struct str_table *tb = &s->str[s->plan.str_index[i]];
    str_slots_claim(tb, r->batch_gen);
    uint64_t h = get_varint(c);
    if (h & 1) {
        if (h >> 1 >= tb->used)
            return -1; /* an empty slot */
        *slot = (unsigned)(h >> 1);
        *hdr = tb->hdr[*slot];
        *bytes = tb->bytes[*slot];
        return 1;
    }
    if (h >> 1 > UINT16_MAX)
        return -1;
    *hdr = (uint16_t)(h >> 1);
    *bytes = get_bytes(c, shmlog_str_length(*hdr));
    if (!*bytes)
        return -1;
    *slot = str_slot_keep(tb, *hdr, *bytes);
    return 0;
}

/* The arguments from `from` on of a record of site s that cannot be decoded
 * (argument from - 1 was damaged, or from is 0 and an earlier record of the
 * site in the batch was), passed over as the coding lays out their tokens;
 * len: the payload bytes of the arguments before from. The site's contexts
 * are not to be trusted for the rest of the batch. */
static enum dec_args pass_over(struct shlog_reader *r, struct dec_site *s, struct cur *c,
                               struct shm_copied_record *rec, unsigned from, size_t len)
{
    const struct arg_plan *pl = &s->plan;
    s->broken_gen = r->batch_gen;
    for (unsigned i = from; i < pl->nargs; i++) {
        if (pl->op[i] == OP_STR) {
            uint16_t hdr;
            const uint8_t *bytes;
            unsigned slot;
            if (dec_string(r, s, i, c, &hdr, &bytes, &slot) < 0)
                return DEC_LOST;
            len += SHMLOG_STR_HEADER_BYTES + shmlog_str_length(hdr);
            continue;
        }
        if (pl->op[i] == OP_F64 || pl->op[i] == OP_F32) {
            int bad = 1;
            dec_float(c, NULL, 0, &bad); /* its tokens only */
        } else {
            get_varint(c);
        }
        len += pl->width[i];
    }
    if (c->bad)
        return DEC_LOST;
    rec->payload_len = (uint16_t)(len < UINT16_MAX ? len : UINT16_MAX);
    return DEC_BAD;
}

/* pass_over() from a cursor of the caller's (c, a copy of the batch's args
 * column): through the batch's own, so the caller's copy never leaves it. */
static enum dec_args pass_over_from(struct shlog_reader *r, struct dec_site *s, struct cur *c,
                                    struct shm_copied_record *rec, unsigned from, size_t len)
{
    struct cur own = *c; /* the caller's stays unseen by a call */
    enum dec_args got = pass_over(r, s, &own, rec, from, len);
    *c = own;
    return got;
}

/* Decodes the arguments of one record coded against site s into rec's
 * values (SHM_REC_VALUES) and payload_len (what they take in a ring); *stored:
 * the bytes of rec's payload they take. c is a cursor the caller keeps in
 * registers (a copy of the batch's args column), and the values are stored
 * as 64-bit words: through bytes, every store would make the compiler load
 * the cursor, the plan and the contexts again. */
static inline __attribute__((always_inline)) enum dec_args decode_values(struct shlog_reader *r, struct dec_site *s,
                                                                          struct cur *c, struct shm_copied_record *rec,
                                                                          size_t *stored)
{
    const struct arg_plan *pl = &s->plan;
    if (pl->raw_only)
        return DEC_LOST; /* its records are all raw (plan_tables_within): no tokens are known */
    uint32_t gen = r->batch_gen;
    site_ctx_claim(pl, s->ctx, &s->ctx_gen, gen);
    if (s->broken_gen == gen)
        return pass_over_from(r, s, c, rec, 0, 0);
    /* From the record's start: the values and strings may run past the
     * payload's declared size (SHM_REC_VALUES_EXTRA). */
    uint8_t *payload = (uint8_t *)rec + offsetof(struct shm_copied_record, payload);
    uint64_t *vals = (uint64_t *)(void *)(payload + SHM_VALUES_HEAD); /* 8-aligned (shm/reader.h) */
    unsigned nargs = pl->nargs;
    uint8_t *out = (uint8_t *)(vals + nargs); /* the strings' bytes */
    size_t len = 0; /* payload bytes of the arguments so far, as a ring lays them out */
    unsigned key_slot = 0;
    for (unsigned i = 0; i < nargs; i++) {
        unsigned op = pl->op[i];
        uint64_t x;
        if (op == OP_STR) {
            uint16_t hdr;
            const uint8_t *bytes;
            unsigned slot;
            int from_table = dec_string(r, s, i, c, &hdr, &bytes, &slot);
            if (from_table < 0)
                return DEC_LOST;
            size_t n = shmlog_str_length(hdr);
            if (len + SHMLOG_STR_HEADER_BYTES + n > SHMLOG_MAX_PAYLOAD)
                return pass_over_from(r, s, c, rec, i + 1, len + SHMLOG_STR_HEADER_BYTES + n);
            vals[i] = shm_str_value((size_t)(out - payload), hdr);
            if (from_table)
                memcpy(out, bytes, STR_SHORT); /* the whole slot: one fixed-size copy (SHLOG_BLOCK_ROW_MAX) */
            else
                memcpy(out, bytes, n);
            out += n;
            len += SHMLOG_STR_HEADER_BYTES + n;
            if (i == pl->key_arg)
                key_slot = slot;
            continue;
        }
        /* its width, as the producer wrote it (shmlog_args.h): the payload
         * may end right after it */
        unsigned width = pl->width[i];
        if (len + width > SHMLOG_MAX_PAYLOAD)
            return pass_over_from(r, s, c, rec, i, len);
        struct num_ctx *ctx = arg_ctx(pl, s->ctx, s->keyed, i, key_slot, gen);
        if (op == OP_F64 || op == OP_F32) {
            int bad = 0;
            x = dec_float(c, ctx, op == OP_F64 ? SHMLOG_ARG_F64 : SHMLOG_ARG_F32, &bad);
            if (bad) /* a float token the coding never writes: its tokens were taken */
                return pass_over_from(r, s, c, rec, i + 1, len + width);
        } else {
            unsigned lose = 64 - 8 * op; /* the bits above the width (0 for 8 bytes) */
            x = (ctx->prev + (uint64_t)unzigzag(get_varint(c))) << lose >> lose;
            ctx->prev = x;
            if (lose && !(s->pub.arg_types[i] & 1)) /* I8..I32, the even types: sign-extended */
                x = (uint64_t)((int64_t)(x << lose) >> lose);
        }
        vals[i] = x;
        len += width;
    }
    if (c->bad)
        return DEC_LOST;
    rec->payload_len = (uint16_t)len;
    rec->flags |= SHM_REC_VALUES;
    *stored = (size_t)(out - payload);
    shm_values_head_put(payload, *stored, nargs);
    return DEC_OK;
}

/* The arguments of the record in rec (its head filled) from the args
 * column, against site s: DEC_OK, or DEC_BAD / DEC_LOST with *why (NULL for
 * a record of a site damaged before in the batch, whose error was said). */
static inline __attribute__((always_inline)) enum dec_args batch_args(struct shlog_reader *r, struct dec_site *s,
                                                                       int raw, struct cur *args,
                                                                       struct shm_copied_record *rec, size_t *stored,
                                                                       const char **why)
{
    if (raw) { /* a raw record stays in a ring's layout */
        uint64_t n = get_varint(args);
        const uint8_t *bytes = n <= SHMLOG_MAX_PAYLOAD ? get_bytes(args, n) : NULL;
        *why = "bad raw payload";
        if (!bytes)
            return DEC_LOST;
        memcpy(rec->payload, bytes, n);
        rec->payload_len = (uint16_t)n;
        *stored = n;
        return DEC_OK;
    }
    if (!s) {
        *why = "its site is not defined in the file";
        return DEC_LOST;
    }
    int broken_before = s->broken_gen == r->batch_gen;
    enum dec_args got = decode_values(r, s, args, rec, stored);
    *why = broken_before ? NULL : "bad arguments";
    return got;
}

/* ==== Records ==== */

/* A record the batch cannot go on past: an error, then the loss of it and
 * of every record after it in the batch; the frame's other sections are
 * read. */
static int batch_lost(struct shlog_reader *r, struct shlog_event *ev, uint64_t pos, const char *why)
{
    struct batch_state *b = &r->b;
    unsigned left = b->count - b->done;
    r->st.lost_records[SHM_LOSS_UNDECODABLE] += left;
    b->loss = (struct shm_loss){.first_pos = pos, .records = left, .reason = SHM_LOSS_UNDECODABLE};
    b->loss_due = 1;
    b->done = b->count;
    b->lost_sync = 1;
    return shlog__record_damaged(r, ev, "BATCH record %u (cpu %u): %s; so are the %u records after it in the batch",
                                 b->count - left, b->cpu, why, left - 1);
}

/* What batch_step did with the next record of the open batch. */
enum step {
    STEP_RECORD, /* decoded into rec, *site its site (NULL: the file lacks it) */
    STEP_NONE,   /* none to give: a duplicate, or one whose loss is due (b->loss_due) */
    STEP_EVENT,  /* *ev is an event to give (damage) */
};

/* The next record of the open batch (b->done < b->count), decoded into rec
 * (its arguments as values, unless it was stored raw; *stored: the bytes of
 * rec's payload they take); *covered_from: the position from which the batch
 * accounts for the ring's positions up to it. col: the batch's column
 * cursors, copied by the caller, which keeps them in registers (rec's byte
 * stores would make the compiler load those in memory again). Inline in its
 * two callers: a record at a time, a block at a time. */
static inline __attribute__((always_inline)) enum step batch_step(struct shlog_reader *r, struct cur *col,
                                                                  struct shm_copied_record *rec, size_t *stored,
                                                                  struct dec_site **site, uint64_t *covered_from,
                                                                  struct shlog_event *ev)
{
    struct batch_state *b = &r->b;
    uint64_t gap = get_varint(&col[COL_GAP]);
    uint8_t extra_slots = get_u8(&col[COL_NSLOTS]);
    uint64_t dtsc = get_varint(&col[COL_TSC]);
    uint64_t site_id = get_varint(&col[COL_SITE]);
    uint64_t dtid = get_varint(&col[COL_TID]);
    uint64_t attr = get_varint(&col[COL_ATTR]);
    if (col[COL_GAP].bad | col[COL_NSLOTS].bad | col[COL_TSC].bad | col[COL_SITE].bad | col[COL_TID].bad |
        col[COL_ATTR].bad) {
        for (int i = 0; i < COL_ARGS; i++)
            if (col[i].bad) {
                shlog__frame_damaged(r, ev, "BATCH column %d ends early", i);
                return STEP_EVENT;
            }
    }
    unsigned category = (attr >> 3) & 7;
    if (category == 7) /* 7 and up: the rest above the flags */
        category = 7 + (unsigned)(attr >> ATTR_CATEGORY_SHIFT < SHMLOG_MAX_CATEGORIES ? attr >> ATTR_CATEGORY_SHIFT
                                                                                       : SHMLOG_MAX_CATEGORIES);
    else if (attr >> ATTR_CATEGORY_SHIFT)
        category = SHMLOG_MAX_CATEGORIES;
    if (site_id > UINT32_MAX || category >= SHMLOG_MAX_CATEGORIES) {
        shlog__frame_damaged(r, ev, "BATCH record %u out of range", b->done);
        return STEP_EVENT;
    }
    rec->pos = b->expected + gap;
    rec->tsc = b->prev_tsc += (uint64_t)unzigzag(dtsc);
    rec->site = (uint32_t)site_id;
    rec->tid = b->prev_tid += (uint32_t)unzigzag(dtid);
    rec->level = attr & 7;
    rec->category = (uint8_t)category;
    rec->flags = (uint8_t)(attr >> 7) & ~SHM_REC_VALUES; /* a reader's own, whatever the file says */

    struct dec_site *s = b->cached;
    if (!s || s->pub.id != rec->site)
        s = b->cached = reader_find_site(r, b->proc->key, rec->site);
    const char *why;
    enum dec_args got = batch_args(r, s, (attr & ATTR_RAW) != 0, &col[COL_ARGS], rec, stored, &why);
    unsigned nslots = (uint8_t)(extra_slots + shmlog_slots_for_payload(rec->payload_len));
    if (got == DEC_LOST) {
        batch_lost(r, ev, rec->pos, why ? why : "bad arguments");
        return STEP_EVENT;
    }
    if (nslots < 1 || nslots > SHMLOG_MAX_SLOTS) {
        batch_lost(r, ev, rec->pos, got == DEC_OK ? "its slots are out of range" : why ? why : "bad arguments");
        return STEP_EVENT;
    }
    rec->nslots = (uint8_t)nslots;
    *covered_from = b->expected;
    b->expected = rec->pos + nslots;
    b->done++;
    if (rec->pos > *covered_from) /* a gap the batch passed over (PADs, kept records) */
        dedup_cover(b->dd, *covered_from, rec->pos);
    if (!dedup_claim(b->dd, rec->pos, rec->pos + nslots)) {
        r->st.duplicates++;
        return STEP_NONE;
    }
    if (got == DEC_BAD) {
        r->st.lost_records[SHM_LOSS_UNDECODABLE]++;
        b->loss = (struct shm_loss){rec->pos, nslots, 1, SHM_LOSS_UNDECODABLE};
        b->loss_due = 1;
        if (!why) /* coded against the damaged one: its error said so for the batch */
            return STEP_NONE;
        shlog__record_damaged(r, ev,
                              "BATCH record %u (cpu %u, ring position %llu, site %u): %s; so are the later "
                              "records of its site in the batch, coded against it",
                              b->done - 1, b->cpu, (unsigned long long)rec->pos, rec->site, why);
        return STEP_EVENT;
    }
    *site = s;
    return STEP_RECORD;
}

/* The loss of records that could not be decoded, as an event. */
static int batch_loss_event(struct shlog_reader *r, struct shlog_event *ev)
{
    struct batch_state *b = &r->b;
    b->loss_due = 0;
    ev_begin(r, ev, SHLOG_EV_LOSS);
    ev->proc = b->proc;
    ev->cpu = b->cpu;
    ev->loss = b->loss;
    ev->backtrace = b->backtrace;
    return 1;
}

/* The batch's records are all read: 0, or 1 with the damage of bytes left in its columns. */
static int batch_end(struct shlog_reader *r, struct shlog_event *ev)
{
    struct batch_state *b = &r->b;
    b->open = 0;
    for (int i = 0; i < NCOLS && !b->lost_sync; i++)
        if (b->col[i].p != b->col[i].end)
            return shlog__frame_damaged(r, ev, "BATCH column %d has bytes past its %u records", i, b->count);
    return 0;
}

/* A record decoded into values (row) as a ring lays it out, in rec: what
 * RECORD events give. */
static void values_to_ring(const struct dec_site *s, const struct shm_copied_record *row,
                           struct shm_copied_record *rec)
{
    memcpy(rec, row, offsetof(struct shm_copied_record, payload));
    if (!(row->flags & SHM_REC_VALUES)) { /* stored raw */
        memcpy(rec->payload, row->payload, row->payload_len);
        return;
    }
    rec->flags &= ~SHM_REC_VALUES;
    uint8_t *out = rec->payload;
    for (unsigned i = 0, n = shm_rec_nvalues(row); i < n; i++) {
        uint64_t v = shm_rec_value(row, i);
        if (s->pub.arg_types[i] == SHMLOG_ARG_STR) {
            size_t len = v & SHMLOG_STR_LEN_MASK;
            out[0] = (uint8_t)v;
            out[1] = (uint8_t)(v >> 8);
            memcpy(out + SHMLOG_STR_HEADER_BYTES, shm_rec_str_at(row, v), len);
            out += SHMLOG_STR_HEADER_BYTES + len;
            continue;
        }
        put_u64le(out, v); /* the bytes past its width are overwritten, or past payload_len (payload_slack) */
        out += s->plan.width[i];
    }
}

int shlog__batch_next(struct shlog_reader *r, struct shlog_event *ev)
{
    struct batch_state *b = &r->b;
    struct shm_copied_record *row = (struct shm_copied_record *)(void *)r->row;
    for (;;) {
        if (b->loss_due)
            return batch_loss_event(r, ev);
        if (b->done >= b->count)
            return batch_end(r, ev);
        struct dec_site *s;
        uint64_t covered_from;
        size_t stored;
        struct cur col[NCOLS];
        memcpy(col, b->col, sizeof col);
        enum step st = batch_step(r, col, row, &stored, &s, &covered_from, ev);
        memcpy(b->col, col, sizeof col);
        if (st == STEP_NONE)
            continue;
        if (st == STEP_EVENT)
            return 1;
        values_to_ring(s, row, &r->rec);
        r->st.records++;
        ev_begin(r, ev, SHLOG_EV_RECORD);
        ev->proc = b->proc;
        ev->cpu = b->cpu;
        ev->site = s ? &s->pub : NULL;
        ev->site_info = s ? shlog__site_info(r, s) : NULL;
        ev->rec = &r->rec;
        ev->covered_from = covered_from;
        ev->backtrace = b->backtrace;
        ev->order_tsc = b->order_tsc;
        return 1;
    }
}

int shlog__batch_block(struct shlog_reader *r, struct shlog_event *ev)
{
    struct batch_state *b = &r->b;
    struct shlog_block *bl = r->block;
    uint8_t *at = bl->mem, *end = bl->mem + sizeof bl->mem;
    uint32_t n = 0;
    int found = 0; /* *ev holds an event found after the rows */
    struct cur col[NCOLS]; /* the columns' cursors, over the block */
    memcpy(col, b->col, sizeof col);
    while (!b->loss_due && b->done < b->count && n < SHLOG_BLOCK_ROWS && (size_t)(end - at) >= SHLOG_BLOCK_ROW_MAX) {
        struct shm_copied_record *rec = (struct shm_copied_record *)(void *)at;
        struct dec_site *s;
        uint64_t covered_from;
        size_t stored = 0;
        enum step st = batch_step(r, col, rec, &stored, &s, &covered_from, ev);
        if (st == STEP_NONE)
            continue;
        if (st == STEP_EVENT) {
            found = 1;
            break;
        }
        size_t bytes = offsetof(struct shm_copied_record, payload) + stored;
        bl->rec[n] = rec;
        bl->bytes[n] = (uint16_t)bytes;
        bl->site[n] = s ? &s->pub : NULL;
        n++;
        at += (bytes + 7) & ~(size_t)7;
    }
    memcpy(b->col, col, sizeof col);
    if (!n) /* no row: what stopped it (a block always has room for one) */
        return found ? 1 : b->loss_due ? batch_loss_event(r, ev) : batch_end(r, ev);
    if (found) { /* after the rows before it */
        r->due = *ev;
        r->event_due = 1;
    }
    /* a loss due or the batch's end come at the next call */
    bl->n = n;
    r->st.records += n;
    ev_begin(r, ev, SHLOG_EV_BLOCK);
    ev->proc = b->proc;
    ev->cpu = b->cpu;
    ev->block = bl;
    ev->backtrace = b->backtrace;
    ev->order_tsc = b->order_tsc;
    return 1;
}
