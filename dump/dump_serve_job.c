/*
 * dump_serve_job.c - the answers of shmlog-dump serve that read the files:
 * a query, a tail, stats and fields, each a job that a few worker threads
 * step, and libmicrohttpd's content reader that sends what a step made.
 *
 * A job owns a buffer; a step fills it while it is empty, the HTTP thread
 * empties it as the client reads. While the buffer waits on a slow client
 * the job holds no thread, only its buffer and its reader; while a step runs
 * the connection is suspended, so no thread waits on the other. A tail keeps
 * its reader, which waits at the end of the file being written, and reads on
 * from there; it opens it again from its cursor when the files change.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include <microhttpd.h>

#include "dump.h"
#include "dump_serve.h"
#include "read_lib.h"

#define JOB_BUF_BYTES (RENDER_LINE_MAX + (64u << 10)) /* any one line fits an empty buffer */
#define JOBS_MAX 256            /* queries, stats and fields at once: the memory bound is this many readers */
#define TAILS_MAX 256
#define TAIL_TICK_NS 20000000u  /* a tail looks for new records this often */
#define TAIL_KEEPALIVE_NS 15000000000u /* an idle tail sends a comment this often: a dead client is found */
#define TALLY_MAX 1024          /* distinct values a stats or fields answer lists, each */
#define STEP_SHARE_NS 20000000u /* a scan's step runs this long at most, then others' steps run */
#define MERGE_BYTES (4u << 20)  /* a query's merge memory: part of its bound */
#define PARKED_NS 1000000000u   /* a query whose client has not emptied its buffer for this long lets its reader go */
#define ARROW_BATCH_ROWS 4096u  /* rows of an Arrow answer's batch: its memory is a batch and the batch's message */
#define CURSOR_WINDOW_NS 250000000u /* beyond the time a collector files one ring after another (--max-delay-ms, 100 by default) */

struct serve_counters serve_counters;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void count(uint64_t *c, int64_t d)
{
    __atomic_add_fetch(c, (uint64_t)d, __ATOMIC_RELAXED);
}

/* ==== Tallies: distinct strings with a count, for stats and fields ==== */

struct tally {
    char **keys;
    uint64_t *counts;
    size_t n, cap; /* cap: a power of two, at least twice TALLY_MAX */
    uint64_t other; /* counted beyond TALLY_MAX distinct keys */
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211u;
    return h;
}

/* Counts key once; the slot's index, or -1 past TALLY_MAX (counted as other) or without memory. */
static long tally_add(struct tally *t, const char *key)
{
    if (!t->keys) {
        t->cap = 2 * TALLY_MAX;
        t->keys = calloc(t->cap, sizeof *t->keys);
        t->counts = calloc(t->cap, sizeof *t->counts);
        if (!t->keys || !t->counts)
            return -1;
    }
    size_t i = hash_str(key) & (t->cap - 1);
    while (t->keys[i] && strcmp(t->keys[i], key) != 0)
        i = (i + 1) & (t->cap - 1);
    if (!t->keys[i]) {
        if (t->n >= TALLY_MAX || !(t->keys[i] = strdup(key))) {
            t->other++;
            return -1;
        }
        t->n++;
    }
    t->counts[i]++;
    return (long)i;
}

static void tally_free(struct tally *t)
{
    for (size_t i = 0; t->keys && i < t->cap; i++)
        free(t->keys[i]);
    free(t->keys);
    free(t->counts);
    memset(t, 0, sizeof *t);
}

/* "name":{"key":count,...} (counts) or "name":["key",...] */
static void tally_json(struct render_buf *b, const char *name, const struct tally *t, int counts)
{
    render_buf_putc(b, '"');
    render_buf_puts(b, name);
    render_buf_puts(b, counts ? "\":{" : "\":[");
    int first = 1;
    for (size_t i = 0; t->keys && i < t->cap; i++) {
        if (!t->keys[i])
            continue;
        if (!first)
            render_buf_putc(b, ',');
        first = 0;
        render_json_string(b, t->keys[i], strlen(t->keys[i]));
        if (counts) {
            render_buf_putc(b, ':');
            render_buf_u64(b, t->counts[i]);
        }
    }
    render_buf_putc(b, counts ? '}' : ']');
}

/* ==== Jobs ==== */

struct stats_acc {
    uint64_t by_level[6], loss_records, losses, exits, first_ts, last_ts;
    struct tally apps, hosts, categories;
};

struct fields_acc {
    struct tally sites;   /* by app, file, line and format */
    char **site_json;     /* each site's object, at its tally slot */
    struct tally fields;  /* "name\x1ftype" */
    struct tally apps, hosts, categories, threads;
};

struct serve_job {
    struct serve_request req;
    struct MHD_Connection *conn; /* NULL once libmicrohttpd let go of the answer */
    struct shmlog_read *r;
    char *buf;
    size_t cap, len, off;  /* off..len: made, not yet sent */
    int queued, stepping, suspended, done, released, opened;
    int pending, pending_record; /* the reader's last event did not fit the buffer: it goes first next step */
    uint64_t pending_ts;
    struct serve_ring_mark pending_ring;
    uint64_t deadline_ns, next_tick_ns, last_sent_ns, parked_ns;
    uint64_t files_seen, growth_seen; /* a tail: inputs_state() when it last read them */
    int more;              /* a tail: its last step filled the buffer */
    uint64_t records, events, errors, bytes;
    struct serve_cursor cur;   /* the cursor after what was sent */
    uint64_t skip, skip_ts;    /* a cursor without rings: events at skip_ts a reader opened at it has yet to pass */
    int resume_exact;          /* the reader opened at an exact cursor: what was sent is told by it */
    uint64_t resume_ts, resume_marker_ts, marker_skip; /* that cursor's time, and its markers' still to pass */
    size_t last_mark;          /* cur.rings' entry found last: records come in runs of one ring */
    const char *end;       /* why the answer ended: complete, limit, time, size, error */
    char error[600];       /* the first damage or note met */
    struct stats_acc *stats;
    struct fields_acc *fields;
    /* format=arrow: the reader's batches (release NULL: none), their schema and the
     * Schema message sent (a reader opened again must make the same one) */
    struct ArrowArrayStream stream;
    struct ArrowSchema schema;
    struct serve_bytes schema_msg;
    size_t messages_seen;  /* the stream's damage and notes counted */
    struct live_rings *live; /* live=1: the rings' records the files do not hold yet */
    int live_phase;        /* a query: the files are read, the rings' records come */
    const char *live_end;  /* a live record hit a limit: why */
    struct serve_job *next;
    struct serve_job *all_prev, *all_next; /* every job, for the stop */
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct serve_job *head, *tail; /* ready to step */
    struct serve_job *fresh, *fresh_tail; /* ready for their first step: these go first, so a new
                                             query answers soon however many long ones stream */
    struct serve_job *sleeping;    /* tails waiting for their next tick */
    struct serve_job *all;
    pthread_t *threads;
    unsigned nthreads;
    int stopping;
    const char *const *paths;
    size_t npaths;
    const struct cli *cli; /* its segment directories: live=1 */
    unsigned jobs, tails;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

void serve_request_free(struct serve_request *req)
{
    free(req->category);
    free(req->app);
    free(req->host);
    free(req->thread);
    free(req->trace);
    free(req->grep);
    for (size_t i = 0; i < req->nwhere; i++)
        free(req->where[i]);
    free(req->where);
    memset(req, 0, sizeof *req);
}

static void fields_free(struct fields_acc *f)
{
    if (!f)
        return;
    for (size_t i = 0; f->site_json && i < f->sites.cap; i++)
        free(f->site_json[i]);
    free(f->site_json);
    tally_free(&f->sites);
    tally_free(&f->fields);
    tally_free(&f->apps);
    tally_free(&f->hosts);
    tally_free(&f->categories);
    tally_free(&f->threads);
    free(f);
}

static void job_free(struct serve_job *j)
{
    if (j->all_prev)
        j->all_prev->all_next = j->all_next;
    else
        pool.all = j->all_next;
    if (j->all_next)
        j->all_next->all_prev = j->all_prev;
    if (j->r)
        shmlog_read_close(j->r);
    if (j->req.kind == SERVE_TAIL)
        pool.tails--;
    else
        pool.jobs--;
    count(&serve_counters.jobs_done, 1);
    count(j->req.kind == SERVE_TAIL ? &serve_counters.active_tails : &serve_counters.active_jobs, -1);
    if (j->stats) {
        tally_free(&j->stats->apps);
        tally_free(&j->stats->hosts);
        tally_free(&j->stats->categories);
        free(j->stats);
    }
    fields_free(j->fields);
    live_rings_free(j->live);
    if (j->stream.release)
        j->stream.release(&j->stream);
    if (j->schema.release)
        j->schema.release(&j->schema);
    free(j->schema_msg.p);
    serve_request_free(&j->req);
    free(j->buf);
    free(j);
}

/* Under the lock. */
static void enqueue(struct serve_job *j)
{
    if (j->queued)
        return;
    j->queued = 1;
    j->next = NULL;
    struct serve_job **head = j->opened ? &pool.head : &pool.fresh;
    struct serve_job **tail = j->opened ? &pool.tail : &pool.fresh_tail;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
    pthread_cond_signal(&pool.wake);
}

/* Under the lock: the next job to step, fresh ones first; NULL if none. */
static struct serve_job *dequeue(void)
{
    struct serve_job **head = pool.fresh ? &pool.fresh : &pool.head;
    struct serve_job **tail = pool.fresh ? &pool.fresh_tail : &pool.tail;
    struct serve_job *j = *head;
    if (j) {
        *head = j->next;
        if (!*head)
            *tail = NULL;
        j->queued = 0;
    }
    return j;
}

struct serve_job *serve_job_new(struct serve_request *req, struct MHD_Connection *conn)
{
    int tail = req->kind == SERVE_TAIL;
    pthread_mutex_lock(&pool.lock);
    if (tail ? pool.tails >= TAILS_MAX : pool.jobs >= JOBS_MAX) {
        pthread_mutex_unlock(&pool.lock);
        return NULL;
    }
    struct serve_job *j = calloc(1, sizeof *j);
    char *buf = malloc(JOB_BUF_BYTES);
    if (!j || !buf) {
        pthread_mutex_unlock(&pool.lock);
        free(j);
        free(buf);
        return NULL;
    }
    j->req = *req;
    memset(req, 0, sizeof *req);
    j->conn = conn;
    j->buf = buf;
    j->cap = JOB_BUF_BYTES;
    j->end = "complete";
    uint64_t now = now_ns();
    j->deadline_ns = j->req.timeout_ns ? now + j->req.timeout_ns : UINT64_MAX;
    j->last_sent_ns = now;
    j->cur.exact = 1; /* an answer's own cursor names its rings, unless it began at a cursor that did not */
    if (j->req.has_cursor) {
        j->cur = j->req.cursor;
    } else if (tail) {
        /* From now: the wall clock's, as records' times are. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        j->cur.ts = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        if (j->cur.ts < j->req.o.since_ns)
            j->cur.ts = j->req.o.since_ns;
    }
    if (tail)
        pool.tails++;
    else
        pool.jobs++;
    j->all_next = pool.all;
    if (pool.all)
        pool.all->all_prev = j;
    pool.all = j;
    count(tail ? &serve_counters.active_tails : &serve_counters.active_jobs, 1);
    enqueue(j); /* the first step runs before the client asks for bytes: the first byte comes sooner */
    pthread_mutex_unlock(&pool.lock);
    return j;
}

/* ==== Steps (a worker, without the lock) ==== */

static int open_reader(struct serve_job *j, uint64_t since)
{
    struct shmlog_read_options o = j->req.o;
    o.since_ns = since;
    o.merge_bytes = MERGE_BYTES;
    char err[512];
    int rc = shmlog_read_open(&j->r, pool.paths, pool.npaths, &o, err, sizeof err);
    if (rc != 0) {
        j->r = NULL;
        snprintf(j->error, sizeof j->error, "%s", err);
        j->errors++;
        j->end = "error";
        return -1;
    }
    return 0;
}

/* The reader from the cursor after what was sent (before any event: from
 * where the answer begins). At an exact cursor it reads from two windows
 * before the cursor's time and passes what was sent by the cursor's rings'
 * positions and markers; at a cursor without them, the events it counts at
 * its time. 0, or -1. */
static int open_at_cursor(struct serve_job *j)
{
    int positioned = j->req.has_cursor || j->events;
    uint64_t since = positioned || j->req.kind == SERVE_TAIL ? j->cur.ts : j->req.o.since_ns;
    j->resume_exact = positioned && j->cur.exact;
    if (j->resume_exact) {
        since = j->cur.ts > 2 * CURSOR_WINDOW_NS ? j->cur.ts - 2 * CURSOR_WINDOW_NS : 0;
        if (since < j->req.o.since_ns)
            since = j->req.o.since_ns;
    }
    j->resume_ts = j->cur.ts;
    j->resume_marker_ts = j->cur.marker_ts;
    j->marker_skip = j->cur.marker_at;
    j->skip = j->resume_exact ? 0 : j->cur.at;
    j->skip_ts = j->cur.ts;
    return open_reader(j, since);
}

/* The reader stops at the query's time limit or at the end of this step's
 * share of a worker, whichever is sooner, even inside a scan that matches nothing. */
static void set_step_deadline(struct serve_job *j, uint64_t share_end)
{
    if (j->r)
        read_set_deadline(j->r, share_end < j->deadline_ns ? share_end : j->deadline_ns);
}

/* Damage is counted and the first said; a note (a file still being written) is not. */
static void note_error(struct serve_job *j, const struct shmlog_read_event *ev)
{
    if (ev->flags & SHMLOG_READ_NOTE)
        return;
    j->errors++;
    if (!j->error[0])
        snprintf(j->error, sizeof j->error, "%s", ev->error ? ev->error : "?");
}

/* ==== Cursors ==== */

/* The digits at s into *v: past them, or NULL (none, or past UINT64_MAX). */
static const char *take_u64(const char *s, uint64_t *v)
{
    uint64_t x = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (x > (UINT64_MAX - d) / 10)
            return NULL;
        x = x * 10 + d;
    }
    *v = x;
    return p == s ? NULL : p;
}

int serve_cursor_parse(const char *s, struct serve_cursor *c)
{
    memset(c, 0, sizeof *c);
    if (!(s = take_u64(s, &c->ts)) || *s++ != '-' || !(s = take_u64(s, &c->at)))
        return -1;
    if (!*s)
        return 0;
    if (strncmp(s, "_m", 2) != 0 || !(s = take_u64(s + 2, &c->marker_ts)) || *s++ != '-' ||
        !(s = take_u64(s, &c->marker_at)))
        return -1;
    c->exact = 1;
    while (*s) {
        /* its time is not said: at most the cursor's, which keeps it in the next cursor while it may matter */
        struct serve_ring_mark *m = &c->rings[c->nrings];
        uint64_t pid, cpu;
        if (c->nrings == SERVE_CURSOR_RINGS || *s++ != '_' || !(s = take_u64(s, &pid)) || *s++ != '.' ||
            !(s = take_u64(s, &m->proc_start)) || *s++ != '.' || !(s = take_u64(s, &cpu)) || *s++ != '.' ||
            !(s = take_u64(s, &m->pos)) || pid > UINT32_MAX || cpu > UINT32_MAX)
            return -1;
        if (*s == 'h') {
            uint64_t hole;
            if (!(s = take_u64(s + 1, &hole)) || hole >= m->pos)
                return -1;
            m->hole = hole + 1;
        }
        m->pid = (uint32_t)pid;
        m->cpu = (uint32_t)cpu;
        m->ts = c->ts;
        c->nrings++;
    }
    return 0;
}

/* c's entry for ring's ring, or NULL; *hint: where to look first, and where it was. */
static struct serve_ring_mark *ring_mark(struct serve_cursor *c, const struct serve_ring_mark *ring, size_t *hint)
{
    for (size_t k = 0; k < c->nrings; k++) {
        size_t i = (*hint + k) % c->nrings;
        struct serve_ring_mark *m = &c->rings[i];
        if (m->pid == ring->pid && m->cpu == ring->cpu && m->proc_start == ring->proc_start) {
            *hint = i;
            return m;
        }
    }
    return NULL;
}

/* The cursor past an event at ts: a record of ring (its mark moves to it;
 * the ring sent longest ago makes room), or a marker (ring NULL). */
static void cursor_advance(struct serve_cursor *c, uint64_t ts, const struct serve_ring_mark *ring, size_t *hint)
{
    struct serve_ring_mark *m = ring ? ring_mark(c, ring, hint) : NULL;
    if (m && ring->pos < m->pos) {
        /* the slot an earlier answer passed over, committed since: older than what was sent after it */
        if (ring->pos + 1 == m->hole)
            m->hole = 0;
        return;
    }
    c->at = ts == c->ts ? c->at + 1 : 1;
    c->ts = ts;
    if (!ring) {
        c->marker_at = ts == c->marker_ts ? c->marker_at + 1 : 1;
        c->marker_ts = ts;
        return;
    }
    uint64_t hole = ring->hole;
    if (m && !hole)
        hole = m->hole; /* still not sent */
    if (!m && c->nrings < SERVE_CURSOR_RINGS) {
        m = &c->rings[c->nrings++];
    } else if (!m) {
        m = &c->rings[0];
        for (size_t i = 1; i < c->nrings; i++)
            if (c->rings[i].ts < m->ts)
                m = &c->rings[i];
    }
    *m = *ring;
    m->hole = hole;
}

static void put_cursor(struct render_buf *b, const struct serve_cursor *c)
{
    render_buf_u64(b, c->ts);
    render_buf_putc(b, '-');
    render_buf_u64(b, c->at);
    if (!c->exact)
        return;
    render_buf_puts(b, "_m");
    render_buf_u64(b, c->marker_ts);
    render_buf_putc(b, '-');
    render_buf_u64(b, c->marker_at);
    for (size_t i = 0; i < c->nrings; i++) {
        const struct serve_ring_mark *m = &c->rings[i];
        if (m->ts + CURSOR_WINDOW_NS < c->ts)
            continue; /* records of its ring after it lie past the window: their times tell them */
        render_buf_putc(b, '_');
        render_buf_u64(b, m->pid);
        render_buf_putc(b, '.');
        render_buf_u64(b, m->proc_start);
        render_buf_putc(b, '.');
        render_buf_u64(b, m->cpu);
        render_buf_putc(b, '.');
        render_buf_u64(b, m->pos);
        if (m->hole) {
            render_buf_putc(b, 'h');
            render_buf_u64(b, m->hole - 1);
        }
    }
}

/* 1 when the record of ring (its position and time) was sent, before the
 * exact cursor the reader opened at or since. A ring the cursor names tells
 * by position; of another, records sent lie more than a window before the
 * cursor's time, and those not sent less than half a window (the collector
 * files each ring within that of the others). */
static int record_sent(struct serve_job *j, const struct serve_ring_mark *ring)
{
    if (!j->resume_exact)
        return 0; /* within one answer the reader and the live rings' marks give a record once */
    const struct serve_ring_mark *m = ring_mark(&j->cur, ring, &j->last_mark);
    if (m)
        return ring->pos <= m->pos && ring->pos + 1 != m->hole;
    /* a backtrace's records come at their trigger's place with their own, older times */
    return !(ring->cpu & SERVE_RING_BACKTRACE) && ring->ts + CURSOR_WINDOW_NS / 2 < j->resume_ts;
}

/* 1 when a loss or exit marker at ts was sent before the exact cursor the reader opened at. */
static int marker_sent(struct serve_job *j, uint64_t ts)
{
    if (!j->resume_exact || ts > j->resume_marker_ts)
        return 0;
    if (ts < j->resume_marker_ts)
        return 1;
    if (!j->marker_skip)
        return 0;
    j->marker_skip--;
    return 1;
}

static struct serve_ring_mark event_ring(const struct shmlog_read_event *ev)
{
    uint32_t backtrace = ev->flags & SHMLOG_READ_BACKTRACE ? SERVE_RING_BACKTRACE : 0;
    return (struct serve_ring_mark){ev->pid, ev->cpu | backtrace, ev->proc_start, ev->seq, ev->ts_ns, 0};
}

/* The answer's last line (or, for JSON, its closing object): why it ended and the cursor after it. */
static void put_end(struct serve_job *j, struct render_buf *b)
{
    if (j->req.format == SERVE_TEXT) {
        render_buf_puts(b, "# end ");
        render_buf_puts(b, j->end);
        render_buf_puts(b, " records=");
        render_buf_u64(b, j->records);
        render_buf_puts(b, " cursor=");
        put_cursor(b, &j->cur);
        if (j->error[0]) {
            render_buf_puts(b, " error=");
            put_text_safe(b, j->error);
        }
        render_buf_putc(b, '\n');
        return;
    }
    render_buf_puts(b, j->req.format == SERVE_JSON ? (j->events ? "\n],\"end\":" : "],\"end\":") : "{\"end\":");
    render_buf_putc(b, '"');
    render_buf_puts(b, j->end);
    render_buf_putc(b, '"');
    put_json_kv_u64(b, "records", j->records);
    if (j->req.format != SERVE_JSON) /* JSON's events are the array of that name */
        put_json_kv_u64(b, "events", j->events);
    put_json_kv_u64(b, "errors", j->errors);
    render_buf_puts(b, ",\"cursor\":\"");
    put_cursor(b, &j->cur);
    render_buf_putc(b, '"');
    if (j->error[0])
        put_json_kv_str(b, "error", j->error);
    render_buf_puts(b, j->req.format == SERVE_JSON ? "}\n" : "}\n");
}

/* A live ring's record as shmlog_read_format() makes a line: its length with
 * the newline, or 0 when it does not fit cap (with its NUL). */
static long live_format(const struct live_record *lr, int json, char *dst, size_t cap)
{
    struct render_buf line;
    if (cap < 2)
        return 0;
    render_buf_init(&line, dst, cap - 1);
    render_prepared_thread(lr->site, lr->rec, lr->cpu, lr->ts_ns, lr->thread, NULL, json, &line);
    if (line.overflow)
        return 0;
    dst[line.len] = '\0';
    return (long)line.len;
}

/* One event into the buffer as its line (SSE: an event with the cursor
 * after it as id), from the reader's event or a live ring's record lr, a
 * record of ring (NULL: a marker); 0, or -ENOBUFS with the buffer and the
 * cursor as they were. */
static int put_event(struct serve_job *j, struct render_buf *b, uint64_t ts, const struct serve_ring_mark *ring,
                     const struct live_record *lr)
{
    size_t start = b->len;
    int json = j->req.format != SERVE_TEXT;
    struct serve_cursor before;
    if (j->req.kind == SERVE_TAIL) {
        before = j->cur;
        cursor_advance(&j->cur, ts, ring, &j->last_mark);
        render_buf_puts(b, "id: ");
        put_cursor(b, &j->cur);
        render_buf_puts(b, "\ndata: ");
    } else if (j->req.format == SERVE_JSON) {
        render_buf_puts(b, j->events ? ",\n" : "\n");
    }
    long k;
    if (b->overflow)
        k = -ENOBUFS;
    else if (lr)
        k = live_format(lr, json, b->data + b->len, b->cap - b->len);
    else
        k = shmlog_read_format(j->r, json, b->data + b->len, b->cap - b->len);
    if (k == -ENOMEM)
        dump_oom();
    /* 0: no room even for its NUL (an ERROR event, which would also be 0, never comes here) */
    if (k <= 0 || (j->req.kind == SERVE_TAIL && b->cap - b->len - (size_t)k < 2)) {
        b->len = start;
        b->overflow = 0;
        if (j->req.kind == SERVE_TAIL)
            j->cur = before;
        return -ENOBUFS;
    }
    b->len += (size_t)k;
    if (j->req.format == SERVE_JSON || j->req.kind == SERVE_TAIL)
        b->len--; /* its newline: the array's separator or the event's "\n\n" come instead */
    if (j->req.kind == SERVE_TAIL)
        render_buf_puts(b, "\n\n");
    if (j->req.kind != SERVE_TAIL)
        cursor_advance(&j->cur, ts, ring, &j->last_mark);
    j->events++;
    j->records += ring != NULL;
    return 0;
}

/* The answer ended, for why: counted. */
static void count_end(struct serve_job *j, const char *why)
{
    j->end = why;
    if (!strcmp(why, "time"))
        count(&serve_counters.ended_time, 1);
    else if (!strcmp(why, "size"))
        count(&serve_counters.ended_size, 1);
    else if (!strcmp(why, "limit"))
        count(&serve_counters.ended_limit, 1);
}

/* The reader goes (an Arrow answer's stream with it, which holds it). */
static void drop_reader(struct serve_job *j)
{
    if (j->stream.release)
        j->stream.release(&j->stream);
    j->stream.release = NULL;
    if (j->r)
        shmlog_read_close(j->r);
    j->r = NULL;
}

static void finish(struct serve_job *j, struct render_buf *b, const char *why)
{
    count_end(j, why);
    if (j->req.kind != SERVE_TAIL)
        put_end(j, b);
    j->done = 1;
    drop_reader(j);
}

/* A limit the answer reached before this event, or NULL. */
static const char *limit_hit(const struct serve_job *j, const struct render_buf *b, uint64_t now)
{
    if (j->req.limit && j->records >= j->req.limit)
        return "limit";
    if (j->bytes + b->len >= j->req.max_bytes)
        return "size";
    if (now >= j->deadline_ns)
        return "time";
    return NULL;
}

/* A query's or a tail's events from the reader into the buffer; skips the
 * events at the cursor's time that an earlier answer sent. 1 when the
 * buffer is full or the step's share is spent, 0 at the reader's end, -1 at
 * a limit (finished). */
static int pour(struct serve_job *j, struct render_buf *b)
{
    const struct shmlog_read_event *ev;
    if (j->pending) {
        j->pending = 0;
        const char *why = limit_hit(j, b, now_ns());
        if (why) {
            finish(j, b, why);
            return -1;
        }
        if (put_event(j, b, j->pending_ts, j->pending_record ? &j->pending_ring : NULL, NULL) != 0) {
            j->pending = 1;
            return 1;
        }
    }
    for (unsigned n = 0;; n++) {
        const char *why = limit_hit(j, b, (n & 63) == 0 ? now_ns() : 0);
        if (why) {
            finish(j, b, why);
            return -1;
        }
        int rc = shmlog_read_next(j->r, &ev);
        if (rc == -ENOMEM)
            dump_oom();
        if (rc == -ETIMEDOUT) { /* the reader's deadline: the query's time limit, or this step's share */
            if (now_ns() < j->deadline_ns)
                return 1;
            finish(j, b, "time");
            return -1;
        }
        if (rc <= 0)
            return 0;
        if (ev->kind == SHMLOG_READ_ERROR) {
            note_error(j, ev);
            continue;
        }
        if (j->skip && ev->ts_ns == j->skip_ts) {
            j->skip--;
            continue;
        }
        j->skip = 0;
        int is_record = ev->kind == SHMLOG_READ_RECORD;
        struct serve_ring_mark ring = event_ring(ev);
        if (j->live && is_record && live_rings_file_record(j->live, ev->pid, ev->proc_start, ev->cpu, ev->seq))
            continue; /* shown from its ring before the collector wrote it */
        if (is_record ? record_sent(j, &ring) : marker_sent(j, ev->ts_ns))
            continue;
        if (put_event(j, b, ev->ts_ns, is_record ? &ring : NULL, NULL) != 0) {
            j->pending = 1;
            j->pending_ts = ev->ts_ns;
            j->pending_record = is_record;
            j->pending_ring = ring;
            return 1;
        }
    }
}

/* ==== The live rings' records (live=1) ==== */

struct live_pour {
    struct serve_job *j;
    struct render_buf *b;
};

static int emit_live(void *ctx, const struct live_record *lr)
{
    struct live_pour *p = ctx;
    const char *why = limit_hit(p->j, p->b, now_ns());
    if (why) {
        p->j->live_end = why;
        return 1;
    }
    if (p->j->skip && lr->ts_ns == p->j->skip_ts) {
        p->j->skip--; /* an earlier answer sent it: its cursor counts it */
        return 0;
    }
    p->j->skip = 0;
    struct serve_ring_mark ring = {lr->pid, lr->cpu, lr->proc_start, lr->rec->pos, lr->ts_ns, lr->hole};
    if (record_sent(p->j, &ring))
        return 0;
    return put_event(p->j, p->b, lr->ts_ns, &ring, lr) != 0;
}

/* The rings' records the files did not hold, after the reader's filters
 * (its reader is opened again from the cursor when it went while the client
 * was slow: it holds the filters). 1 when the buffer is full, 0 at the
 * round's end, -1 at a limit or an error (finished). */
static int pour_live(struct serve_job *j, struct render_buf *b)
{
    if (!j->r && open_at_cursor(j) != 0) {
        finish(j, b, "error");
        return -1;
    }
    struct live_pour p = {j, b};
    int rc = live_rings_poll(j->live, &j->r->filter, emit_live, &p);
    if (j->live_end) {
        finish(j, b, j->live_end);
        return -1;
    }
    return rc;
}

/* A job of live=1 finds the rings before its reader reads the files: what
 * the collector writes meanwhile is in one or the other. */
static void start_live(struct serve_job *j)
{
    if (!j->req.live || j->live)
        return;
    j->live = live_rings_new(pool.cli, j->req.kind == SERVE_TAIL);
    if (!j->live)
        dump_oom();
    live_rings_start(j->live);
}

/* A query's files are read: the live rings' records follow, or it is complete. */
static void query_rest(struct serve_job *j, struct render_buf *b)
{
    j->live_phase = j->live != NULL;
    if (!j->live_phase || pour_live(j, b) == 0)
        finish(j, b, "complete");
}

/* ==== Arrow answers: the reader's batches as an IPC stream ==== */

/* Past the first skip rows at time ts, which an earlier answer sent (its
 * cursor counts rows: records, or with markers=1 markers). */
static void skip_rows(struct serve_job *j, uint64_t skip, uint64_t ts)
{
    const struct entry *e;
    while (skip && (e = read_peek(j->r))) {
        int row = j->req.markers ? e->kind == ENTRY_LOSS || e->kind == ENTRY_EXIT
                                 : e->kind == ENTRY_RECORD || e->kind == ENTRY_BACKTRACE;
        if (row) {
            if (entry_own_ts(e) != ts)
                return;
            skip--;
        }
        j->r->ready_off += e->bytes;
    }
}

/* The reader from since, past skip rows at since, as a stream of batches into
 * *schema. 0, or -1 with j->error said. */
static int open_arrow(struct serve_job *j, uint64_t since, uint64_t skip, struct ArrowSchema *schema)
{
    if (open_reader(j, since) != 0)
        return -1;
    skip_rows(j, skip, since);
    struct shmlog_read_arrow_options ao = SHMLOG_READ_ARROW_OPTIONS_INIT;
    ao.batch_rows = ARROW_BATCH_ROWS;
    ao.what = j->req.markers ? SHMLOG_READ_ARROW_MARKERS : SHMLOG_READ_ARROW_RECORDS;
    ao.threads = 1; /* the server's workers are its threads: a query's batches are written by the one stepping it */
    ao.trees = 1;   /* value trees as list, map and struct columns, as shmlog.to_arrow() gives them */
    char err[512];
    if (shmlog_read_arrow(j->r, &ao, &j->stream, err, sizeof err) != 0) {
        j->stream.release = NULL;
        snprintf(j->error, sizeof j->error, "%s", err);
        return -1;
    }
    j->messages_seen = 0;
    int rc = j->stream.get_schema(&j->stream, schema);
    if (rc == ENOMEM)
        dump_oom();
    if (rc != 0) {
        snprintf(j->error, sizeof j->error, "%s", j->stream.get_last_error(&j->stream));
        return -1;
    }
    return 0;
}

/* The stream's damage (counted, the first said) since the last call. */
static void arrow_messages(struct serve_job *j)
{
    const char *m;
    int note;
    for (; j->r && (m = shmlog_read_stream_message(j->r, j->messages_seen, &note)); j->messages_seen++) {
        if (note)
            continue;
        j->errors++;
        if (!j->error[0])
            snprintf(j->error, sizeof j->error, "%s", m);
    }
}

/* The answer's last batch: no rows, and why it ended, the cursor after it and
 * its damage in its custom metadata; then the stream's end. */
static void arrow_finish(struct serve_job *j, struct serve_bytes *out, const char *why)
{
    static const struct ArrowSchema no_columns = {.format = "+s"};
    count_end(j, why);
    arrow_messages(j);
    int has_schema = j->schema_msg.len != 0;
    if (!has_schema && serve_arrow_schema(out, &no_columns) != 0) /* an answer that could not begin */
        dump_oom();
    char records[24], errors[24], cursor[48];
    snprintf(records, sizeof records, "%llu", (unsigned long long)j->records);
    snprintf(errors, sizeof errors, "%llu", (unsigned long long)j->errors);
    snprintf(cursor, sizeof cursor, "%llu-%llu", (unsigned long long)j->cur.ts, (unsigned long long)j->cur.at);
    const char *meta[] = {"end", why, "records", records, "errors", errors, "cursor", cursor, "error", j->error};
    if (serve_arrow_batch(out, has_schema ? &j->schema : &no_columns, NULL, 0, meta, j->error[0] ? 5 : 4) != 0 ||
        serve_arrow_end(out) != 0)
        dump_oom();
    j->done = 1;
    drop_reader(j);
}

/* The reader, closed while the client was slow, from the cursor again: its
 * schema must be the one sent (a site defined since adds columns). 0, or -1. */
static int reopen_arrow(struct serve_job *j)
{
    struct ArrowSchema schema = {0};
    struct serve_bytes msg = {0};
    int rc = open_arrow(j, j->cur.ts, j->cur.at, &schema);
    if (rc == 0 && serve_arrow_schema(&msg, &schema) != 0)
        dump_oom();
    if (rc == 0 && (msg.len != j->schema_msg.len || memcmp(msg.p, j->schema_msg.p, msg.len) != 0)) {
        snprintf(j->error, sizeof j->error, "the files' fields changed while the client was slow: ask again from the cursor");
        rc = -1;
    }
    if (schema.release)
        schema.release(&schema);
    free(msg.p);
    return rc;
}

/* An Arrow answer's step: its Schema message first, then a batch a step. */
static void step_query_arrow(struct serve_job *j, struct render_buf *b)
{
    struct serve_bytes out = {(uint8_t *)j->buf, 0, j->cap};
    if (!j->opened) {
        j->opened = 1;
        if (open_arrow(j, j->req.has_cursor ? j->cur.ts : j->req.o.since_ns, j->cur.at, &j->schema) != 0) {
            arrow_finish(j, &out, "error");
        } else {
            int rc = serve_arrow_schema(&out, &j->schema);
            if (rc == -ENOMEM || (rc == 0 && !(j->schema_msg.p = malloc(out.len))))
                dump_oom();
            if (rc == 0) {
                memcpy(j->schema_msg.p, out.p, out.len);
                j->schema_msg.len = j->schema_msg.cap = out.len;
            } else {
                snprintf(j->error, sizeof j->error, "a column of a type the Arrow writer does not write");
                arrow_finish(j, &out, "error");
            }
        }
    } else if (!j->stream.release && reopen_arrow(j) != 0) {
        arrow_finish(j, &out, "error");
    } else {
        const char *why = limit_hit(j, b, now_ns());
        struct ArrowArray a = {0};
        set_step_deadline(j, now_ns() + STEP_SHARE_NS);
        int rc = why ? 0 : j->stream.get_next(&j->stream, &a);
        if (rc == ENOMEM)
            dump_oom();
        if (rc == ETIMEDOUT && now_ns() < j->deadline_ns) {
            /* the step's share spent before a row: no bytes, the job is queued again */
        } else if (rc == ETIMEDOUT) {
            why = "time";
        } else if (rc != 0) {
            snprintf(j->error, sizeof j->error, "%s", j->stream.get_last_error(&j->stream));
            why = "error";
        } else if (!why && !a.release) {
            why = "complete";
        }
        if (why) {
            arrow_finish(j, &out, why);
        } else if (a.release) {
            int64_t rows = a.length;
            if (j->req.limit && (uint64_t)rows > j->req.limit - j->records)
                rows = (int64_t)(j->req.limit - j->records);
            int written = serve_arrow_batch(&out, &j->schema, &a, rows, NULL, 0);
            if (written == -ENOMEM)
                dump_oom();
            if (written != 0) {
                rows = 0;
                j->errors++;
                snprintf(j->error, sizeof j->error, "a batch the Arrow writer refused: its lengths do not add up");
            }
            const int64_t *ts = a.n_children ? a.children[0]->buffers[1] : NULL; /* the first column: ts */
            for (int64_t i = 0; ts && i < rows; i++) {
                uint64_t t = (uint64_t)ts[i];
                j->cur.at = t == j->cur.ts ? j->cur.at + 1 : 1;
                j->cur.ts = t;
            }
            j->records += (uint64_t)rows;
            j->events += (uint64_t)rows;
            a.release(&a);
            arrow_messages(j);
            if (written != 0)
                arrow_finish(j, &out, "error");
        }
    }
    j->buf = (char *)out.p;
    j->cap = out.cap;
    b->data = j->buf;
    b->cap = j->cap;
    b->len = out.len;
}

static void step_query(struct serve_job *j, struct render_buf *b)
{
    if (j->req.format == SERVE_ARROW) {
        step_query_arrow(j, b);
        return;
    }
    if (!j->opened) {
        j->opened = 1;
        if (j->req.format == SERVE_JSON)
            render_buf_puts(b, "{\"events\":[");
        start_live(j);
        if (open_at_cursor(j) != 0) {
            finish(j, b, "error");
            return;
        }
        set_step_deadline(j, now_ns() + STEP_SHARE_NS);
        if (pour(j, b) == 0)
            query_rest(j, b);
        return;
    }
    if (j->live_phase) {
        if (pour_live(j, b) == 0)
            finish(j, b, "complete");
        return;
    }
    if (!j->r) {
        /* Its reader went while the client was slow: again from the cursor (what was sent). */
        if (open_at_cursor(j) != 0) {
            finish(j, b, "error");
            return;
        }
    }
    set_step_deadline(j, now_ns() + STEP_SHARE_NS);
    if (pour(j, b) == 0)
        query_rest(j, b);
}

static uint64_t mix(uint64_t h, const struct stat *st)
{
    uint64_t v[3] = {(uint64_t)st->st_size, (uint64_t)st->st_mtim.tv_sec, (uint64_t)st->st_mtim.tv_nsec};
    for (int i = 0; i < 3; i++)
        h = (h ^ v[i]) * 1099511628211u;
    return h;
}

/* The inputs (a directory's time changes when a file is made or renamed in
 * it: a rotation) into *files, and the sizes and times of the files the
 * collector writes in them into *growth: when both are as they were, no
 * record came; when only *growth changed, the open files grew. */
static void inputs_state(uint64_t *files, uint64_t *growth)
{
    uint64_t f = 1469598103934665603u, g = f;
    for (size_t i = 0; i < pool.npaths; i++) {
        struct stat st;
        if (stat(pool.paths[i], &st) != 0)
            continue;
        f = mix(f, &st);
        char part[4096];
        uint64_t seq;
        if (S_ISDIR(st.st_mode) && find_open_part(pool.paths[i], 0, part, sizeof part, &seq) == 0 &&
            stat(part, &st) == 0)
            g = mix(g, &st);
    }
    *files = f;
    *growth = g;
}

/* A tail's step: its reader from the cursor when the files changed (or it
 * has none), else on from where it waited at the end of the file being
 * written; what it gives is new. Opening costs a read of that file from its
 * start (it has no index yet): the next step waits twice as long as this one
 * took, so that a tail takes at most a third of a worker. */
static void step_tail(struct serve_job *j, struct render_buf *b)
{
    uint64_t now = now_ns();
    uint64_t files, growth;
    start_live(j);
    inputs_state(&files, &growth);
    if (files == j->files_seen && growth == j->growth_seen && j->r && !j->more && !j->live) {
        if (now - j->last_sent_ns >= TAIL_KEEPALIVE_NS) {
            render_buf_puts(b, ": keepalive\n\n");
            j->last_sent_ns = now;
        }
        j->next_tick_ns = now + TAIL_TICK_NS;
        return;
    }
    if (files != j->files_seen || !j->r) {
        if (j->r)
            shmlog_read_close(j->r);
        j->r = NULL;
        j->pending = 0; /* the reader is opened anew: an event that did not fit comes again */
        if (open_at_cursor(j) != 0) {
            j->done = 1;
            return;
        }
        read_follow_live(j->r);
    }
    j->files_seen = files;
    j->growth_seen = growth;
    int rc = pour(j, b);
    if (rc == 0 && j->live) /* the rings' records after the files' (the files are behind them) */
        rc = pour_live(j, b);
    if (rc < 0)
        return;
    j->more = rc > 0;
    if (b->len == 0 && now - j->last_sent_ns >= TAIL_KEEPALIVE_NS)
        render_buf_puts(b, ": keepalive\n\n");
    if (b->len)
        j->last_sent_ns = now;
    uint64_t took = now_ns() - now;
    j->next_tick_ns = now + (2 * took > TAIL_TICK_NS ? 3 * took : TAIL_TICK_NS);
}

/* The next event of a scan (stats, fields): 1 with *ev (a record, loss or
 * exit), 0 at the end or at a limit (*why says which), -1 when this step's
 * share of a worker is spent (the job is queued again: others step between). */
static int scan_next(struct serve_job *j, uint64_t share_end, unsigned *n, const char **why,
                     const struct shmlog_read_event **ev)
{
    if (!j->opened) {
        j->opened = 1;
        if (open_reader(j, j->req.o.since_ns) != 0) {
            *why = "error";
            return 0;
        }
    }
    if (*n == 0)
        set_step_deadline(j, share_end);
    for (;;) {
        if ((*n)++ % 256 == 0) {
            uint64_t now = now_ns();
            if (now >= j->deadline_ns)
                *why = "time";
            else if (j->req.limit && j->records >= j->req.limit)
                *why = "limit";
            else if (now >= share_end)
                return -1;
            if (*why)
                return 0;
        }
        int rc = shmlog_read_next(j->r, ev);
        if (rc == -ETIMEDOUT) {
            if (now_ns() < j->deadline_ns)
                return -1;
            *why = "time";
            return 0;
        }
        if (rc < 0)
            dump_oom();
        if (rc == 0)
            return 0;
        if ((*ev)->kind != SHMLOG_READ_ERROR)
            return 1;
        note_error(j, *ev);
    }
}

static void step_stats(struct serve_job *j, struct render_buf *b)
{
    struct stats_acc *s = j->stats;
    if (!s && !(s = j->stats = calloc(1, sizeof *s)))
        dump_oom();
    const struct shmlog_read_event *ev;
    const char *why = NULL;
    uint64_t share_end = now_ns() + STEP_SHARE_NS;
    unsigned n = 0;
    int rc;
    while ((rc = scan_next(j, share_end, &n, &why, &ev)) > 0) {
        switch (ev->kind) {
        case SHMLOG_READ_LOSS:
            s->losses++;
            s->loss_records += ev->loss_records;
            continue;
        case SHMLOG_READ_EXIT:
            s->exits++;
            continue;
        }
        j->records++;
        s->by_level[ev->level < 6 ? ev->level : 5]++;
        if (!s->first_ts || ev->ts_ns < s->first_ts)
            s->first_ts = ev->ts_ns;
        if (ev->ts_ns > s->last_ts)
            s->last_ts = ev->ts_ns;
        tally_add(&s->apps, ev->app);
        tally_add(&s->hosts, ev->host);
        tally_add(&s->categories, ev->category);
    }
    if (rc < 0)
        return;
    render_buf_puts(b, "{\"records\":");
    render_buf_u64(b, j->records);
    render_buf_puts(b, ",\"levels\":{");
    for (unsigned l = 0; l < 6; l++) {
        if (l)
            render_buf_putc(b, ',');
        render_buf_putc(b, '"');
        render_buf_puts(b, level_text(l));
        render_buf_puts(b, "\":");
        render_buf_u64(b, s->by_level[l]);
    }
    render_buf_putc(b, '}');
    put_json_kv_u64(b, "losses", s->losses);
    put_json_kv_u64(b, "lost_records", s->loss_records);
    put_json_kv_u64(b, "exits", s->exits);
    put_json_kv_u64(b, "first_ts_ns", s->first_ts);
    put_json_kv_u64(b, "last_ts_ns", s->last_ts);
    render_buf_putc(b, ',');
    tally_json(b, "apps", &s->apps, 1);
    render_buf_putc(b, ',');
    tally_json(b, "hosts", &s->hosts, 1);
    render_buf_putc(b, ',');
    tally_json(b, "categories", &s->categories, 1);
    put_json_kv_u64(b, "other", s->apps.other + s->hosts.other + s->categories.other);
    put_json_kv_str(b, "end", why ? why : "complete");
    put_json_kv_u64(b, "errors", j->errors);
    if (j->error[0])
        put_json_kv_str(b, "error", j->error);
    render_buf_puts(b, "}\n");
    j->done = 1;
}

static const char *type_name(uint32_t t)
{
    static const char *const names[] = {"?", "bool", "int", "uint", "float", "str", "ptr", "float32"};
    return t < sizeof names / sizeof names[0] ? names[t] : "?";
}

/* A site's object, the first time a record of it is read. */
static char *site_json(struct shmlog_read *r, const struct shmlog_read_event *ev)
{
    const struct shmlog_read_site *s = ev->site;
    size_t cap = strlen(s->format) * 6 + strlen(s->file) * 6 + 4096;
    char *mem = malloc(cap);
    if (!mem)
        return NULL;
    struct render_buf b;
    render_buf_init(&b, mem, cap);
    render_buf_putc(&b, '{');
    render_buf_puts(&b, "\"app\":");
    render_json_string(&b, ev->app, strlen(ev->app));
    put_json_kv_str(&b, "file", s->file);
    put_json_kv_u64(&b, "line", s->line);
    put_json_kv_str(&b, "func", s->func ? s->func : "");
    put_json_kv_str(&b, "format", s->format);
    put_json_kv_str(&b, "level", level_text(s->level));
    put_json_kv_str(&b, "category", ev->category);
    render_buf_puts(&b, ",\"fields\":[");
    const struct shmlog_read_field *f;
    int n = shmlog_read_fields(r, &f);
    for (int i = 0; i < n && b.len + 512 < cap; i++) {
        render_buf_puts(&b, i ? ",{\"name\":" : "{\"name\":");
        render_json_string(&b, f[i].name, strlen(f[i].name));
        put_json_kv_str(&b, "type", type_name(f[i].type));
        render_buf_putc(&b, '}');
    }
    render_buf_puts(&b, "]}");
    if (b.overflow) {
        free(mem);
        return NULL;
    }
    mem[b.len < cap ? b.len : cap - 1] = '\0';
    return mem;
}

static void step_fields(struct serve_job *j, struct render_buf *b)
{
    struct fields_acc *f = j->fields;
    if (!f && !(f = j->fields = calloc(1, sizeof *f)))
        dump_oom();
    if (!f->site_json && !(f->site_json = calloc(2 * TALLY_MAX, sizeof *f->site_json)))
        dump_oom();
    const struct shmlog_read_event *ev;
    const char *why = NULL;
    uint64_t share_end = now_ns() + STEP_SHARE_NS;
    unsigned n = 0;
    int rc;
    uint64_t last_start = 0, last_site = UINT64_MAX; /* the process and site of the record before */
    char key[8192];
    while ((rc = scan_next(j, share_end, &n, &why, &ev)) > 0) {
        if (ev->kind != SHMLOG_READ_RECORD)
            continue;
        j->records++;
        tally_add(&f->apps, ev->app);
        tally_add(&f->hosts, ev->host);
        tally_add(&f->categories, ev->category);
        if (ev->thread)
            tally_add(&f->threads, ev->thread);
        /* The event's site is refilled in place: a site is told apart by its process and id. */
        uint64_t site = (uint64_t)ev->pid << 32 | ev->site_id;
        if (!ev->site || (site == last_site && ev->proc_start == last_start))
            continue;
        last_site = site;
        last_start = ev->proc_start;
        snprintf(key, sizeof key, "%s\x1f%s\x1f%u\x1f%s", ev->app, ev->site->file, ev->site->line, ev->site->format);
        long slot = tally_add(&f->sites, key);
        if (slot < 0 || f->site_json[slot])
            continue;
        f->site_json[slot] = site_json(j->r, ev);
        const struct shmlog_read_field *fl;
        int nf = shmlog_read_fields(j->r, &fl);
        for (int i = 0; i < nf; i++) {
            snprintf(key, sizeof key, "%s\x1f%s", fl[i].name, type_name(fl[i].type));
            tally_add(&f->fields, key);
        }
    }
    if (rc < 0)
        return;
    /* Bounded by the tallies' bounds: up to TALLY_MAX sites of up to 9 KiB formats, escaped. */
    size_t need = 1u << 16;
    for (size_t i = 0; i < f->sites.cap; i++)
        need += f->site_json[i] ? strlen(f->site_json[i]) + 2 : 0;
    need += 6 * 4 * TALLY_MAX * 300;
    char *mem = malloc(need);
    if (!mem)
        dump_oom();
    free(j->buf);
    j->buf = mem;
    j->cap = need;
    render_buf_init(b, mem, need);
    render_buf_puts(b, "{\"sites\":[");
    int first = 1;
    for (size_t i = 0; i < f->sites.cap; i++) {
        if (!f->site_json[i])
            continue;
        render_buf_puts(b, first ? "" : ",");
        render_buf_puts(b, f->site_json[i]);
        first = 0;
    }
    render_buf_puts(b, "],\"fields\":{");
    /* "name\x1ftype" keys: a name with every type it has at some site, listed at its first key */
    first = 1;
    char **keys = f->fields.keys;
    for (size_t i = 0; keys && i < f->fields.cap; i++) {
        size_t len = keys[i] ? strcspn(keys[i], "\x1f") : 0, k;
        for (k = 0; len && k < i; k++)
            if (keys[k] && strncmp(keys[k], keys[i], len + 1) == 0)
                break;
        if (!len || k < i)
            continue;
        render_buf_puts(b, first ? "\"" : ",\"");
        first = 0;
        render_buf_put(b, keys[i], len); /* a field name is [A-Za-z0-9_.]: no escape needed */
        render_buf_puts(b, "\":[");
        for (k = i; k < f->fields.cap; k++) {
            if (!keys[k] || strncmp(keys[k], keys[i], len + 1) != 0)
                continue;
            if (k > i)
                render_buf_putc(b, ',');
            render_json_string(b, keys[k] + len + 1, strlen(keys[k] + len + 1));
        }
        render_buf_putc(b, ']');
    }
    render_buf_puts(b, "},\"labels\":{");
    tally_json(b, "app", &f->apps, 0);
    render_buf_putc(b, ',');
    tally_json(b, "host", &f->hosts, 0);
    render_buf_putc(b, ',');
    tally_json(b, "category", &f->categories, 0);
    render_buf_putc(b, ',');
    tally_json(b, "thread", &f->threads, 0);
    render_buf_puts(b, ",\"level\":[\"TRACE\",\"DEBUG\",\"INFO\",\"WARN\",\"ERROR\",\"FATAL\"]}");
    put_json_kv_u64(b, "records", j->records);
    put_json_kv_str(b, "end", why ? why : "complete");
    put_json_kv_u64(b, "errors", j->errors);
    if (j->error[0])
        put_json_kv_str(b, "error", j->error);
    render_buf_puts(b, "}\n");
    j->done = 1;
}

static void step(struct serve_job *j)
{
    struct render_buf b;
    render_buf_init(&b, j->buf, j->cap);
    switch (j->req.kind) {
    case SERVE_QUERY: step_query(j, &b); break;
    case SERVE_TAIL: step_tail(j, &b); break;
    case SERVE_STATS: step_stats(j, &b); break;
    case SERVE_FIELDS: step_fields(j, &b); break;
    }
    j->off = 0;
    j->len = b.len;
    j->bytes += b.len;
    j->parked_ns = now_ns();
}

/* Under the lock: the readers of queries and tails whose clients are slow are closed,
 * so that a slow client costs its buffer, not a reader's memory. */
static void close_parked(uint64_t now)
{
    int closed = 0;
    for (struct serve_job *j = pool.all; j; j = j->all_next) {
        if ((j->req.kind != SERVE_QUERY && j->req.kind != SERVE_TAIL) || !j->r || j->stepping || j->queued || j->done || j->len == j->off ||
            now - j->parked_ns < PARKED_NS)
            continue;
        drop_reader(j);
        j->pending = 0; /* not sent: read again after the cursor */
        closed = 1;
    }
    if (closed)
        malloc_trim(0); /* a reader's memory is freed in the workers' arenas: give it back */
}

static void *worker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pool.lock);
    while (!pool.stopping) {
        uint64_t now = now_ns(), soonest = now + 100000000u;
        close_parked(now);
        for (struct serve_job **p = &pool.sleeping; *p;) {
            struct serve_job *j = *p;
            if (j->released || j->next_tick_ns <= now) {
                *p = j->next;
                enqueue(j);
            } else {
                if (j->next_tick_ns < soonest)
                    soonest = j->next_tick_ns;
                p = &j->next;
            }
        }
        struct serve_job *j = dequeue();
        if (!j) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until); /* the condition variable's clock (serve_jobs_start) */
            uint64_t wait = soonest - now;
            until.tv_sec += (time_t)(wait / 1000000000u);
            until.tv_nsec += (long)(wait % 1000000000u);
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&pool.wake, &pool.lock, &until);
            continue;
        }
        if (j->released) {
            job_free(j);
            continue;
        }
        j->stepping = 1;
        pthread_mutex_unlock(&pool.lock);
        step(j);
        pthread_mutex_lock(&pool.lock);
        j->stepping = 0;
        if (j->released) {
            job_free(j);
            continue;
        }
        if (j->len > j->off || j->done) {
            if (j->suspended) {
                j->suspended = 0;
                MHD_resume_connection(j->conn);
            }
        } else if (j->req.kind == SERVE_TAIL) {
            j->next = pool.sleeping;
            pool.sleeping = j;
        } else {
            enqueue(j); /* a step that ran out of its share before it made bytes */
        }
    }
    pthread_mutex_unlock(&pool.lock);
    return NULL;
}

/* ==== The HTTP thread's side ==== */

ssize_t serve_job_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct serve_job *j = cls;
    pthread_mutex_lock(&pool.lock);
    if (j->len > j->off && !j->stepping) {
        size_t n = j->len - j->off < max ? j->len - j->off : max;
        memcpy(buf, j->buf + j->off, n);
        j->off += n;
        count(&serve_counters.bytes_sent, (int64_t)n);
        if (j->off == j->len && !j->done)
            enqueue(j);
        pthread_mutex_unlock(&pool.lock);
        return (ssize_t)n;
    }
    if (j->done && !j->stepping) {
        pthread_mutex_unlock(&pool.lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    /* A step is making the next bytes: the worker resumes the connection. */
    j->suspended = 1;
    MHD_suspend_connection(j->conn);
    pthread_mutex_unlock(&pool.lock);
    return 0;
}

void serve_job_release(void *cls)
{
    struct serve_job *j = cls;
    pthread_mutex_lock(&pool.lock);
    j->released = 1;
    j->conn = NULL;
    j->suspended = 0;
    if (!j->stepping && !j->queued) {
        /* Not in the queue; a sleeping tail is freed by the worker that wakes it. */
        int sleeping = 0;
        for (struct serve_job *s = pool.sleeping; s; s = s->next)
            sleeping |= s == j;
        if (!sleeping)
            job_free(j);
        else
            pthread_cond_signal(&pool.wake);
    }
    pthread_mutex_unlock(&pool.lock);
}

int serve_jobs_start(const char *const *paths, size_t n, const struct cli *cli, unsigned workers)
{
    /* Waits by the monotonic clock: a step of the wall clock neither stalls nor spins the workers. */
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0 || pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&pool.wake, &attr) != 0)
        return -ENOMEM;
    pthread_condattr_destroy(&attr);
    pool.paths = paths;
    pool.npaths = n;
    pool.cli = cli;
    pool.threads = calloc(workers, sizeof *pool.threads);
    if (!pool.threads)
        return -ENOMEM;
    for (unsigned i = 0; i < workers; i++) {
        int rc = pthread_create(&pool.threads[i], NULL, worker, NULL);
        if (rc != 0)
            return -rc;
        pthread_setname_np(pool.threads[i], "shmlog-serve");
        pool.nthreads++;
    }
    return 0;
}

void serve_jobs_stop(void)
{
    pthread_mutex_lock(&pool.lock);
    pool.stopping = 1;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    for (unsigned i = 0; i < pool.nthreads; i++)
        pthread_join(pool.threads[i], NULL);
    free(pool.threads);
    /* Every answer ends where it is: libmicrohttpd stops only with none suspended. */
    pthread_mutex_lock(&pool.lock);
    pool.head = pool.tail = pool.fresh = pool.fresh_tail = pool.sleeping = NULL;
    for (struct serve_job *j = pool.all; j; j = j->all_next) {
        j->queued = 0;
        j->done = 1;
        j->len = j->off = 0;
        if (j->suspended) {
            j->suspended = 0;
            MHD_resume_connection(j->conn);
        }
    }
    pthread_mutex_unlock(&pool.lock);
}
