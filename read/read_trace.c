/*
 * read_trace.c - the trace each thread of a process works for, as its
 * SHMLOG_REC_TRACE records set it (FORMAT.md, "Trace context"): a record of
 * the thread read after one takes its id and span, as it takes the thread's
 * name. Span names are kept once per process for the entries that point to them.
 */
#include "read_engine.h"

#include <errno.h>
#include <stdlib.h>

/* At most this many span names per process: a file with more (only a hostile
 * writer's) has the later ones read as none, its memory bounded. */
#define SPANS_PER_PROC 65536u

/* FNV-1a: the spans' key. */
static uint64_t span_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3u;
    return h;
}

/* p's copy of span (len bytes, as shmlog_thread_name_clean left it): "" when
 * there is no room for another, NULL when out of memory. */
static const char *span_kept(struct dproc *p, const char *span, size_t len)
{
    if (!len)
        return "";
    uint64_t h = span_hash(span, len);
    const char *had = read_hmap_get(&p->spans, h, len);
    if (had)
        return strcmp(had, span) == 0 ? had : ""; /* another span of the same hash: rare enough to show none */
    if (p->nspans >= SPANS_PER_PROC)
        return "";
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, span, len + 1);
    if (read_hmap_put(&p->spans, h, len, copy) != 0) {
        free(copy);
        return NULL;
    }
    p->nspans++;
    return copy;
}

int read_trace_take(struct dproc *p, const struct shm_copied_record *rec)
{
    uint64_t hi, lo;
    const uint8_t *bytes;
    size_t n;
    if (shm_rec_trace(rec, &hi, &lo, &bytes, &n) != 0)
        return 0;
    char clean[SHMLOG_THREAD_NAME_BYTES + 1];
    SHMLOG__STATIC_ASSERT(SHMLOG_TRACE_SPAN_BYTES <= SHMLOG_THREAD_NAME_BYTES, "a span is cleaned as a name is");
    size_t len = shmlog_thread_name_clean((const char *)bytes, n, clean);
    const char *span = span_kept(p, clean, len);
    if (!span)
        return -ENOMEM;
    struct dtrace *t = read_hmap_get(&p->traces, rec->tid, 0);
    if (!t) {
        if (!hi && !lo)
            return 0; /* cleared before any was set */
        if (!(t = malloc(sizeof *t)))
            return -ENOMEM;
        if (read_hmap_put(&p->traces, rec->tid, 0, t) != 0) {
            free(t);
            return -ENOMEM;
        }
    }
    t->hi = hi;
    t->lo = lo;
    t->span = span;
    return 0;
}

void read_trace_free(struct dproc *p)
{
    for (size_t i = 0; i < p->traces.cap; i++)
        free(p->traces.slots ? p->traces.slots[i].v : NULL);
    for (size_t i = 0; i < p->spans.cap; i++)
        free(p->spans.slots ? p->spans.slots[i].v : NULL);
    read_hmap_clear(&p->traces);
    read_hmap_clear(&p->spans);
    p->nspans = 0;
}
