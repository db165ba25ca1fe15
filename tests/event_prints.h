/*
 * event_prints.h - a file reader's events as numbers, for tests and fuzzers
 * that check that reading a file a block of records at a time
 * (shlog_reader_blocks) gives what reading it a record at a time gives: the
 * same records, losses and damage, in the same order. A block's row is
 * counted as the RECORD event it stands for, its values laid out as a ring
 * lays out a payload (shmlog_args.h), independently of the library's own
 * conversion.
 */
#ifndef EVENT_PRINTS_H
#define EVENT_PRINTS_H

#include <stdlib.h>
#include <string.h>

#include "shlog_file.h"

static inline uint64_t ep_mix(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = (const uint8_t *)p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* What an event says, as a number: records by every field of their head and
 * the bytes of their payload (rec: the record as a ring lays it out), damage
 * by its text, losses by what they count, the rest by kind and frame. */
static inline uint64_t ep_event_print(const struct shlog_event *ev, const struct shm_copied_record *rec)
{
    uint64_t h = ep_mix(1469598103934665603ull, &ev->kind, sizeof ev->kind);
    h = ep_mix(h, &ev->offset, sizeof ev->offset);
    switch (ev->kind) {
    case SHLOG_EV_RECORD: {
        uint64_t head[6] = {ev->cpu, rec->pos, rec->tsc, (uint64_t)rec->site << 32 | rec->tid,
                            (uint64_t)rec->level << 24 | (uint64_t)rec->category << 16 | (uint64_t)rec->flags << 8 |
                                rec->nslots,
                            rec->payload_len};
        return ep_mix(ep_mix(h, head, sizeof head), rec->payload, rec->payload_len);
    }
    case SHLOG_EV_ERROR:
        return ep_mix(ep_mix(h, ev->error, strlen(ev->error)), &ev->torn, sizeof ev->torn);
    case SHLOG_EV_LOSS: {
        uint64_t l[5] = {ev->cpu, ev->loss.first_pos, ev->loss.positions, ev->loss.records, ev->loss.reason};
        return ep_mix(h, l, sizeof l);
    }
    default:
        return h;
    }
}

/* Row i of a block as the RECORD event it stands for: 0, or -1 when the row
 * is not what its site says (values of other types, strings out of place). */
static inline int ep_block_row(const struct shlog_block *bl, uint32_t i, struct shm_copied_record *rec)
{
    const struct shm_copied_record *row = bl->rec[i];
    memcpy(rec, row, offsetof(struct shm_copied_record, payload));
    if (!(row->flags & SHM_REC_VALUES)) {
        if (row->payload_len > SHMLOG_MAX_PAYLOAD)
            return -1;
        memcpy(rec->payload, row->payload, row->payload_len);
        return 0;
    }
    rec->flags &= ~SHM_REC_VALUES;
    if (!bl->site[i] || shm_rec_nvalues(row) != bl->site[i]->nargs)
        return -1;
    size_t at = 0;
    for (unsigned k = 0; k < bl->site[i]->nargs; k++) {
        uint64_t v = shm_rec_value(row, k);
        unsigned type = bl->site[i]->arg_types[k];
        if (type == SHMLOG_ARG_STR) {
            const uint8_t *bytes = shm_rec_str(row, v);
            size_t len = v & SHMLOG_STR_LEN_MASK;
            if (!bytes || at + 2 + len > SHMLOG_MAX_PAYLOAD)
                return -1;
            rec->payload[at] = (uint8_t)v;
            rec->payload[at + 1] = (uint8_t)(v >> 8);
            memcpy(rec->payload + at + 2, bytes, len);
            at += 2 + len;
            continue;
        }
        unsigned w = shmlog_arg_width(type);
        if (at + w > SHMLOG_MAX_PAYLOAD)
            return -1;
        for (unsigned b = 0; b < w; b++)
            rec->payload[at + b] = (uint8_t)(v >> (8 * b));
        at += w;
    }
    return at == row->payload_len ? 0 : -1; /* the values take what the payload would */
}

/* The events r gives to its end (at most max), in blocks or a record at a
 * time as r was asked (a block's rows counted each as its RECORD event), as
 * prints into *prints (grown with realloc). The count; -1 when a row was not
 * what its site says, or a reader gave the other form; -2 at an error of
 * shlog_reader_next or out of memory. */
static inline long ep_prints(struct shlog_reader *r, int blocks, uint64_t **prints, size_t max)
{
    size_t n = 0, cap = 0;
    struct shlog_event ev;
    static struct shm_copied_record rec;
    int rc;
    while (n < max && (rc = shlog_reader_next(r, &ev)) > 0) {
        if ((blocks && ev.kind == SHLOG_EV_RECORD) || (!blocks && ev.kind == SHLOG_EV_BLOCK))
            return -1;
        uint32_t rows = ev.kind == SHLOG_EV_BLOCK ? ev.block->n : 1;
        for (uint32_t i = 0; i < rows; i++) {
            if (n == cap) {
                uint64_t *p = (uint64_t *)realloc(*prints, (cap = cap ? 2 * cap : 1024) * sizeof **prints);
                if (!p)
                    return -2;
                *prints = p;
            }
            if (ev.kind == SHLOG_EV_BLOCK) {
                struct shlog_event as = ev;
                as.kind = SHLOG_EV_RECORD;
                if (ep_block_row(ev.block, i, &rec) != 0)
                    return -1;
                (*prints)[n++] = ep_event_print(&as, &rec);
            } else {
                (*prints)[n++] = ep_event_print(&ev, ev.rec);
            }
        }
    }
    return n < max && rc < 0 ? -2 : (long)n;
}

#endif /* EVENT_PRINTS_H */
