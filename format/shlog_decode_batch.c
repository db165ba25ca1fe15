/*
 * shlog_decode_batch.c - the file format's BATCH sections decoded into
 * records: the columns read in step, the arguments decoded against their
 * contexts and string tables, each record checked against the dedup state
 * (format/FORMAT.md).
 */
#include "shlog_decode_state.h"

/* The site in reader.h's form, converted once and cached (bounded: a hostile
 * file with a million sites costs conversions, not memory). */
const struct shm_site *shlog__site_info(struct shlog_reader *r, const struct dec_site *s)
{
    unsigned slot = (unsigned)((s->pub.proc * 2654435761u) ^ s->pub.id) % INFO_CACHE_SLOTS;
    if (r->info_of[slot] == s)
        return r->info_cache[slot];
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
    r->info_of[slot] = s;
    return info;
}

static int sec_batch_of(struct shlog_reader *r, struct cur *c, struct shlog_event *ev, int backtrace,
                        uint64_t order_tsc)
{
    struct batch_state *b = &r->b;
    uint64_t proc = get_varint(c), cpu = get_varint(c), first = get_varint(c), count = get_varint(c);
    uint64_t base_tsc = get_varint(c);
    /* the span column is there when the section goes on after the others */
    b->has_span = 0;
    for (int i = 0; i < NCOLS; i++) {
        if (i == COL_SPAN && !(b->has_span = c->p < c->end && !c->bad)) {
            b->col[i] = (struct cur){NULL, NULL, 0};
            break;
        }
        uint64_t n = get_varint(c);
        const uint8_t *p = get_bytes(c, n);
        b->col[i] = (struct cur){p, p ? p + n : NULL, 0};
    }
    if (c->bad || cpu > UINT32_MAX || count == 0 || count > SHLOG_MAX_BATCH_RECORDS ||
        (backtrace && cpu >= SHLOG_CPU_BACKTRACE - 1))
        return shlog__frame_damaged(r, ev, backtrace ? "bad BACKTRACE section" : "bad BATCH section");
    const struct shlog_proc *p = need_proc(r, proc);
    if (!p)
        return shlog__frame_damaged(r, ev, "BATCH of an undefined process %llu", (unsigned long long)proc);
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

/* A double or float argument against its context: its bits, or 0 with
 * c->bad set when the token is not one the encoder writes. */
static inline uint64_t dec_float(struct cur *c, struct num_ctx *x, unsigned t)
{
    uint64_t h = get_varint(c), bits;
    if (!(h & 1)) {
        if (x->scale < 0) {
            c->bad = 1;
            return 0;
        }
        x->prev += (uint64_t)unzigzag(h >> 1);
        bits = decimal_bits((int64_t)x->prev, x->scale, t);
    } else if (h == 1) {
        uint64_t v = get_varint(c);
        if (t == SHMLOG_ARG_F32 && v > UINT32_MAX) {
            c->bad = 1;
            return 0;
        }
        bits = bswap_width(v, t) ^ x->bits;
        x->scale = -1;
    } else if ((h >> 1) - 1 <= DECIMAL_MAX_SCALE) {
        x->scale = (int32_t)((h >> 1) - 1);
        x->prev = (uint64_t)unzigzag(get_varint(c));
        bits = decimal_bits((int64_t)x->prev, x->scale, t);
    } else {
        c->bad = 1;
        return 0;
    }
    x->bits = bits;
    return bits;
}

/* Decodes the arguments of one record coded against site s into rec
 * (payload and payload_len). 0, or -1 when they are damaged. */
static int decode_args(struct shlog_reader *r, struct dec_site *s, struct cur *c, struct shm_copied_record *rec)
{
    const struct arg_plan *pl = &s->plan;
    if (pl->raw_only)
        return -1; /* its records are all raw (plan_tables_within) */
    site_ctx_claim(pl, s->ctx, &s->ctx_gen, r->batch_gen);
    uint8_t *out = rec->payload;
    const uint8_t *end = rec->payload + SHMLOG_MAX_PAYLOAD;
    unsigned key_slot = 0;
    for (unsigned i = 0; i < pl->nargs; i++) {
        unsigned op = pl->op[i];
        uint64_t x;
        if (op == OP_STR) {
            struct str_table *tb = &s->str[pl->str_index[i]];
            str_table_claim(tb, r->batch_gen);
            uint64_t h = get_varint(c);
            uint16_t hdr;
            const uint8_t *bytes;
            unsigned slot;
            if (h & 1) {
                slot = (unsigned)(h >> 1);
                if (h >> 1 >= tb->used)
                    return -1;
                hdr = tb->hdr[slot];
                bytes = tb->bytes[slot];
            } else {
                if (h >> 1 > UINT16_MAX)
                    return -1;
                hdr = (uint16_t)(h >> 1);
                bytes = get_bytes(c, hdr & SHMLOG_STR_LEN_MASK);
                if (!bytes)
                    return -1;
            }
            size_t n = hdr & SHMLOG_STR_LEN_MASK;
            if ((size_t)(end - out) < 2 + n)
                return -1;
            out[0] = (uint8_t)hdr;
            out[1] = (uint8_t)(hdr >> 8);
            if ((h & 1) && end - out >= 2 + (ptrdiff_t)STR_SHORT)
                memcpy(out + 2, bytes, STR_SHORT); /* the whole slot: one fixed-size copy */
            else
                memcpy(out + 2, bytes, n);
            out += 2 + n;
            if (!(h & 1))
                slot = str_keep(tb, hdr, bytes);
            if (i == pl->key_arg)
                key_slot = slot;
            continue;
        }
        /* its width, as the producer wrote it (shmlog_args.h): the payload
         * may end right after it */
        unsigned width = pl->width[i];
        if ((size_t)(end - out) < width)
            return -1;
        struct num_ctx *ctx = arg_ctx(pl, s->ctx, s->keyed, i, key_slot, r->batch_gen);
        switch (op) {
        case OP_F64:
            x = dec_float(c, ctx, SHMLOG_ARG_F64);
            break;
        case OP_F32:
            x = dec_float(c, ctx, SHMLOG_ARG_F32);
            break;
        default:
            x = ctx->prev + (uint64_t)unzigzag(get_varint(c));
            if (op < 8)
                x &= (1ULL << (8 * op)) - 1;
            ctx->prev = x;
            break;
        }
        if ((size_t)(end - out) >= 8)
            put_u64le(out, x); /* the bytes past its width are overwritten or past payload_len */
        else
            for (unsigned k = 0; k < width; k++)
                out[k] = (uint8_t)(x >> (8 * k));
        out += width;
    }
    rec->payload_len = (uint16_t)(out - rec->payload);
    return c->bad ? -1 : 0;
}

/* The arguments of the record in rec (its header filled) from the args
 * column, against site s: NULL, or why they cannot be decoded. */
static const char *batch_args(struct shlog_reader *r, struct dec_site *s, uint64_t attr, struct cur *args,
                              struct shm_copied_record *rec)
{
    if (attr & ATTR_RAW) {
        uint64_t n = get_varint(args);
        const uint8_t *bytes = n <= SHMLOG_MAX_PAYLOAD ? get_bytes(args, n) : NULL;
        if (!bytes)
            return "bad raw payload";
        memcpy(rec->payload, bytes, n);
        rec->payload_len = (uint16_t)n;
        return NULL;
    }
    if (!s)
        return "its site is not defined in the file";
    if (s->broken_gen == r->batch_gen)
        return "an earlier record of its site in the batch could not be decoded, and it is coded against that one";
    if (decode_args(r, s, args, rec)) {
        s->broken_gen = r->batch_gen;
        return "bad arguments";
    }
    return NULL;
}

int shlog__batch_next(struct shlog_reader *r, struct shlog_event *ev)
{
    struct batch_state *b = &r->b;
    struct shm_copied_record *rec = &r->rec;
    if (b->loss_due) {
        b->loss_due = 0;
        ev_begin(r, ev, SHLOG_EV_LOSS);
        ev->proc = b->proc;
        ev->cpu = b->cpu;
        ev->loss = b->loss;
        return 1;
    }
    while (b->done < b->count) {
        uint64_t gap = get_varint(&b->col[COL_GAP]);
        uint8_t extra_slots = get_u8(&b->col[COL_NSLOTS]);
        uint64_t dtsc = get_varint(&b->col[COL_TSC]);
        uint64_t site = get_varint(&b->col[COL_SITE]);
        uint64_t dtid = get_varint(&b->col[COL_TID]);
        uint64_t attr = get_varint(&b->col[COL_ATTR]);
        uint64_t span = b->has_span ? get_varint(&b->col[COL_SPAN]) : 0;
        if (b->col[COL_GAP].bad | b->col[COL_NSLOTS].bad | b->col[COL_TSC].bad | b->col[COL_SITE].bad |
            b->col[COL_TID].bad | b->col[COL_ATTR].bad | b->col[COL_SPAN].bad) {
            for (int i = 0; i < NCOLS; i++)
                if (b->col[i].bad)
                    return shlog__frame_damaged(r, ev, "BATCH column %d ends early", i);
        }
        unsigned category = (attr >> 3) & 7;
        if (category == 7) /* 7 and up: the rest above the flags */
            category = 7 + (unsigned)(attr >> ATTR_CATEGORY_SHIFT < SHMLOG_MAX_CATEGORIES ? attr >> ATTR_CATEGORY_SHIFT
                                                                                           : SHMLOG_MAX_CATEGORIES);
        else if (attr >> ATTR_CATEGORY_SHIFT)
            category = SHMLOG_MAX_CATEGORIES;
        if (site > UINT32_MAX || category >= SHMLOG_MAX_CATEGORIES)
            return shlog__frame_damaged(r, ev, "BATCH record %u out of range", b->done);
        rec->pos = b->expected + gap;
        rec->tsc = b->prev_tsc + (uint64_t)unzigzag(dtsc);
        rec->site = (uint32_t)site;
        rec->tid = b->prev_tid + (uint32_t)unzigzag(dtid);
        rec->level = attr & 7;
        rec->category = (uint8_t)category;
        rec->flags = (uint8_t)(attr >> 7);
        b->prev_tsc = rec->tsc;
        b->prev_tid = rec->tid;

        struct dec_site *s = b->cached;
        if (!s || s->pub.id != rec->site)
            s = b->cached = reader_find_site(r, b->proc->key, rec->site);
        struct cur *args = &b->col[COL_ARGS];
        /* With the span column, where the record's arguments end and its
         * slots are known whatever they hold: checked, and where reading
         * goes on when they cannot be decoded. */
        const uint8_t *args_end = NULL;
        if (b->has_span) {
            if ((span >> 3) > (uint64_t)(args->end - args->p))
                return shlog__frame_damaged(r, ev, "BATCH record %u: its span runs past the args column", b->done);
            args_end = args->p + (span >> 3);
        }
        const char *bad = batch_args(r, s, attr, args, rec);
        unsigned nslots = (uint8_t)(extra_slots + shmlog_slots_for_payload(rec->payload_len));
        if (!bad && args_end && (args->p != args_end || nslots != (span & 7) + 1)) {
            bad = "its arguments do not take the bytes and slots its span says";
            if (s && !(attr & ATTR_RAW))
                s->broken_gen = r->batch_gen;
        }
        if (bad && !b->has_span) /* a file from before the span column: nothing says where the next record starts */
            return shlog__frame_damaged(r, ev, "BATCH record %u: %s", b->done, bad);
        if (bad) {
            args->p = args_end;
            args->bad = 0;
            nslots = (unsigned)(span & 7) + 1;
        } else if (nslots < 1 || nslots > SHMLOG_MAX_SLOTS) {
            return shlog__frame_damaged(r, ev, "BATCH record %u out of range", b->done);
        }
        rec->nslots = (uint8_t)nslots;
        uint64_t covered_from = b->expected;
        b->expected = rec->pos + nslots;
        b->done++;
        if (rec->pos > covered_from) /* a gap the batch passed over (PADs, kept records) */
            dedup_cover(b->dd, covered_from, rec->pos);
        if (!dedup_claim(b->dd, rec->pos, rec->pos + nslots)) {
            r->st.duplicates++;
            continue;
        }
        if (bad) {
            r->st.lost_records[SHM_LOSS_UNDECODABLE]++;
            b->loss = (struct shm_loss){rec->pos, nslots, 1, SHM_LOSS_UNDECODABLE};
            b->loss_due = 1;
            return shlog__record_damaged(r, ev, "BATCH record %u (cpu %u, ring position %llu, site %u): %s",
                                         b->done - 1, b->cpu, (unsigned long long)rec->pos, rec->site, bad);
        }
        r->st.records++;
        ev_begin(r, ev, SHLOG_EV_RECORD);
        ev->proc = b->proc;
        ev->cpu = b->cpu;
        ev->site = s ? &s->pub : NULL;
        ev->site_info = s ? shlog__site_info(r, s) : NULL;
        ev->rec = rec;
        ev->covered_from = covered_from;
        ev->backtrace = b->backtrace;
        ev->order_tsc = b->order_tsc;
        return 1;
    }
    b->open = 0;
    for (int i = 0; i < NCOLS; i++)
        if (b->col[i].p != b->col[i].end)
            return shlog__frame_damaged(r, ev, "BATCH column %d has bytes past its %u records", i, b->count);
    return 0;
}
