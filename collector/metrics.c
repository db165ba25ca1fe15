/*
 * metrics.c - the collector's metrics: snapshot exchange, text exposition
 * format, the libmicrohttpd endpoint and the node_exporter textfile writer.
 * See metrics.h for the threading. Without libmicrohttpd (meson -Dmetrics=disabled,
 * or not found) SHMLOG_HAVE_MICROHTTPD is 0: no HTTP endpoint, the textfile stays.
 */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#if SHMLOG_HAVE_MICROHTTPD
#include <microhttpd.h>
#endif
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "names.h"

#define PROG "shmlog-collector"

static struct {
    int enabled;
    pthread_mutex_t swap_lock;  /* held for a pointer swap only; the drain loop only try-locks it */
    pthread_mutex_t read_lock;  /* one reader formats front at a time */
    struct metrics_snapshot bufs[3];
    struct metrics_snapshot *stage, *ready, *front;
    int fresh;                  /* ready holds a snapshot no reader took yet */
#if SHMLOG_HAVE_MICROHTTPD
    struct MHD_Daemon *http;
#endif
    pthread_t http_thread;      /* runs libmicrohttpd and the slow-client sweep */
    int http_thread_running;
    int http_stopping;
    const char *file;
    unsigned interval_s;
    pthread_t file_thread;
    int file_thread_running;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    int stopping;
    int file_error;             /* errno of the last failed write, reported once */
} M = {
    .swap_lock = PTHREAD_MUTEX_INITIALIZER,
    .read_lock = PTHREAD_MUTEX_INITIALIZER,
    .stop_lock = PTHREAD_MUTEX_INITIALIZER,
};

/* ==== Snapshots ==== */

int metrics_enabled(void)
{
    return M.enabled;
}

struct metrics_snapshot *metrics_stage(void)
{
    if (!M.enabled)
        return NULL;
    M.stage->nrings = 0;
    M.stage->nprocs = 0;
    memset(&M.stage->totals, 0, sizeof(M.stage->totals));
    return M.stage;
}

/* Grows an array of entries by one zeroed entry. */
static void *add_entry(void **arr, size_t *n, size_t *cap, size_t size)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        void *nv = realloc(*arr, ncap * size);
        if (!nv)
            return NULL;
        *arr = nv;
        *cap = ncap;
    }
    void *e = (char *)*arr + *n * size;
    memset(e, 0, size);
    (*n)++;
    return e;
}

struct metrics_ring *metrics_add_ring(struct metrics_snapshot *s)
{
    return add_entry((void **)&s->rings, &s->nrings, &s->rings_cap, sizeof(*s->rings));
}

struct metrics_proc *metrics_add_proc(struct metrics_snapshot *s)
{
    return add_entry((void **)&s->procs, &s->nprocs, &s->procs_cap, sizeof(*s->procs));
}

int metrics_publish(int wait)
{
    if (!M.enabled)
        return 0;
    if (wait)
        pthread_mutex_lock(&M.swap_lock);
    else if (pthread_mutex_trylock(&M.swap_lock) != 0)
        return 0;
    struct metrics_snapshot *t = M.ready;
    M.ready = M.stage;
    M.stage = t;
    M.fresh = 1;
    pthread_mutex_unlock(&M.swap_lock);
    return 1;
}

/* Reader: the newest published snapshot as text. Holds read_lock throughout,
 * swap_lock only for the swap. */
static char *format_latest(size_t *len)
{
    pthread_mutex_lock(&M.read_lock);
    pthread_mutex_lock(&M.swap_lock);
    if (M.fresh) {
        struct metrics_snapshot *t = M.front;
        M.front = M.ready;
        M.ready = t;
        M.fresh = 0;
    }
    pthread_mutex_unlock(&M.swap_lock);
    char *text = metrics_format(M.front, len);
    pthread_mutex_unlock(&M.read_lock);
    return text;
}

/* ==== Text exposition format ==== */

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t min, cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2, min = 0x80, cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3, min = 0x800, cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4, min = 0x10000, cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* A label value: the format escapes backslash, double quote and newline; it
 * must be UTF-8, so invalid bytes (the app name comes from a file name any
 * local user may choose) become U+FFFD and other control bytes '?'. */
static void put_label_value(FILE *out, const char *value)
{
    const unsigned char *s = (const unsigned char *)value;
    size_t n = strlen(value);
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c == '\\' || c == '"') {
            fputc('\\', out);
            fputc(c, out);
        } else if (c == '\n') {
            fputs("\\n", out);
        } else if (c < 0x20 || c == 0x7F) {
            fputc('?', out);
        } else if (c >= 0x80) {
            size_t len = utf8_seq(s + i, n - i);
            if (len) {
                fwrite(s + i, 1, len, out);
                i += len;
                continue;
            }
            fputs("\xEF\xBF\xBD", out);
        } else {
            fputc(c, out);
        }
        i++;
    }
}

/* A gauge value as Prometheus reads it: finite, shortest sensible form. */
static void put_double(FILE *out, double v)
{
    if (!(v == v) || v > 1e300 || v < -1e300)
        v = 0;
    fprintf(out, "%.9g\n", v);
}

static int ring_cmp(const void *a, const void *b)
{
    const struct metrics_ring *x = a, *y = b;
    int c = strcmp(x->app, y->app);
    if (c)
        return c;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return x->cpu < y->cpu ? -1 : x->cpu > y->cpu;
}

static int proc_cmp(const void *a, const void *b)
{
    const struct metrics_proc *x = a, *y = b;
    int c = strcmp(x->app, y->app);
    if (c)
        return c;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* A family's samples: name is the family's, arg what the row of families[] says of it. */
typedef void put_samples_fn(FILE *out, const struct metrics_snapshot *s, const char *name, size_t arg);

enum ring_field { RF_RECORDS, RF_BYTES, RF_DROPPED, RF_FILL, RF_LAG };

static void put_ring_samples(FILE *out, const struct metrics_snapshot *s, const char *name, size_t field)
{
    for (size_t i = 0; i < s->nrings; i++) {
        const struct metrics_ring *r = &s->rings[i];
        /* Two entries with one label set (a pid reused while the old
         * process's segments are still drained) would make the whole scrape
         * invalid: the first one stands for both. */
        if (i && ring_cmp(r, &s->rings[i - 1]) == 0)
            continue;
        fprintf(out, "%s{app=\"", name);
        put_label_value(out, r->app);
        fprintf(out, "\",pid=\"%" PRIu32 "\",cpu=\"%" PRIu32 "\"} ", r->pid, r->cpu);
        switch (field) {
        case RF_RECORDS: fprintf(out, "%" PRIu64 "\n", r->records); break;
        case RF_BYTES: fprintf(out, "%" PRIu64 "\n", r->payload_bytes); break;
        case RF_DROPPED: fprintf(out, "%" PRIu64 "\n", r->dropped); break;
        case RF_FILL: put_double(out, r->fill_ratio); break;
        default: put_double(out, r->lag_seconds); break;
        }
    }
}

enum proc_field { PF_CALL_SITES, PF_LEVEL, PF_OUT_OF_RANGE };

static void put_proc_samples(FILE *out, const struct metrics_snapshot *s, const char *name, size_t field)
{
    for (size_t i = 0; i < s->nprocs; i++) {
        const struct metrics_proc *p = &s->procs[i];
        if (i && proc_cmp(p, &s->procs[i - 1]) == 0)
            continue;
        fprintf(out, "%s{app=\"", name);
        put_label_value(out, p->app);
        fprintf(out, "\",pid=\"%" PRIu32 "\"} ", p->pid);
        if (field == PF_OUT_OF_RANGE)
            fprintf(out, "%" PRIu64 "\n", p->out_of_range);
        else
            fprintf(out, "%" PRIu32 "\n", field == PF_LEVEL ? p->level : p->call_sites);
    }
}

/* Per category of each process (labels app, pid, category): arg 1 its level, 0 its records. */
static void put_category_samples(FILE *out, const struct metrics_snapshot *s, const char *name, size_t level)
{
    for (size_t i = 0; i < s->nprocs; i++) {
        const struct metrics_proc *p = &s->procs[i];
        if (i && proc_cmp(p, &s->procs[i - 1]) == 0)
            continue;
        for (uint32_t c = 0; c < p->ncats && c < SHMLOG_MAX_CATEGORIES; c++) {
            fprintf(out, "%s{app=\"", name);
            put_label_value(out, p->app);
            fprintf(out, "\",pid=\"%" PRIu32 "\",category=\"", p->pid);
            put_label_value(out, p->cats[c].name);
            if (level)
                fprintf(out, "\"} %" PRIu32 "\n", p->cats[c].level);
            else
                fprintf(out, "\"} %" PRIu64 "\n", p->cats[c].records);
        }
    }
}

/* The host's clocks and the collector's anchors. A snapshot staged before
 * the collector filled them holds zeros throughout: then every family keeps
 * its HELP and TYPE lines (the set of families never changes) and has no
 * sample, as does a value the kernel did not report (-1, "" or a rate of 0):
 * a dashboard sees "absent", never a 0 that means "not invariant" or "not
 * synchronised". */
static int clock_filled(const struct metrics_clock *c)
{
    /* Field by field: padding copied with the struct may hold anything. */
    return c->tsc_invariant || c->synchronized || c->esterror_ns || c->maxerror_ns || c->clocksource[0] ||
           c->anchors || c->steps || c->last_err_ns || c->tsc_hz != 0;
}

enum clock_field { CK_INVARIANT, CK_INFO, CK_SYNCED, CK_ESTERROR, CK_MAXERROR, CK_HZ, CK_ANCHOR_ERROR, CK_ANCHORS, CK_STEPS };

static void put_clock_samples(FILE *out, const struct metrics_snapshot *s, const char *name, size_t field)
{
    const struct metrics_clock *c = &s->clock;
    int filled = clock_filled(c);
    int kernel = filled && c->synchronized >= 0; /* adjtimex answered */
    switch (field) {
    case CK_INVARIANT:
        if (filled && c->tsc_invariant >= 0)
            fprintf(out, "%s %d\n", name, c->tsc_invariant ? 1 : 0);
        break;
    case CK_INFO:
        if (filled && c->clocksource[0]) {
            char cs[sizeof(c->clocksource) + 1];
            memcpy(cs, c->clocksource, sizeof(c->clocksource));
            cs[sizeof(c->clocksource)] = '\0';
            fprintf(out, "%s{clocksource=\"", name);
            put_label_value(out, cs);
            fputs("\"} 1\n", out);
        }
        break;
    case CK_SYNCED:
        if (kernel)
            fprintf(out, "%s %d\n", name, c->synchronized ? 1 : 0);
        break;
    case CK_ESTERROR:
    case CK_MAXERROR:
        if (kernel) {
            fprintf(out, "%s ", name);
            put_double(out, (double)(field == CK_ESTERROR ? c->esterror_ns : c->maxerror_ns) / 1e9);
        }
        break;
    case CK_HZ:
        if (filled && c->tsc_hz > 0) {
            fprintf(out, "%s ", name);
            put_double(out, c->tsc_hz);
        }
        break;
    case CK_ANCHOR_ERROR:
        if (filled && c->anchors) {
            fprintf(out, "%s ", name);
            put_double(out, (double)c->last_err_ns / 1e9);
        }
        break;
    default:
        if (filled)
            fprintf(out, "%s %" PRIu64 "\n", name, field == CK_ANCHORS ? c->anchors : c->steps);
        break;
    }
}

/* A counter of the totals: arg is its offset in struct metrics_totals. */
static void put_total(FILE *out, const struct metrics_snapshot *s, const char *name, size_t offset)
{
    uint64_t v;
    memcpy(&v, (const char *)&s->totals + offset, sizeof(v));
    fprintf(out, "%s %" PRIu64 "\n", name, v);
}

enum total_double { TD_COMPRESSION, TD_CPU };

static void put_total_double(FILE *out, const struct metrics_snapshot *s, const char *name, size_t which)
{
    const struct metrics_totals *t = &s->totals;
    fprintf(out, "%s ", name);
    if (which == TD_COMPRESSION)
        put_double(out, t->written_bytes ? (double)t->record_bytes / (double)t->written_bytes : 0.0);
    else
        put_double(out, t->cpu_seconds);
}

static void put_losses(FILE *out, const struct metrics_snapshot *s, const char *name, size_t unused)
{
    (void)unused;
    for (unsigned reason = SHM_LOSS_DROPPED; reason <= SHM_LOSS_REASON_MAX; reason++)
        if (reason != SHM_LOSS_UNREADABLE && reason != SHM_LOSS_UNDECODABLE) /* readers' own */
            fprintf(out, "%s{reason=\"%s\"} %" PRIu64 "\n", name, shm_loss_reason_name(reason), s->totals.losses[reason]);
}

#define TOTAL(field) put_total, offsetof(struct metrics_totals, field)

/* Every family, in the order of the exposition: its HELP and TYPE lines, then its samples. */
static const struct family {
    const char *name, *type, *help;
    put_samples_fn *put;
    size_t arg;
} families[] = {
    {"shmlog_ring_records_total", "counter", "Records drained from the ring.", put_ring_samples, RF_RECORDS},
    {"shmlog_ring_bytes_total", "counter", "Payload bytes of the records drained from the ring.", put_ring_samples, RF_BYTES},
    {"shmlog_ring_dropped_records_total", "counter",
     "Records the producer dropped because the ring was full (the ring's own counter).", put_ring_samples, RF_DROPPED},
    {"shmlog_ring_fill_ratio", "gauge", "Used fraction of the ring, (head - tail) / capacity.", put_ring_samples, RF_FILL},
    {"shmlog_ring_lag_seconds", "gauge", "Age of the oldest record not yet drained from the ring, 0 when there is none.",
     put_ring_samples, RF_LAG},
    {"shmlog_process_call_sites", "gauge", "Call sites the process registered.", put_proc_samples, PF_CALL_SITES},
    {"shmlog_process_level", "gauge", "Live log level of the process (0 TRACE .. 5 FATAL, 6 OFF).", put_proc_samples, PF_LEVEL},
    {"shmlog_process_out_of_range_total", "counter",
     "Calls whose level or category was out of range, written as FATAL or none and flagged clamped.", put_proc_samples,
     PF_OUT_OF_RANGE},
    {"shmlog_category_level", "gauge", "Live log level of one category of the process (0 TRACE .. 5 FATAL, 6 OFF).",
     put_category_samples, 1},
    {"shmlog_category_records_total", "counter", "Records of one category of the process drained.", put_category_samples, 0},
    {"shmlog_clock_tsc_invariant", "gauge",
     "1 when the cpus say constant_tsc and nonstop_tsc (an invariant TSC), 0 when not; absent if unknown.",
     put_clock_samples, CK_INVARIANT},
    {"shmlog_clock_info", "gauge", "The kernel's current clocksource, in the label; always 1.", put_clock_samples, CK_INFO},
    {"shmlog_clock_synchronized", "gauge",
     "1 when the kernel says the system clock is synchronised (adjtimex), 0 when not; absent if unknown.",
     put_clock_samples, CK_SYNCED},
    {"shmlog_clock_estimated_error_seconds", "gauge", "The kernel's estimated error of the system clock (adjtimex esterror).",
     put_clock_samples, CK_ESTERROR},
    {"shmlog_clock_max_error_seconds", "gauge", "The kernel's maximum error of the system clock (adjtimex maxerror).",
     put_clock_samples, CK_MAXERROR},
    {"shmlog_clock_tsc_hz", "gauge", "TSC ticks per second of the system clock, as the collector measured it.",
     put_clock_samples, CK_HZ},
    {"shmlog_clock_anchor_error_seconds", "gauge", "Error bound of the collector's last TSC-to-wall-clock anchor.",
     put_clock_samples, CK_ANCHOR_ERROR},
    {"shmlog_clock_anchors_total", "counter", "TSC-to-wall-clock anchors the collector took.", put_clock_samples, CK_ANCHORS},
    {"shmlog_clock_steps_total", "counter", "Steps of the system clock (set, not slewed) the collector's anchors saw.",
     put_clock_samples, CK_STEPS},
    {"shmlog_collector_files_total", "counter", "Output files opened.", TOTAL(files)},
    {"shmlog_collector_written_bytes_total", "counter", "Compressed bytes written to output files.", TOTAL(written_bytes)},
    {"shmlog_collector_fast_frames_total", "counter", "Frames compressed at --zstd-fast-level while a ring was filling.",
     TOTAL(fast_frames)},
    {"shmlog_collector_records_total", "counter", "Records written to output files.", TOTAL(records)},
    {"shmlog_collector_compression_ratio", "gauge",
     "Ring bytes of the records (64 per slot) per compressed byte written, since start.", put_total_double, TD_COMPRESSION},
    {"shmlog_collector_write_errors_total", "counter", "Failed writes or fsyncs (retried; their records stay in their rings).",
     TOTAL(write_errors)},
    {"shmlog_collector_rotations_total", "counter", "Output files closed and replaced by a new one.", TOTAL(rotations)},
    {"shmlog_collector_unshipped_removed_total", "counter",
     "Closed files --max-bytes removed before shmlog-ship (--ship-state) had shipped them.", TOTAL(unshipped_removed)},
    {"shmlog_collector_cpu_seconds_total", "counter", "CPU time of the collector process, user and system.", put_total_double,
     TD_CPU},
    {"shmlog_collector_segments_rejected_total", "counter", "Segments ignored: owned by a uid not allowed, or failed validation.",
     TOTAL(segments_rejected)},
    {"shmlog_backtrace_written_total", "counter",
     "Backtrace records (kept below the live level) written at a trigger or a request.", TOTAL(backtrace_written)},
    {"shmlog_backtrace_discarded_total", "counter",
     "Backtrace records pushed out of a full buffer before a trigger: never meant to be written, not losses.",
     TOTAL(backtrace_discarded)},
    {"shmlog_backtrace_requests_total", "counter", "Backtrace requests (shmlog-dump backtrace) answered.",
     TOTAL(backtrace_requests)},
    {"shmlog_collector_losses_total", "counter", "Records known lost, by reason.", put_losses, 0},
};

char *metrics_format(struct metrics_snapshot *s, size_t *len)
{
    char *text = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&text, &n);
    if (!out)
        return NULL;
    if (s->nrings)
        qsort(s->rings, s->nrings, sizeof(*s->rings), ring_cmp);
    if (s->nprocs)
        qsort(s->procs, s->nprocs, sizeof(*s->procs), proc_cmp);
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        const struct family *f = &families[i];
        fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, f->type);
        f->put(out, s, f->name, f->arg);
    }
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    *len = n;
    return text;
}

/* ==== Listen address ==== */

static int is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

int metrics_parse_listen(const char *arg, int allow_remote, struct sockaddr_storage *out, char *err,
                         size_t errcap)
{
    char host[256];
    const char *colon = strrchr(arg, ':');
    const char *port = colon ? colon + 1 : NULL;
    size_t hlen = colon ? (size_t)(colon - arg) : 0;
    if (!colon || hlen == 0 || hlen >= sizeof(host) || !*port || strspn(port, "0123456789") != strlen(port) ||
        strlen(port) > 5 || atoi(port) > 65535) {
        snprintf(err, errcap, "--metrics-listen: expected ADDR:PORT (e.g. 127.0.0.1:9464), got '%s'", arg);
        return -EINVAL;
    }
    memcpy(host, arg, hlen);
    host[hlen] = '\0';
    if (host[0] == '[') { /* [v6]:port */
        if (hlen < 3 || host[hlen - 1] != ']') {
            snprintf(err, errcap, "--metrics-listen: bad IPv6 address in '%s'", arg);
            return -EINVAL;
        }
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    struct addrinfo hints = {.ai_flags = AI_NUMERICSERV | AI_PASSIVE, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || !res || res->ai_addrlen > sizeof(*out)) {
        snprintf(err, errcap, "--metrics-listen: cannot resolve '%s': %s", host,
                 rc ? gai_strerror(rc) : "no address");
        if (res)
            freeaddrinfo(res);
        return -EINVAL;
    }
    memset(out, 0, sizeof(*out));
    memcpy(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (!allow_remote && !is_loopback((struct sockaddr *)out)) {
        snprintf(err, errcap,
                 "--metrics-listen %s: not a loopback address; the endpoint has no authentication "
                 "(add --metrics-allow-remote to listen there anyway)", arg);
        return -EINVAL;
    }
    return 0;
}

#if SHMLOG_HAVE_MICROHTTPD
/* ==== Slow clients (the HTTP thread) ==== */

/* A client that trickles its request resets libmicrohttpd's idle timeout with
 * every byte, and a local attacker shares the scraper's address: so a request
 * must be complete within a deadline of its connection's accept (or of the
 * previous response on a kept-alive connection), and a new connection evicts
 * the oldest one still waiting for its request when its address, or the
 * server, has too many. Every list and callback below runs on the HTTP thread. */
#define HTTP_DEADLINE_MS 3000       /* a scraper sends its request in one round trip */
/* Connections waiting for their request, of one address and of all: room
 * enough that the oldest one evicted by a burst of reconnections is an old
 * trickler, not a scraper accepted a few milliseconds ago. */
#define HTTP_WAITING_PER_ADDR 128
#define HTTP_WAITING_MAX 256
#define HTTP_PER_ADDR_LIMIT 192     /* libmicrohttpd refuses more from one address (a backstop) */
#define HTTP_CONNECTION_LIMIT 384   /* room for answered and evicted ones above the waiting */
#define HTTP_IDLE_TIMEOUT_S 10      /* a response the client does not read */
#define HTTP_SWEEP_MS 250

struct http_client {
    struct http_client *prev, *next; /* in clients, oldest since_ms first */
    int fd;
    int family;
    unsigned char addr[16];          /* the client's IP address, the per-address key */
    uint64_t since_ms;               /* accept, or the end of the previous response */
    int answered;                    /* a response is queued: the deadline is met */
    int evicted;                     /* shut down; libmicrohttpd closes it on its next turn */
};

static struct {
    struct http_client *head, *tail;
} clients;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void client_unlink(struct http_client *c)
{
    *(c->prev ? &c->prev->next : &clients.head) = c->next;
    *(c->next ? &c->next->prev : &clients.tail) = c->prev;
    c->prev = c->next = NULL;
}

static void client_append(struct http_client *c)
{
    c->prev = clients.tail;
    c->next = NULL;
    *(clients.tail ? &clients.tail->next : &clients.head) = c;
    clients.tail = c;
}

static int same_addr(const struct http_client *a, const struct http_client *b)
{
    return a->family == b->family && memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/* shutdown(), not close(): the socket stays libmicrohttpd's, which reads the
 * end of the stream and closes the connection itself. */
static void evict(struct http_client *c)
{
    shutdown(c->fd, SHUT_RDWR);
    c->evicted = 1;
}

/* Evicts the oldest connection waiting for its request (of like's address
 * when like is given) if there are at least max of them. */
static void make_room(const struct http_client *like, unsigned max)
{
    struct http_client *oldest = NULL;
    unsigned waiting = 0;
    for (struct http_client *c = clients.head; c; c = c->next) {
        if (c->answered || c->evicted || (like && !same_addr(c, like)))
            continue;
        if (!oldest)
            oldest = c;
        waiting++;
    }
    if (waiting >= max)
        evict(oldest);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    struct http_client *c = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (c) {
            client_unlink(c);
            free(c);
        }
        return;
    }
    const union MHD_ConnectionInfo *sock = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *peer = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!sock)
        return;
    c = calloc(1, sizeof(*c));
    if (!c) { /* untracked, it would escape the deadline */
        shutdown(sock->connect_fd, SHUT_RDWR);
        return;
    }
    c->fd = sock->connect_fd;
    c->since_ms = now_ms();
    if (peer && peer->client_addr) {
        const struct sockaddr *sa = peer->client_addr;
        c->family = sa->sa_family;
        if (sa->sa_family == AF_INET)
            memcpy(c->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        else if (sa->sa_family == AF_INET6)
            memcpy(c->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    }
    make_room(c, HTTP_WAITING_PER_ADDR);
    make_room(NULL, HTTP_WAITING_MAX);
    client_append(c);
    *socket_context = c;
}

static struct http_client *client_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

/* A response was sent: a kept-alive connection waits for its next request,
 * under a new deadline. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)con_cls, (void)toe;
    struct http_client *c = client_of(conn);
    if (!c || c->evicted)
        return;
    c->answered = 0;
    c->since_ms = now_ms();
    client_unlink(c);
    client_append(c);
}

/* Evicts the connections whose request is not complete by the deadline. */
static void sweep(void)
{
    uint64_t now = now_ms();
    for (struct http_client *c = clients.head; c && now - c->since_ms >= HTTP_DEADLINE_MS; c = c->next)
        if (!c->answered && !c->evicted)
            evict(c);
}

static void *http_loop(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&M.http_stopping, __ATOMIC_ACQUIRE)) {
        if (MHD_run_wait(M.http, HTTP_SWEEP_MS) != MHD_YES) /* not expected: do not spin */
            nanosleep(&(struct timespec){.tv_nsec = HTTP_SWEEP_MS * 1000000L}, NULL);
        sweep();
    }
    return NULL;
}

/* ==== HTTP endpoint (the HTTP thread) ==== */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type, char *body,
                             size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    struct http_client *c = client_of(conn);
    if (c)
        c->answered = 1;
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    char *body = strdup(text);
    return body ? reply(conn, status, "text/plain; charset=utf-8", body, strlen(body)) : MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)cls, (void)version, (void)upload_data, (void)con_cls;
    if (*upload_data_size) { /* a request body is not read: drop it */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    if (strcmp(url, "/") == 0)
        return reply_text(conn, MHD_HTTP_OK, PROG ": metrics at /metrics\n");
    if (strcmp(url, "/metrics") != 0)
        return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found; metrics are at /metrics\n");
    size_t len;
    char *text = format_latest(&len);
    if (!text)
        return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

/* libmicrohttpd's messages: while the daemon starts, its reason is kept for
 * our one-line error; afterwards they are logged with our prefix, at most one
 * a minute: every client that hangs up or is evicted mid-request makes one,
 * and a flood of clients must not flood the log. */
static int http_starting;
static char http_start_error[512];
static uint64_t http_log_next_ms;
static unsigned long http_log_held; /* messages not shown since the last one shown */

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    if (__atomic_load_n(&http_starting, __ATOMIC_ACQUIRE)) {
        snprintf(http_start_error, sizeof(http_start_error), "%s", msg);
    } else if (now_ms() < http_log_next_ms) {
        http_log_held++;
    } else {
        char more[64] = "";
        if (http_log_held)
            snprintf(more, sizeof(more), " (and %lu more not shown)", http_log_held);
        fprintf(stderr, PROG ": metrics endpoint: %s%s\n", msg, more);
        http_log_next_ms = now_ms() + 60000;
        http_log_held = 0;
    }
}

static int http_start(const struct metrics_config *cfg, char *err, size_t errcap)
{
    struct sockaddr_storage addr;
    int rc = metrics_parse_listen(cfg->listen, cfg->allow_remote, &addr, err, errcap);
    if (rc)
        return rc;
    /* No internal thread: ours runs libmicrohttpd and the sweep in turn, so a
     * socket the sweep shuts down is never one already closed (its number
     * reused): libmicrohttpd closes it only after telling on_connection. */
    unsigned flags = MHD_USE_ERROR_LOG;
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
        flags |= MHD_USE_EPOLL; /* no FD_SETSIZE limit on the sockets */
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    uint16_t port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                                     : ((struct sockaddr_in *)&addr)->sin_port);
    __atomic_store_n(&http_starting, 1, __ATOMIC_RELEASE);
    M.http = MHD_start_daemon(flags, port, NULL, NULL, on_request, NULL,
                              MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                              MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTION_LIMIT,
                              MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_PER_ADDR_LIMIT,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S,
                              MHD_OPTION_END);
    __atomic_store_n(&http_starting, 0, __ATOMIC_RELEASE);
    if (!M.http) {
        snprintf(err, errcap, "--metrics-listen %s: cannot listen: %s", cfg->listen,
                 *http_start_error ? http_start_error : "libmicrohttpd could not start");
        return -EADDRINUSE;
    }
    M.http_stopping = 0;
    rc = pthread_create(&M.http_thread, NULL, http_loop, NULL);
    if (rc) {
        snprintf(err, errcap, "--metrics-listen: cannot start its thread: %s", strerror(rc));
        MHD_stop_daemon(M.http);
        M.http = NULL;
        return -rc;
    }
    M.http_thread_running = 1;
    pthread_setname_np(M.http_thread, "shmlog-metrics");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(M.http, MHD_DAEMON_INFO_BIND_PORT);
    char shown[INET6_ADDRSTRLEN] = "?";
    if (addr.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&addr)->sin6_addr, shown, sizeof(shown));
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)&addr)->sin_addr, shown, sizeof(shown));
    /* With port 0 this line is the only way to learn the port. */
    fprintf(stderr, PROG ": metrics on http://%s%s%s:%u/metrics\n", addr.ss_family == AF_INET6 ? "[" : "", shown,
            addr.ss_family == AF_INET6 ? "]" : "", info ? (unsigned)info->port : (unsigned)port);
    return 0;
}

#else /* !SHMLOG_HAVE_MICROHTTPD */

static int http_start(const struct metrics_config *cfg, char *err, size_t errcap)
{
    (void)cfg;
    snprintf(err, errcap, "metrics over HTTP are not built in (no libmicrohttpd)");
    return -ENOTSUP;
}
#endif /* SHMLOG_HAVE_MICROHTTPD */

/* ==== Textfile (its own thread) ==== */

/* Writes PATH.tmp, syncs it and renames it over PATH: node_exporter never
 * reads a half-written file. 0 or -errno. */
static int write_textfile(int report)
{
    size_t len;
    char *text = format_latest(&len);
    if (!text)
        return -ENOMEM;
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", M.file);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    int rc = 0;
    if (fd < 0) {
        rc = -errno;
    } else {
        for (size_t done = 0; done < len && !rc;) {
            ssize_t n = write(fd, text + done, len - done);
            if (n > 0)
                done += (size_t)n;
            else if (n == 0)
                rc = -EIO;
            else if (errno != EINTR)
                rc = -errno;
        }
        if (!rc && fsync(fd) != 0)
            rc = -errno;
        if (close(fd) != 0 && !rc)
            rc = -errno;
        if (!rc && rename(tmp, M.file) != 0)
            rc = -errno;
        if (rc)
            unlink(tmp);
    }
    free(text);
    if (!report)
        return rc;
    if (rc && -rc != M.file_error)
        fprintf(stderr, PROG ": --metrics-file %s: %s (will retry)\n", M.file, strerror(-rc));
    else if (!rc && M.file_error)
        fprintf(stderr, PROG ": --metrics-file %s: written again\n", M.file);
    M.file_error = -rc;
    return rc;
}

static void *file_loop(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&M.stop_lock);
    while (!M.stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += M.interval_s;
        while (!M.stopping && pthread_cond_timedwait(&M.stop_cond, &M.stop_lock, &until) != ETIMEDOUT)
            ;
        if (M.stopping)
            break;
        pthread_mutex_unlock(&M.stop_lock);
        write_textfile(1);
        pthread_mutex_lock(&M.stop_lock);
    }
    pthread_mutex_unlock(&M.stop_lock);
    return NULL;
}

static int file_start(const struct metrics_config *cfg, char *err, size_t errcap)
{
    M.file = cfg->file;
    M.interval_s = cfg->interval_s ? cfg->interval_s : 10;
    /* A path that cannot be written is a configuration error: found now, not
     * ten seconds into the run. */
    int rc = write_textfile(0);
    if (rc) {
        snprintf(err, errcap, "--metrics-file %s: %s", cfg->file, strerror(-rc));
        return rc;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&M.stop_cond, &ca);
    pthread_condattr_destroy(&ca);
    rc = pthread_create(&M.file_thread, NULL, file_loop, NULL);
    if (rc) {
        snprintf(err, errcap, "--metrics-file: cannot start its thread: %s", strerror(rc));
        return -rc;
    }
    M.file_thread_running = 1;
    pthread_setname_np(M.file_thread, "shmlog-textfile"); /* in top -H and /proc/<pid>/task */
    return 0;
}

/* ==== Start and stop ==== */

int metrics_start(const struct metrics_config *cfg, char *err, size_t errcap)
{
    if (!cfg->listen && !cfg->file)
        return 0;
    for (int i = 0; i < 3; i++)
        memset(&M.bufs[i], 0, sizeof(M.bufs[i]));
    M.stage = &M.bufs[0];
    M.ready = &M.bufs[1];
    M.front = &M.bufs[2];
    M.fresh = 0;
    M.enabled = 1;

    /* Threads inherit the creator's affinity and signal mask: set both for
     * them here, then give the drain thread its own back. The metrics threads
     * run on the cpus the drain loop does not own, and signals (SIGTERM,
     * SIGHUP, SIGCHLD) go to the drain thread, which handles them. */
    cpu_set_t before, others;
    int restore_affinity = 0;
    if (cfg->drain_cpus && sched_getaffinity(0, sizeof(before), &before) == 0) {
        CPU_ZERO(&others);
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &before) && !CPU_ISSET(c, cfg->drain_cpus))
                CPU_SET(c, &others);
        if (!CPU_COUNT(&others))
            fprintf(stderr, PROG ": warning: every allowed cpu is in --cpu; the metrics threads share them\n");
        else if (sched_setaffinity(0, sizeof(others), &others) == 0)
            restore_affinity = 1;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);

    int rc = 0;
    if (cfg->listen)
        rc = http_start(cfg, err, errcap);
    if (!rc && cfg->file)
        rc = file_start(cfg, err, errcap);

    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (restore_affinity)
        sched_setaffinity(0, sizeof(before), &before);
    if (rc)
        metrics_stop();
    return rc;
}

void metrics_stop(void)
{
    if (!M.enabled)
        return;
    if (M.http_thread_running) {
        __atomic_store_n(&M.http_stopping, 1, __ATOMIC_RELEASE);
        pthread_join(M.http_thread, NULL); /* within HTTP_SWEEP_MS */
        M.http_thread_running = 0;
    }
#if SHMLOG_HAVE_MICROHTTPD
    if (M.http) {
        MHD_stop_daemon(M.http); /* closes the connections: their clients are freed */
        M.http = NULL;
    }
#endif
    if (M.file_thread_running) {
        pthread_mutex_lock(&M.stop_lock);
        M.stopping = 1;
        pthread_cond_signal(&M.stop_cond);
        pthread_mutex_unlock(&M.stop_lock);
        pthread_join(M.file_thread, NULL);
        M.file_thread_running = 0;
        /* The final counters, for whoever reads the file after the exit. */
        write_textfile(1);
    }
    M.enabled = 0;
}
