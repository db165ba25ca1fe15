/*
 * dump_trace.c - shmlog-dump trace: one trace's records across processes in
 * time order, each with the time since the trace's first record and since the
 * one before; or, with --stats, the latency of every hop between two steps
 * (a thread setting a trace with a span: shmlog_trace_set) over every trace
 * the files hold in the time range, as percentiles; or, with --export, its
 * spans (or every trace's in the range) for a viewer: Chrome's trace event
 * JSON (chrome://tracing, ui.perfetto.dev) or OTLP JSON (OpenTelemetry).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "read_engine.h"
#include "shmlog_read.h"

/* Hands each record the reader gives to take(ctx, ev), saying damage on the way. */
static void each_record(struct shmlog_read *r, void (*take)(void *ctx, const struct shmlog_read_event *ev), void *ctx)
{
    const struct shmlog_read_event *ev;
    int rc;
    while ((rc = shmlog_read_next(r, &ev)) > 0) {
        if (ev->kind == SHMLOG_READ_ERROR)
            dump_say(ev->error, (ev->flags & SHMLOG_READ_NOTE) != 0);
        else if (ev->kind == SHMLOG_READ_RECORD) /* exits and losses are no part of a trace */
            take(ctx, ev);
    }
    if (rc < 0)
        dump_oom();
}

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

struct one {
    struct shmlog_read *r;
    int json;
    uint64_t first, prev, records;
    char *line; /* RENDER_LINE_MAX + 1 bytes: a longest line is too much for a thread's stack */
};

static void one_record(void *ctx, const struct shmlog_read_event *ev)
{
    struct one *o = ctx;
    if (!o->records++)
        o->first = o->prev = ev->ts_ns;
    char *line = o->line;
    long n = shmlog_read_format(o->r, o->json, line, RENDER_LINE_MAX + 1);
    if (n <= 0)
        return;
    struct render_buf b = out_begin();
    put_offsets(&b, ev->ts_ns - o->first, ev->ts_ns - o->prev, o->json);
    /* a JSON object without its opening brace: the offsets opened it */
    render_buf_put(&b, line + (o->json ? 1 : 0), (size_t)n - (o->json ? 1 : 0));
    out_end(&b);
    o->prev = ev->ts_ns;
}

static int trace_one(struct shmlog_read *r, const struct cli *cli)
{
    struct one o = {r, cli->json, 0, 0, 0, malloc(RENDER_LINE_MAX + 1)};
    if (!o.line) {
        dump_say("out of memory for a line of the trace", 0);
        return 1;
    }
    each_record(r, one_record, &o);
    free(o.line);
    if (!o.records) {
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

static void stats_record(void *ctx, const struct shmlog_read_event *ev)
{
    if ((ev->flags & SHMLOG_READ_TRACE_SET) && ev->span && ev->span[0])
        step(ctx, ev->trace_hi, ev->trace_lo, ev->span, ev->ts_ns);
}

static int trace_stats(struct shmlog_read *r, const struct cli *cli)
{
    struct hops h;
    memset(&h, 0, sizeof h);
    each_record(r, stats_record, &h);
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

/* ==== Spans: --export ==== */

/* A span: a thread's run of records of one trace and span name, from the
 * record that set it to the last before the thread set another or cleared it. */
struct xspan {
    uint64_t hi, lo;
    uint64_t start_ns, end_ns;
    uint64_t id;             /* the OTLP span id: never 0 */
    uint32_t pid, tid, proc; /* proc: index into the export's processes */
    uint32_t span;           /* index into the names */
    uint64_t records;
};

/* The open map's value of a thread whose span ended (the map holds no NULL). */
#define SPAN_CLOSED UINTPTR_MAX

struct xproc {
    char host[SHMLOG_HOST_BYTES + 1], app[SHMLOG_APP_BYTES + 1];
    uint32_t pid;
    uint64_t proc_start;
};

struct export {
    struct xspan *v;
    size_t n, cap;
    struct hmap open;        /* (pid << 32 | tid, proc_start) -> 1 + index of the thread's open span */
    struct xproc *procs;
    size_t nprocs;
    char *name[MAX_SPANS];
    uint32_t nnames;
};

static uint32_t export_proc(struct export *x, const struct shmlog_read_event *ev)
{
    for (size_t i = 0; i < x->nprocs; i++)
        if (x->procs[i].pid == ev->pid && x->procs[i].proc_start == ev->proc_start &&
            strcmp(x->procs[i].host, ev->host) == 0)
            return (uint32_t)i;
    if (!(x->procs = realloc(x->procs, (x->nprocs + 1) * sizeof *x->procs)))
        dump_oom();
    struct xproc *p = &x->procs[x->nprocs];
    snprintf(p->host, sizeof p->host, "%s", ev->host);
    snprintf(p->app, sizeof p->app, "%s", ev->app);
    p->pid = ev->pid;
    p->proc_start = ev->proc_start;
    return (uint32_t)x->nprocs++;
}

/* A span id that names the span the same in every export of the same files. */
static uint64_t span_id_of(const struct xspan *s)
{
    uint64_t h = 0xcbf29ce484222325u;
    const uint64_t words[4] = {s->lo, s->hi, (uint64_t)s->pid << 32 | s->tid, s->start_ns};
    for (int w = 0; w < 4; w++)
        for (int b = 0; b < 64; b += 8)
            h = (h ^ (words[w] >> b & 0xFF)) * 0x100000001b3u;
    return h ? h : 1;
}

static void export_record(void *ctx, const struct shmlog_read_event *ev)
{
    struct export *x = ctx;
    uint64_t k1 = (uint64_t)ev->pid << 32 | ev->tid;
    uintptr_t at = (uintptr_t)read_hmap_get(&x->open, k1, ev->proc_start);
    struct xspan *open = at && at != SPAN_CLOSED ? &x->v[at - 1] : NULL;
    int traced = ev->trace_hi || ev->trace_lo;
    const char *span = traced && ev->span ? ev->span : "";
    if (open && traced && !(ev->flags & SHMLOG_READ_TRACE_SET) && open->hi == ev->trace_hi &&
        open->lo == ev->trace_lo && strcmp(x->name[open->span], span) == 0) {
        open->end_ns = ev->ts_ns;
        open->records++;
        return;
    }
    if (open && read_hmap_put(&x->open, k1, ev->proc_start, (void *)SPAN_CLOSED) != 0)
        dump_oom();
    if (!traced)
        return;
    uint32_t name = MAX_SPANS;
    for (uint32_t i = 0; i < x->nnames && name == MAX_SPANS; i++)
        if (strcmp(x->name[i], span) == 0)
            name = i;
    if (name == MAX_SPANS) {
        if (x->nnames == MAX_SPANS)
            return; /* past the names kept: said by the caller's count */
        if (!(x->name[x->nnames] = strdup(span)))
            dump_oom();
        name = x->nnames++;
    }
    if (x->n == x->cap) {
        x->cap = x->cap ? 2 * x->cap : 256;
        if (!(x->v = realloc(x->v, x->cap * sizeof *x->v)))
            dump_oom();
    }
    struct xspan *s = &x->v[x->n++];
    *s = (struct xspan){ev->trace_hi, ev->trace_lo, ev->ts_ns, ev->ts_ns, 0, ev->pid, ev->tid, export_proc(x, ev),
                        name, 1};
    s->id = span_id_of(s);
    if (read_hmap_put(&x->open, k1, ev->proc_start, (void *)(uintptr_t)x->n) != 0)
        dump_oom();
}

static void put_hex(struct render_buf *b, uint64_t v, int digits)
{
    char s[17];
    snprintf(s, sizeof s, "%0*llx", digits, (unsigned long long)v);
    render_buf_put(b, s, (size_t)digits);
}

static void put_fmt(struct render_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_fmt(struct render_buf *b, const char *fmt, ...)
{
    char s[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s, sizeof s, fmt, ap);
    va_end(ap);
    render_buf_put(b, s, n < (int)sizeof s ? (size_t)n : sizeof s - 1);
}

/* Chrome's trace event format: one complete event ("ph":"X") per span, ts and
 * dur in microseconds from the first span's start (otherData.start_ns), and a
 * process_name metadata event per process. */
static void export_chrome(const struct export *x)
{
    uint64_t t0 = UINT64_MAX;
    for (size_t i = 0; i < x->n; i++)
        if (x->v[i].start_ns < t0)
            t0 = x->v[i].start_ns;
    struct render_buf b = out_begin();
    put_fmt(&b, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"start_ns\":\"%llu\"},\"traceEvents\":[",
            (unsigned long long)(x->n ? t0 : 0));
    out_end(&b);
    for (size_t i = 0; i < x->nprocs; i++) {
        b = out_begin();
        put_fmt(&b, "%s\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%u,\"tid\":0,\"args\":{\"name\":",
                i ? "," : "", x->procs[i].pid);
        char name[SHMLOG_APP_BYTES + SHMLOG_HOST_BYTES + 8];
        int n = snprintf(name, sizeof name, "%s@%s", x->procs[i].app, x->procs[i].host);
        render_json_string(&b, name, (size_t)n);
        render_buf_puts(&b, "}}");
        out_end(&b);
    }
    for (size_t i = 0; i < x->n; i++) {
        const struct xspan *s = &x->v[i];
        char id[33];
        render_trace_id(s->hi, s->lo, id);
        b = out_begin();
        put_fmt(&b, "%s\n{\"name\":", i || x->nprocs ? "," : "");
        render_json_string(&b, x->name[s->span], strlen(x->name[s->span]));
        put_fmt(&b, ",\"cat\":\"shmlog\",\"ph\":\"X\",\"ts\":%llu.%03llu,\"dur\":%llu.%03llu,\"pid\":%u,\"tid\":%u,"
                    "\"args\":{\"trace_id\":\"%s\",\"records\":%llu}}",
                (unsigned long long)((s->start_ns - t0) / 1000), (unsigned long long)((s->start_ns - t0) % 1000),
                (unsigned long long)((s->end_ns - s->start_ns) / 1000),
                (unsigned long long)((s->end_ns - s->start_ns) % 1000), s->pid, s->tid, id,
                (unsigned long long)s->records);
        out_end(&b);
    }
    b = out_begin();
    render_buf_puts(&b, "\n]}\n");
    out_end(&b);
}

static int cmp_span_time(const void *a, const void *b)
{
    const struct xspan *x = a, *y = b;
    return (x->start_ns > y->start_ns) - (x->start_ns < y->start_ns);
}

/* OTLP JSON (opentelemetry-proto's ExportTraceServiceRequest in the JSON
 * mapping): a resource per process (service.name its app, host.name,
 * process.pid), its spans in one scope; a span's parent is the span of the
 * same trace that started before it, so a trace's hops form a chain. */
static void export_otlp(struct export *x)
{
    qsort(x->v, x->n, sizeof *x->v, cmp_span_time);
    struct hmap last;          /* trace id -> 1 + index of its latest span so far */
    memset(&last, 0, sizeof last);
    uint64_t *parent = calloc(x->n ? x->n : 1, sizeof *parent);
    if (!parent)
        dump_oom();
    for (size_t i = 0; i < x->n; i++) {
        uintptr_t at = (uintptr_t)read_hmap_get(&last, x->v[i].hi, x->v[i].lo);
        parent[i] = at ? x->v[at - 1].id : 0;
        if (read_hmap_put(&last, x->v[i].hi, x->v[i].lo, (void *)(uintptr_t)(i + 1)) != 0)
            dump_oom();
    }
    read_hmap_clear(&last);
    struct render_buf b = out_begin();
    render_buf_puts(&b, "{\"resourceSpans\":[");
    out_end(&b);
    for (size_t p = 0; p < x->nprocs; p++) {
        b = out_begin();
        put_fmt(&b, "%s\n{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":",
                p ? "," : "");
        render_json_string(&b, x->procs[p].app, strlen(x->procs[p].app));
        render_buf_puts(&b, "}},{\"key\":\"host.name\",\"value\":{\"stringValue\":");
        render_json_string(&b, x->procs[p].host, strlen(x->procs[p].host));
        put_fmt(&b, "}},{\"key\":\"process.pid\",\"value\":{\"intValue\":\"%u\"}}]},"
                    "\"scopeSpans\":[{\"scope\":{\"name\":\"shmlog\"},\"spans\":[",
                x->procs[p].pid);
        out_end(&b);
        int first = 1;
        for (size_t i = 0; i < x->n; i++) {
            const struct xspan *s = &x->v[i];
            if (s->proc != p)
                continue;
            b = out_begin();
            render_buf_puts(&b, first ? "\n{\"traceId\":\"" : ",\n{\"traceId\":\"");
            first = 0;
            put_hex(&b, s->hi, 16);
            put_hex(&b, s->lo, 16);
            render_buf_puts(&b, "\",\"spanId\":\"");
            put_hex(&b, s->id, 16);
            if (parent[i]) {
                render_buf_puts(&b, "\",\"parentSpanId\":\"");
                put_hex(&b, parent[i], 16);
            }
            render_buf_puts(&b, "\",\"name\":");
            render_json_string(&b, x->name[s->span], strlen(x->name[s->span]));
            put_fmt(&b, ",\"kind\":1,\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\","
                        "\"attributes\":[{\"key\":\"thread.id\",\"value\":{\"intValue\":\"%u\"}},"
                        "{\"key\":\"shmlog.records\",\"value\":{\"intValue\":\"%llu\"}}]}",
                    (unsigned long long)s->start_ns, (unsigned long long)s->end_ns, s->tid,
                    (unsigned long long)s->records);
            out_end(&b);
        }
        b = out_begin();
        render_buf_puts(&b, "]}]}");
        out_end(&b);
    }
    b = out_begin();
    render_buf_puts(&b, "\n]}\n");
    out_end(&b);
    free(parent);
}

static int trace_export(struct shmlog_read *r, const struct cli *cli)
{
    struct export x;
    memset(&x, 0, sizeof x);
    each_record(r, export_record, &x);
    if (strcmp(cli->trace_export, "chrome") == 0)
        export_chrome(&x);
    else
        export_otlp(&x);
    int status = 0;
    if (!x.n && cli->trace_arg) {
        char msg[128];
        snprintf(msg, sizeof msg, "no record of trace %s in the files", cli->trace_arg);
        dump_say(msg, 0);
        status = 1;
    }
    free(x.v);
    free(x.procs);
    for (uint32_t i = 0; i < x.nnames; i++)
        free(x.name[i]);
    read_hmap_clear(&x.open);
    return status;
}

int cmd_trace(struct cli *cli)
{
    if (cli->trace_export && strcmp(cli->trace_export, "chrome") != 0 && strcmp(cli->trace_export, "otlp") != 0)
        usage_error("--export wants chrome or otlp, not '%s'", cli->trace_export);
    if (cli->trace_export && cli->trace_stats)
        usage_error("trace: --export or --stats, not both");
    uint64_t hi, lo;
    int every = cli->trace_stats || (cli->trace_export && (cli->npositional < 1 ||
                                                           read_trace_id_parse(cli->positional[0], &hi, &lo) != 0));
    if (!every) { /* the trace ID names: --export ID, or its records */
        if (cli->npositional < 1)
            usage_error("trace wants a trace id (hex, up to 32 digits), or --stats");
        struct read_filter *f = &cli->filter;
        if (read_trace_id_parse(cli->positional[0], &f->trace_hi, &f->trace_lo) != 0)
            usage_error("trace wants a trace id of 1 to 32 hex digits, not 0, not '%s'", cli->positional[0]);
        cli->trace_arg = cli->positional[0];
        cli->positional++;
        cli->npositional--;
    } else if (cli->trace_arg && cli->trace_stats) {
        usage_error("trace --stats is over every trace: no --trace");
    }
    int status;
    struct shmlog_read *r = dump_read_open(cli, &status);
    if (!r)
        return status ? status : 1;
    int rc = cli->trace_export ? trace_export(r, cli) : cli->trace_stats ? trace_stats(r, cli) : trace_one(r, cli);
    if (shmlog_read_had_errors(r))
        status = 1;
    shmlog_read_close(r);
    return rc ? rc : status;
}
