/*
 * dump_trace.c - shmlog-dump trace: one trace's records across processes in
 * time order, each with the time since the trace's first record and since the
 * one before; or, with --stats, the latency of every hop between two steps
 * (a thread setting a trace with a span: shmlog_trace_set) over every trace
 * the files hold in the time range, as percentiles.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "read_engine.h"
#include "shmlog_read.h"

/* ==== One trace ==== */

/* " +<us since first> +<us since previous> " before a text line; the two as
 * keys ahead of the others in a JSON object. */
static void put_offsets(struct render_buf *b, uint64_t since_first, uint64_t since_prev, int json)
{
    char head[96];
    int n = json ? snprintf(head, sizeof head, "{\"since_first_ns\":%llu,\"since_prev_ns\":%llu,",
                            (unsigned long long)since_first, (unsigned long long)since_prev)
                 : snprintf(head, sizeof head, "+%14.3fus +%12.3fus ", (double)since_first / 1e3,
                            (double)since_prev / 1e3);
    render_buf_put(b, head, (size_t)n);
}

static int trace_one(struct shmlog_read *r, const struct cli *cli)
{
    const struct shmlog_read_event *ev;
    uint64_t first = 0, prev = 0, records = 0;
    int rc;
    while ((rc = shmlog_read_next(r, &ev)) > 0) {
        if (ev->kind == SHMLOG_READ_ERROR) {
            dump_say(ev->error, (ev->flags & SHMLOG_READ_NOTE) != 0);
            continue;
        }
        if (ev->kind != SHMLOG_READ_RECORD)
            continue; /* exits and losses of the processes are no part of the trace */
        if (!records++)
            first = prev = ev->ts_ns;
        char line[RENDER_LINE_MAX + 1];
        long n = shmlog_read_format(r, cli->json, line, sizeof line);
        if (n <= 0)
            continue;
        struct render_buf b = out_begin();
        put_offsets(&b, ev->ts_ns - first, ev->ts_ns - prev, cli->json);
        /* a JSON object without its opening brace: the offsets opened it */
        render_buf_put(&b, line + (cli->json ? 1 : 0), (size_t)n - (cli->json ? 1 : 0));
        out_end(&b);
        prev = ev->ts_ns;
    }
    if (rc < 0)
        dump_oom();
    if (!records) {
        char msg[128];
        snprintf(msg, sizeof msg, "no record of trace %s in the files", cli->trace_arg);
        dump_say(msg, 0);
        return 1;
    }
    return 0;
}

/* ==== Hops: --stats ==== */

#define MAX_SPANS 1024u /* distinct span names kept; a step of another is not counted */

/* The latencies of one hop, from span `from` to span `to`. */
struct hop {
    uint32_t from, to;
    uint64_t *ns;
    size_t n, cap;
};

struct hops {
    char *span[MAX_SPANS];
    uint32_t nspans;
    struct hop *v;
    size_t n, cap;
    struct hmap at;       /* (from, to) -> 1 + index into v */
    struct hmap traces;   /* trace id -> its struct trace_state */
    uint64_t steps, skipped;
};

/* A trace's last step, and its first (the end-to-end latency). */
struct trace_state {
    uint32_t span;
    uint64_t last_ns, first_ns;
};

/* The index of span name s (NUL-terminated), added when new: MAX_SPANS when full. */
static uint32_t span_index(struct hops *h, const char *s)
{
    for (uint32_t i = 0; i < h->nspans; i++)
        if (strcmp(h->span[i], s) == 0)
            return i;
    if (h->nspans == MAX_SPANS)
        return MAX_SPANS;
    if (!(h->span[h->nspans] = strdup(s)))
        dump_oom();
    return h->nspans++;
}

static void hop_add(struct hops *h, uint32_t from, uint32_t to, uint64_t ns)
{
    uintptr_t at = (uintptr_t)read_hmap_get(&h->at, from, to);
    if (!at) {
        if (h->n == h->cap) {
            h->cap = h->cap ? 2 * h->cap : 16;
            if (!(h->v = realloc(h->v, h->cap * sizeof *h->v)))
                dump_oom();
        }
        h->v[h->n] = (struct hop){from, to, NULL, 0, 0};
        at = ++h->n;
        if (read_hmap_put(&h->at, from, to, (void *)at) != 0)
            dump_oom();
    }
    struct hop *p = &h->v[at - 1];
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        if (!(p->ns = realloc(p->ns, p->cap * sizeof *p->ns)))
            dump_oom();
    }
    p->ns[p->n++] = ns;
}

/* A step of trace (hi, lo) into span at ts: the hop from its last step when
 * the span changed. Steps come in time order (the reader merges them). */
static void step(struct hops *h, uint64_t hi, uint64_t lo, const char *span, uint64_t ts)
{
    uint32_t s = span_index(h, span);
    if (s == MAX_SPANS) {
        h->skipped++;
        return;
    }
    h->steps++;
    struct trace_state *t = read_hmap_get(&h->traces, hi, lo);
    if (!t) {
        if (!(t = malloc(sizeof *t)) || read_hmap_put(&h->traces, hi, lo, t) != 0)
            dump_oom();
        *t = (struct trace_state){s, ts, ts};
        return;
    }
    if (t->span == s)
        return; /* the same step again (another thread of it): the hop began at the first */
    hop_add(h, t->span, s, ts - t->last_ns);
    t->span = s;
    t->last_ns = ts;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank percentile per_mille / 1000 of n sorted values: the
 * smallest value that at least that share of them does not exceed. */
static uint64_t percentile(const uint64_t *sorted, size_t n, unsigned per_mille)
{
    size_t rank = (n * per_mille + 999) / 1000;
    return sorted[rank ? rank - 1 : 0];
}

static void print_hop(const struct hops *h, const char *from, const char *to, uint64_t *ns, size_t n, int json)
{
    qsort(ns, n, sizeof *ns, cmp_u64);
    uint64_t p50 = percentile(ns, n, 500), p99 = percentile(ns, n, 990), p999 = percentile(ns, n, 999);
    struct render_buf b = out_begin();
    char line[256];
    int k;
    (void)h;
    if (json) {
        render_buf_puts(&b, "{\"from\":");
        render_json_string(&b, from, strlen(from));
        render_buf_puts(&b, ",\"to\":");
        render_json_string(&b, to, strlen(to));
        k = snprintf(line, sizeof line,
                     ",\"count\":%zu,\"p50_ns\":%llu,\"p99_ns\":%llu,\"p999_ns\":%llu,\"max_ns\":%llu}\n", n,
                     (unsigned long long)p50, (unsigned long long)p99, (unsigned long long)p999,
                     (unsigned long long)ns[n - 1]);
    } else {
        char hop[2 * SHMLOG_TRACE_SPAN_BYTES + 8];
        snprintf(hop, sizeof hop, "%s -> %s", from, to);
        k = snprintf(line, sizeof line, "%-40s %9zu %12.3f %12.3f %12.3f %12.3f\n", hop, n, (double)p50 / 1e3,
                     (double)p99 / 1e3, (double)p999 / 1e3, (double)ns[n - 1] / 1e3);
    }
    render_buf_put(&b, line, (size_t)k);
    out_end(&b);
}

static int trace_stats(struct shmlog_read *r, const struct cli *cli)
{
    struct hops h;
    memset(&h, 0, sizeof h);
    const struct shmlog_read_event *ev;
    int rc;
    while ((rc = shmlog_read_next(r, &ev)) > 0) {
        if (ev->kind == SHMLOG_READ_ERROR)
            dump_say(ev->error, (ev->flags & SHMLOG_READ_NOTE) != 0);
        else if (ev->kind == SHMLOG_READ_RECORD && (ev->flags & SHMLOG_READ_TRACE_SET) && ev->span && ev->span[0])
            step(&h, ev->trace_hi, ev->trace_lo, ev->span, ev->ts_ns);
    }
    if (rc < 0)
        dump_oom();
    if (!cli->json) {
        struct render_buf b = out_begin();
        char line[256];
        int k = snprintf(line, sizeof line, "%-40s %9s %12s %12s %12s %12s\n", "hop (us)", "count", "p50", "p99",
                         "p99.9", "max");
        render_buf_put(&b, line, (size_t)k);
        out_end(&b);
    }
    for (size_t i = 0; i < h.n; i++)
        print_hop(&h, h.span[h.v[i].from], h.span[h.v[i].to], h.v[i].ns, h.v[i].n, cli->json);
    /* first step to last of every trace with more than one */
    uint64_t *total = NULL;
    size_t ntotal = 0;
    for (size_t i = 0; i < h.traces.cap; i++) {
        struct trace_state *t = h.traces.slots ? h.traces.slots[i].v : NULL;
        if (!t)
            continue;
        if (t->last_ns > t->first_ns) {
            if (!(total = realloc(total, (ntotal + 1) * sizeof *total)))
                dump_oom();
            total[ntotal++] = t->last_ns - t->first_ns;
        }
        free(t);
    }
    if (ntotal)
        print_hop(&h, "first", "last", total, ntotal, cli->json);
    if (h.skipped) {
        char msg[160];
        snprintf(msg, sizeof msg, "%llu steps of spans past the first %u names were not counted",
                 (unsigned long long)h.skipped, MAX_SPANS);
        dump_say(msg, 1);
    }
    free(total);
    for (size_t i = 0; i < h.n; i++)
        free(h.v[i].ns);
    free(h.v);
    for (uint32_t i = 0; i < h.nspans; i++)
        free(h.span[i]);
    read_hmap_clear(&h.at);
    read_hmap_clear(&h.traces);
    return 0;
}

int cmd_trace(struct cli *cli)
{
    if (!cli->trace_stats) {
        if (cli->npositional < 1)
            usage_error("trace wants a trace id (hex, up to 32 digits), or --stats");
        struct read_filter *f = &cli->filter;
        if (read_trace_id_parse(cli->positional[0], &f->trace_hi, &f->trace_lo) != 0)
            usage_error("trace wants a trace id of 1 to 32 hex digits, not 0, not '%s'", cli->positional[0]);
        cli->trace_arg = cli->positional[0];
        cli->positional++;
        cli->npositional--;
    } else if (cli->trace_arg) {
        usage_error("trace --stats is over every trace: no --trace");
    }
    int status;
    struct shmlog_read *r = dump_read_open(cli, &status);
    if (!r)
        return status ? status : 1;
    int rc = cli->trace_stats ? trace_stats(r, cli) : trace_one(r, cli);
    if (shmlog_read_had_errors(r))
        status = 1;
    shmlog_read_close(r);
    return rc ? rc : status;
}
