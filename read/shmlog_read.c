/*
 * shmlog_read.c - libshmlog-read (shmlog_read.h): the engine
 * (read_engine.h) as a pull iterator.
 *
 * A reader owns an engine whose consumer is the merge, and is the merge's
 * sink: the merge hands it entries in time order, and it copies them into a
 * batch that shmlog_read_next() gives out one at a time. Once the batch holds
 * READY_MAX bytes the merge pauses, so the batch, like the merge, stays
 * bounded. Everything is in the handle: readers on several threads never
 * meet, and out of memory is an error value, after which the reader only
 * frees.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "read_jobs.h"
#include "read_lib.h"

#define READY_MAX (256u << 10) /* bytes of entries copied out of the merge before it pauses */
/* The options of version 1: a program passes at least these. */
#define OPTIONS_V1_SIZE (offsetof(struct shmlog_read_options, local_time) + sizeof(int))
#define COLUMNS_V1_SIZE (offsetof(struct shmlog_read_columns, values_cap) + sizeof(size_t))
#define COLUMNS_V4_SIZE (offsetof(struct shmlog_read_columns, thread) + sizeof(uint64_t *))

/* A source of rows: a call site of one process, and its fields' names and types. */
struct column_source {
    struct shmlog_read_source pub;
    struct shmlog_read_site site;
    const struct dproc *proc;
    char *names[SHMLOG_MAX_ARGS];
    uint32_t types[SHMLOG_MAX_ARGS];
};

/* A call that steps the engine fails, as every one after, once the engine did. */
int read_fail(struct shmlog_read *r, int rc)
{
    if (rc < 0 && !r->failed)
        r->failed = rc;
    return r->failed;
}

/* ==== The sink ==== */

static void *ready_room(struct shmlog_read *r, size_t bytes)
{
    if (r->ready_len + bytes > r->ready_cap) {
        size_t cap = r->ready_cap ? r->ready_cap * 2 : 64u << 10;
        while (cap < r->ready_len + bytes)
            cap *= 2;
        unsigned char *m = realloc(r->ready, cap);
        if (!m)
            return NULL;
        r->ready = m;
        r->ready_cap = cap;
    }
    void *p = r->ready + r->ready_len;
    r->ready_len += bytes;
    return p;
}

static int sink_entry(void *ctx, const struct entry *e)
{
    struct shmlog_read *r = ctx;
    void *p = ready_room(r, e->bytes);
    if (!p)
        return -ENOMEM;
    memcpy(p, e, e->bytes);
    return r->ready_len >= READY_MAX;
}

/* A stream keeps what it is told for the caller; events give it in order. */
void read_keep_message(struct shmlog_read *r, const char *msg, int note)
{
    if (r->nmessages >= READ_MESSAGES_MAX)
        return;
    size_t n = strnlen(msg, 4095);
    char *text = malloc(n + 1);
    if (!text)
        return; /* a message, not a record: the stream goes on without it */
    memcpy(text, msg, n);
    text[n] = '\0';
    r->messages[r->nmessages++] = (struct read_message){text, note};
}

static void sink_message(void *ctx, const char *msg, int note)
{
    struct shmlog_read *r = ctx;
    if (!note)
        r->had_errors = 1;
    size_t n = strlen(msg) + 1;
    if (n > 4096)
        n = 4096;
    size_t bytes = (sizeof(struct entry) + n + 7) & ~(size_t)7;
    struct entry *e = ready_room(r, bytes);
    if (!e) {
        read_fail(r, -ENOMEM);
        return;
    }
    memset(e, 0, sizeof *e);
    e->bytes = (uint16_t)bytes;
    e->kind = note ? ENTRY_NOTE : ENTRY_ERROR;
    memcpy(e + 1, msg, n);
    ((char *)(e + 1))[n - 1] = '\0';
    if (r->ready_len >= READY_MAX)
        r->merge.pause = 1;
}

/* ==== Open and close ==== */

static int fail(char *err, size_t errcap, int rc, const char *fmt, const char *what)
{
    if (errcap)
        snprintf(err, errcap, fmt, what);
    return rc;
}

static void reader_free(struct shmlog_read *r)
{
    if (r->lines_free)
        r->lines_free(r); /* its threads render with the engine's renderers */
    for (size_t i = 0; i < r->nkafka; i++)
        read_kafka_close(&r->engine, r->kafka[i]);
    free(r->kafka);
    read_free_sources(&r->engine, r->srcs, r->nsrc);
    read_merge_free(&r->merge);
    read_engine_free(&r->engine);
    read_filter_free(&r->filter);
    read_inputs_free(&r->inputs);
    free(r->ready);
    free(r->text);
    free(r->lines_text);
    free(r->field_text);
    free(r->tree_text);
    for (size_t i = 0; i < r->nmessages; i++)
        free(r->messages[i].text);
    for (uint32_t i = 0; i < r->nsources; i++) {
        for (uint32_t j = 0; j < SHMLOG_MAX_ARGS; j++)
            free(r->sources[i]->names[j]);
        free(r->sources[i]);
    }
    free(r->sources);
    read_hmap_clear(&r->source_of);
    free(r);
}

void read_unref(struct shmlog_read *r)
{
    if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
        reader_free(r);
}

/* The options given, checked; 0, or -EINVAL / -errno with the reason in err. */
static int check_options(const char *const *paths, size_t n, const struct shmlog_read_options *o, char *err,
                         size_t errcap)
{
    if (n == 0 || !paths)
        return fail(err, errcap, -EINVAL, "%s", "no file or directory to read");
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (paths[i] && shlog_is_kafka_url(paths[i]))
            continue;
        if (!paths[i] || stat(paths[i], &st) != 0) {
            int e = paths[i] ? errno : EINVAL;
            if (errcap)
                snprintf(err, errcap, "%s: %s", paths[i] ? paths[i] : "(null)", strerror(e));
            return -e;
        }
    }
    if (o->min_level > 5)
        return fail(err, errcap, -EINVAL, "%s", "min_level is 0 (TRACE) to 5 (FATAL), or -1 for any");
    if (o->app && (!*o->app || strlen(o->app) >= SHMLOG_APP_BYTES)) {
        if (errcap)
            snprintf(err, errcap, "app is an application name of 1 to %u bytes", SHMLOG_APP_BYTES - 1);
        return -EINVAL;
    }
    if (o->host && (strlen(o->host) >= SHMLOG_HOST_BYTES || !shlog_host_name_ok(o->host))) {
        if (errcap)
            snprintf(err, errcap, "host is a host's name as the collector's --host gives it: 1 to %u bytes of "
                     "[A-Za-z0-9._-]", SHMLOG_HOST_BYTES - 1);
        return -EINVAL;
    }
    return 0;
}

/* The reader's filter from the options. 0, or -EINVAL / -ENOMEM with the reason in err. */
static int set_filter(struct shmlog_read *r, const struct shmlog_read_options *o, char *err, size_t errcap)
{
    return read_filter_set_options(&r->filter, &r->names, o, err, errcap);
}

/* The kafka:// paths: each topic read from the first message at or after
 * the since filter. 0, or -errno with err set. */
static int open_kafka(struct shmlog_read *r, const char *const *paths, size_t n, const struct shmlog_read_options *o,
                      char *err, size_t errcap)
{
    for (size_t i = 0; i < n; i++) {
        if (!shlog_is_kafka_url(paths[i]))
            continue;
        struct read_kafka **v = realloc(r->kafka, (r->nkafka + 1) * sizeof *v);
        if (!v)
            return fail(err, errcap, -ENOMEM, "%s", "out of memory");
        r->kafka = v;
        char why[512];
        int rc = read_kafka_open(&r->engine, paths[i], o->since_ns, 0, &r->kafka[r->nkafka], why, sizeof why);
        if (rc != 0)
            return fail(err, errcap, rc, "%s", why);
        r->nkafka++;
    }
    return 0;
}

int shmlog_read_open(struct shmlog_read **out, const char *const *paths, size_t n,
                     const struct shmlog_read_options *opt, char *err, size_t errcap)
{
    static const struct shmlog_read_options none = SHMLOG_READ_OPTIONS_INIT;
    struct shmlog_read_options o = none;
    if (errcap)
        err[0] = '\0';
    *out = NULL;
    if (opt) {
        /* A program built against an older header knows a prefix of the options. */
        if (opt->size < OPTIONS_V1_SIZE)
            return fail(err, errcap, -EINVAL, "%s", "shmlog_read_options.size is not set: start from SHMLOG_READ_OPTIONS_INIT");
        memcpy(&o, opt, opt->size < sizeof o ? opt->size : sizeof o);
    }
    int rc = check_options(paths, n, &o, err, errcap);
    if (rc)
        return rc;

    struct shmlog_read *r = calloc(1, sizeof *r);
    if (!r)
        return fail(err, errcap, -ENOMEM, "%s", "out of memory");
    atomic_init(&r->refs, 1);
    render_memo_init(&r->memo, o.local_time);
    r->sink = (struct entry_sink){sink_entry, sink_message, r};
    read_merge_init(&r->merge, &r->engine, &r->sink, o.merge_bytes);
    struct read_consumer c = read_merge_consumer(&r->merge);
    if ((rc = set_filter(r, &o, err, errcap)) != 0 || (rc = read_engine_init(&r->engine, &r->filter, &c)) != 0 ||
        !(r->text = malloc(RENDER_LINE_MAX + 1))) {
        if (rc != -EINVAL)
            fail(err, errcap, -ENOMEM, "%s", "out of memory");
        reader_free(r);
        return rc ? rc : -ENOMEM;
    }
    r->merge.limit = r->filter.limit;
    r->threads = read_jobs_threads(o.threads ? o.threads : 1); /* 0 from a program before version 13 too */
    /* The merge hands each record on at once: a closed file's sites go (until
     * the columns' sources, valid until close, point at them). */
    r->engine.release_sites = 1;
    if ((rc = open_kafka(r, paths, n, &o, err, errcap)) != 0) {
        reader_free(r);
        return rc;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct stat st;
        if (shlog_is_kafka_url(paths[i]))
            continue;
        if (stat(paths[i], &st) != 0) {
            /* Gone since it was checked: said as the dump says it. */
            char msg[4096 + 128];
            snprintf(msg, sizeof msg, "%s: %s", paths[i], strerror(errno));
            read_say(&r->engine, msg, 0);
            r->engine.status = 1;
            continue;
        }
        rc = read_inputs_add(&r->engine, &r->inputs, paths[i], S_ISDIR(st.st_mode));
    }
    read_inputs_sort(&r->inputs);
    if (rc == 0)
        rc = read_make_sources(&r->engine, &r->inputs, &r->srcs, &r->nsrc);
    if (rc != 0) {
        fail(err, errcap, rc, "%s", rc == -ENOMEM ? "out of memory" : strerror(-rc));
        reader_free(r);
        return rc;
    }
    struct source *first = r->nsrc ? r->srcs : NULL;
    for (size_t i = 0; i < r->nkafka; i++)
        read_sources_append(&first, read_kafka_source(r->kafka[i]));
    read_merge_begin(&r->merge, first);
    *out = r;
    return 0;
}

void read_follow_live(struct shmlog_read *r)
{
    r->engine.follow_live = 1;
}

void shmlog_read_close(struct shmlog_read *r)
{
    if (r)
        read_unref(r);
}

/* ==== Events ==== */

uint32_t read_record_flags(const struct shm_copied_record *rec, const struct dsite *site)
{
    return ((rec->flags & SHMLOG_REC_TRUNCATED) ? SHMLOG_READ_TRUNCATED : 0) |
           ((rec->flags & SHMLOG_REC_CLAMPED) ? SHMLOG_READ_CLAMPED : 0) |
           ((rec->flags & SHMLOG_REC_BACKTRACE) ? SHMLOG_READ_BACKTRACE : 0) |
           ((rec->flags & SHM_REC_TIME_UNCERTAIN) ? SHMLOG_READ_TIME_UNCERTAIN : 0) |
           ((rec->flags & SHMLOG_REC_TRACE) ? SHMLOG_READ_TRACE_SET : 0) | (site ? 0 : SHMLOG_READ_UNKNOWN_SITE);
}

const char *read_category_name(const struct dproc *p, unsigned id, char buf[16])
{
    const char *name = shm_categories_name(p->cats, id);
    if (name)
        return name;
    snprintf(buf, 16, "cat%u", id);
    return buf;
}

static struct shmlog_read_site public_site(const struct dsite *d)
{
    return (struct shmlog_read_site){d->id,       d->line,     d->file ? d->file : "", d->fmt, d->level,
                                     d->category, d->nargs, d->func ? d->func : ""};
}

static const char *level_name(struct shmlog_read *r, unsigned level)
{
    const char *name = shm_level_name(level);
    if (name)
        return name;
    snprintf(r->level_buf, sizeof r->level_buf, "L%u", level);
    return r->level_buf;
}

static void fill_event(struct shmlog_read *r, const struct entry *e)
{
    static const struct shmlog_read_event none;
    struct shmlog_read_event *ev = &r->ev;
    *ev = none; /* moves, not a rep stos that costs more than the rest of the call */
    ev->ts_ns = e->ts_ns;
    ev->cpu = e->cpu;
    if (e->kind == ENTRY_NOTE || e->kind == ENTRY_ERROR) {
        ev->kind = SHMLOG_READ_ERROR;
        ev->flags = e->kind == ENTRY_NOTE ? SHMLOG_READ_NOTE : 0;
        ev->error = (const char *)(e + 1);
        ev->cpu = UINT32_MAX;
        return;
    }
    const struct dproc *p = e->proc;
    ev->host = p->info.host;
    ev->app = p->info.app;
    ev->pid = p->info.pid;
    ev->proc_start = p->info.proc_start;
    ev->instance = p->instance;
    ev->hostname = p->hostname;
    if (e->kind == ENTRY_LOSS) {
        struct shm_loss loss;
        memcpy(&loss, e + 1, sizeof loss);
        ev->kind = SHMLOG_READ_LOSS;
        ev->loss_reason = shm_loss_reason_name(loss.reason);
        ev->loss_records = loss.records;
        ev->loss_positions = loss.positions;
        ev->loss_first_seq = loss.first_pos;
        return;
    }
    if (e->kind == ENTRY_EXIT) {
        struct entry_exit x;
        memcpy(&x, e + 1, sizeof x);
        ev->kind = SHMLOG_READ_EXIT;
        ev->exit_records = x.records;
        ev->exit_lost = x.lost;
        ev->exit_how = x.how == SHLOG_EXIT_SHUTDOWN ? "shutdown" : x.how == SHLOG_EXIT_DIED ? "died" : "";
        return;
    }
    const struct shm_copied_record *rec = entry_record(e);
    ev->kind = SHMLOG_READ_RECORD;
    ev->ts_ns = entry_own_ts(e);
    ev->tid = rec->tid;
    ev->thread = e->thread;
    if (e->trace.hi || e->trace.lo) {
        ev->trace_hi = e->trace.hi;
        ev->trace_lo = e->trace.lo;
        ev->span = e->trace.span;
    }
    ev->site_id = rec->site;
    ev->seq = rec->pos;
    ev->level = rec->level;
    ev->level_name = level_name(r, rec->level);
    ev->category = read_category_name(p, rec->category, r->category_buf);
    ev->flags = read_record_flags(rec, e->site);
    if (e->site) {
        r->site = public_site(e->site);
        ev->site = &r->site;
    }
}

void read_set_deadline(struct shmlog_read *r, uint64_t ns)
{
    r->deadline_ns = ns;
    r->deadline_steps = 0;
    r->timed_out = 0;
}

int read_past_deadline(struct shmlog_read *r)
{
    if (!r->deadline_ns)
        return 0;
    if (r->timed_out)
        return 1;
    if (r->deadline_steps++ % 8 != 0) /* a step reads a frame or less: the clock costs little beside it */
        return 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    r->timed_out = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec >= r->deadline_ns;
    return r->timed_out;
}

const struct entry *read_peek(struct shmlog_read *r)
{
    while (r->ready_off >= r->ready_len) {
        r->ready_off = r->ready_len = 0;
        if (r->ended || r->failed || read_past_deadline(r))
            return NULL;
        int rc = read_merge_step(&r->merge);
        if (rc == 0 && r->engine.follow_live && !r->merge.stop) {
            if (r->ready_len == 0)
                return NULL; /* nothing for now: a later call reads on */
            continue;
        }
        if (rc <= 0) {
            r->ended = 1;
            if (read_fail(r, rc))
                return NULL;
        }
    }
    return (const struct entry *)(r->ready + r->ready_off);
}

int shmlog_read_next(struct shmlog_read *r, const struct shmlog_read_event **ev)
{
    if (r->streaming || r->lines_ahead)
        return -EBUSY;
    r->cur = NULL;
    const struct entry *e = read_peek(r);
    if (!e)
        return r->failed ? r->failed : r->timed_out ? -ETIMEDOUT : 0;
    r->ready_off += e->bytes;
    r->cur = e;
    r->events++;
    fill_event(r, e);
    *ev = &r->ev;
    return 1;
}

/* The current record's arguments into r->args, unless they are there. */
static void current_args(struct shmlog_read *r, const struct render_site *sr)
{
    if (r->args_of == r->events)
        return;
    r->nargs = render_prepared_args(sr, entry_record(r->cur), NULL, r->args);
    r->args_of = r->events;
}

const char *shmlog_read_message(struct shmlog_read *r, size_t *len)
{
    if (!r->cur || r->ev.kind != SHMLOG_READ_RECORD || !r->ev.site)
        return NULL;
    const struct render_site *sr = prepared(&r->engine, r->cur->site, r->cur->proc);
    if (!sr)
        return NULL;
    struct render_buf b;
    render_buf_init(&b, r->text, RENDER_LINE_MAX);
    current_args(r, sr);
    render_prepared_msg_of(sr, entry_record(r->cur), r->args, r->nargs, &b);
    r->text[b.len] = '\0';
    if (len)
        *len = b.len;
    return r->text;
}

/* Copies n bytes and a NUL to *at, which has room for them (shmlog_read_fields sized it). */
static const char *copy_text(char **at, const void *s, size_t n)
{
    char *start = *at;
    if (n)
        memcpy(start, s, n);
    start[n] = '\0';
    *at = start + n + 1;
    return start;
}

uint32_t read_field_type(unsigned arg_type)
{
    switch (arg_type) {
    case SHMLOG_ARG_BOOL:
        return SHMLOG_READ_BOOL;
    case SHMLOG_ARG_I8: case SHMLOG_ARG_I16: case SHMLOG_ARG_I32: case SHMLOG_ARG_I64:
        return SHMLOG_READ_INT;
    case SHMLOG_ARG_F32:
        return SHMLOG_READ_FLOAT32;
    case SHMLOG_ARG_F64:
        return SHMLOG_READ_FLOAT;
    case SHMLOG_ARG_STR:
        return SHMLOG_READ_STR;
    case SHMLOG_ARG_PTR:
        return SHMLOG_READ_PTR;
    default: /* U8..U64 */
        return SHMLOG_READ_UINT;
    }
}

int read_room(char **buf, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    size_t want = *cap ? *cap : 1024;
    while (want < n)
        want *= 2;
    char *grown = realloc(*buf, want);
    if (!grown)
        return -ENOMEM;
    *buf = grown;
    *cap = want;
    return 0;
}

int read_field_shown(const struct render_arg *value, int tree, char **text, size_t *cap, struct render_arg *shown)
{
    if (!tree) {
        *shown = *value;
        return 0;
    }
    const size_t room = read_tree_text_room(value->type == SHMLOG_ARG_STR ? value->str_len : 0);
    if (read_room(text, cap, room) != 0)
        return -ENOMEM;
    struct render_buf b;
    render_buf_init(&b, *text, room);
    render_tree_plain(&b, value);
    *shown = (struct render_arg){.type = SHMLOG_ARG_STR, .str_truncated = (uint8_t)b.overflow};
    shown->str_len = (uint16_t)(b.len < SHMLOG_STR_LEN_MASK ? b.len : SHMLOG_STR_LEN_MASK);
    shown->v.s = (const uint8_t *)*text;
    return 0;
}

/* The bytes a record's fields take in field_text: names and strings, each
 * with its NUL, a value tree's as the most its text can take. */
static size_t fields_text_bytes(const struct render_field *rf, int n)
{
    size_t bytes = 0;
    for (int i = 0; i < n; i++) {
        const struct render_arg *a = &rf[i].value;
        bytes += rf[i].name_len + 1u;
        if (a->type == SHMLOG_ARG_STR)
            bytes += (rf[i].tree ? read_tree_text_room(a->str_len) : a->str_len) + 1u;
    }
    return bytes;
}

int shmlog_read_fields(struct shmlog_read *r, const struct shmlog_read_field **fields)
{
    *fields = r->fields;
    if (!r->cur || r->ev.kind != SHMLOG_READ_RECORD || !r->ev.site)
        return 0;
    const struct render_site *sr = prepared(&r->engine, r->cur->site, r->cur->proc);
    struct render_field rf[SHMLOG_MAX_ARGS];
    int n = -1;
    if (sr) {
        current_args(r, sr);
        n = render_prepared_fields_of(sr, r->args, r->nargs, rf);
    }
    if (n > 0 && read_room(&r->field_text, &r->field_text_cap, fields_text_bytes(rf, n)) != 0)
        return read_fail(r, -ENOMEM);
    char *at = r->field_text;
    for (int i = 0; i < n; i++) {
        struct shmlog_read_field *out = &r->fields[i];
        struct render_arg shown;
        if (read_field_shown(&rf[i].value, rf[i].tree, &r->tree_text, &r->tree_text_cap, &shown) != 0)
            return read_fail(r, -ENOMEM);
        const struct render_arg *a = &shown;
        memset(out, 0, sizeof *out);
        out->name = copy_text(&at, rf[i].name, rf[i].name_len);
        out->type = read_field_type(a->type);
        if (out->type == SHMLOG_READ_STR) {
            out->str_len = a->str_len;
            out->v.s = copy_text(&at, a->v.s, a->str_len);
        } else if (out->type == SHMLOG_READ_BOOL) {
            out->v.u = a->v.u != 0;
        } else {
            out->v = (__typeof__(out->v)){.u = a->v.u}; /* the union's 64 bits, whichever member */
        }
    }
    return n;
}

long shmlog_read_format(struct shmlog_read *r, int json, char *buf, size_t cap)
{
    if (!r->cur || r->ev.kind == SHMLOG_READ_ERROR || cap == 0)
        return 0;
    struct render_buf b;
    render_buf_init(&b, buf, cap - 1);
    b.memo = &r->memo;
    if (read_entry_line(&r->engine, r->cur, json, &b) != 0)
        return -ENOMEM;
    buf[b.len] = '\0';
    return b.overflow ? -ENOBUFS : (long)b.len;
}

const char *shmlog_read_line(struct shmlog_read *r, int json, size_t *len)
{
    long n = shmlog_read_format(r, json, r->text, RENDER_LINE_MAX + 1);
    if (n <= 0)
        return NULL; /* no line can be longer than RENDER_LINE_MAX */
    if (len)
        *len = (size_t)n;
    return r->text;
}

/* ==== Columns ==== */

/* The source of a record entry: its index + 1, made on first sight; 0 when out of memory. */
static uint32_t source_index(struct shmlog_read *r, const struct entry *e)
{
    const struct shm_copied_record *rec = entry_record(e);
    uint64_t k2 = e->site ? (uintptr_t)e->site : (1ull << 63) | rec->site;
    void *v = read_hmap_get(&r->source_of, (uintptr_t)e->proc, k2);
    if (v)
        return (uint32_t)(uintptr_t)v;
    if (r->nsources == r->sources_cap) {
        uint32_t cap = r->sources_cap ? 2 * r->sources_cap : 64;
        struct column_source **m = realloc(r->sources, cap * sizeof *m);
        if (!m)
            return 0;
        r->sources = m;
        r->sources_cap = cap;
    }
    uint32_t i = r->nsources;
    struct column_source *s = calloc(1, sizeof *s);
    if (!s)
        return 0;
    r->sources[i] = s;
    s->proc = e->proc;
    s->pub.host = e->proc->info.host;
    s->pub.app = e->proc->info.app;
    s->pub.pid = e->proc->info.pid;
    s->pub.proc_start = e->proc->info.proc_start;
    s->pub.instance = e->proc->instance;
    s->pub.hostname = e->proc->hostname;
    s->pub.site_id = rec->site;
    s->pub.field_names = (const char *const *)s->names;
    s->pub.field_types = s->types;
    if (e->site) {
        s->site = public_site(e->site);
        s->pub.site = &s->site;
    }
    r->nsources++;
    if (read_hmap_put(&r->source_of, (uintptr_t)e->proc, k2, (void *)(uintptr_t)(i + 1)) != 0)
        return 0;
    return i + 1;
}

/* The source's field names and types, from its first record that decoded. 0, or -ENOMEM. */
static int source_learn(struct column_source *s, const struct render_field *rf, int n)
{
    for (int j = 0; j < n; j++) {
        s->names[j] = malloc(rf[j].name_len + 1);
        if (!s->names[j])
            return -ENOMEM; /* those before are freed with the source */
        memcpy(s->names[j], rf[j].name, rf[j].name_len);
        s->names[j][rf[j].name_len] = '\0';
        s->types[j] = read_field_type(rf[j].value.type);
    }
    s->pub.nfields = (uint32_t)n;
    return 0;
}

/* Appends n bytes of s to a row's text at *at (text_cap bytes in all): where
 * they are, offset << 32 | length, or UINT64_MAX when they do not fit. */
static uint64_t row_text_put(char *text, size_t text_cap, size_t *at, const void *s, size_t n)
{
    if (*at + n > text_cap)
        return UINT64_MAX;
    memcpy(text + *at, s, n);
    uint64_t where = (uint64_t)*at << 32 | n;
    *at += n;
    return where;
}

long shmlog_read_next_columns(struct shmlog_read *r, struct shmlog_read_columns *c)
{
    if (!c || c->size < COLUMNS_V1_SIZE || c->cap == 0 || !c->ts_ns || !c->seq || !c->tid || !c->cpu || !c->source || !c->level ||
        !c->category || !c->flags || (c->msg && !c->text) || (c->values_at && (!c->values || !c->text)))
        return -EINVAL;
    uint64_t *thread = c->size >= COLUMNS_V4_SIZE ? c->thread : NULL;
    if (thread && !c->text)
        return -EINVAL;
    if (r->streaming || r->lines_ahead)
        return -EBUSY;
    read_keep_sites(&r->engine); /* its sources' sites stay valid until close */
    r->cur = NULL;
    size_t rows = 0, text_len = 0, nvalues = 0;
    /* Offsets into text and values are 32-bit. */
    size_t text_cap = c->text_cap < UINT32_MAX ? c->text_cap : UINT32_MAX;
    size_t values_cap = c->values_cap < UINT32_MAX ? c->values_cap : UINT32_MAX;
    long result = 0;
    while (rows < c->cap) {
        const struct entry *e = read_peek(r);
        if (!e)
            break;
        if (e->kind != ENTRY_RECORD && e->kind != ENTRY_BACKTRACE)
            break;
        const struct shm_copied_record *rec = entry_record(e);
        /* Records come in runs of one site: the last one's source is the likely one. */
        uint32_t src = e->site && e->site == r->last_site && e->proc == r->last_proc ? r->last_source + 1
                                                                                       : source_index(r, e);
        const struct render_site *sr = src ? prepared(&r->engine, e->site, e->proc) : NULL;
        if (!sr) {
            read_fail(r, -ENOMEM);
            break;
        }
        src--;
        struct column_source *s = r->sources[src];
        struct render_buf b;
        size_t msg_len = 0;
        struct render_arg args[SHMLOG_MAX_ARGS]; /* decoded once for the message and the values */
        int nargs = 0;
        if (c->msg && e->site) {
            /* Rendered where it goes; a row that does not fit waits for the next call. */
            render_buf_init(&b, c->text + text_len, text_cap - text_len);
            nargs = render_prepared_args(sr, rec, &b, args);
            if (b.overflow)
                goto full;
            msg_len = b.len;
        } else if (c->values_at && e->site) {
            nargs = render_prepared_args(sr, rec, NULL, args);
        }
        uint8_t flags = (uint8_t)read_record_flags(rec, e->site);
        size_t row_end = text_len + msg_len, row_values = 0; /* where the row's text ends */
        if (c->values_at && e->site) {
            struct render_field rf[SHMLOG_MAX_ARGS];
            int n = render_prepared_fields_of(sr, args, nargs, rf);
            if (n > 0 && s->pub.nfields == 0 && source_learn(s, rf, n) != 0) {
                read_fail(r, -ENOMEM);
                break;
            }
            /* A site's records all have its fields, or did not decode. */
            if (n < 0 || (uint32_t)n != s->pub.nfields) {
                flags |= SHMLOG_READ_CORRUPT;
            } else {
                if (nvalues + (size_t)n > values_cap)
                    goto full;
                for (int j = 0; j < n; j++) {
                    struct render_arg shown;
                    if (read_field_shown(&rf[j].value, rf[j].tree, &r->tree_text, &r->tree_text_cap, &shown) != 0) {
                        read_fail(r, -ENOMEM);
                        goto full;
                    }
                    const struct render_arg *a = &shown;
                    uint64_t v = a->v.u;
                    if (a->type == SHMLOG_ARG_STR) {
                        v = row_text_put(c->text, text_cap, &row_end, a->v.s, a->str_len);
                        if (v == UINT64_MAX)
                            goto full;
                    } else if (a->type == SHMLOG_ARG_BOOL) {
                        v = a->v.u != 0;
                    }
                    c->values[nvalues + (size_t)j] = v;
                }
                row_values = (size_t)n;
            }
        }
        if (thread) {
            thread[rows] = UINT64_MAX;
            if (e->thread) {
                thread[rows] = row_text_put(c->text, text_cap, &row_end, e->thread, strlen(e->thread));
                if (thread[rows] == UINT64_MAX)
                    goto full;
            }
        }
        c->ts_ns[rows] = entry_own_ts(e);
        c->seq[rows] = rec->pos;
        c->tid[rows] = rec->tid;
        c->cpu[rows] = e->cpu;
        c->source[rows] = src;
        c->level[rows] = rec->level;
        c->category[rows] = rec->category;
        c->flags[rows] = flags;
        if (c->msg)
            c->msg[rows] = (uint64_t)text_len << 32 | msg_len;
        if (c->values_at)
            c->values_at[rows] = (uint32_t)nvalues;
        text_len = row_end;
        nvalues += row_values;
        r->last_proc = e->proc;
        r->last_site = e->site;
        r->last_source = src;
        r->ready_off += e->bytes;
        rows++;
        continue;
    full:
        if (rows == 0)
            result = -ENOBUFS;
        break;
    }
    if (r->failed)
        return r->failed;
    return result < 0 ? result : (long)rows;
}

const struct shmlog_read_source *shmlog_read_source(struct shmlog_read *r, uint32_t i)
{
    return i < r->nsources ? &r->sources[i]->pub : NULL;
}

const char *shmlog_read_category_name(struct shmlog_read *r, uint32_t source, uint32_t id)
{
    if (source >= r->nsources)
        return NULL;
    return read_category_name(r->sources[source]->proc, id, r->source_category);
}

int shmlog_read_had_errors(const struct shmlog_read *r)
{
    return r->had_errors;
}

int shmlog_read_version(void)
{
    return SHMLOG_READ_VERSION;
}

int shmlog_read_parse_time(const char *s, int local, uint64_t *ns, char *err, size_t errcap)
{
    if (errcap)
        err[0] = '\0';
    if (!s || read_parse_time(s, local, read_now_ns(), ns) != 0) {
        if (errcap)
            snprintf(err, errcap, "'%s' is not a time; give one of %s", s ? s : "(null)", read_time_forms);
        return -EINVAL;
    }
    return 0;
}

const char *shmlog_read_stream_message(struct shmlog_read *r, size_t i, int *note)
{
    if (i >= r->nmessages)
        return NULL;
    if (note)
        *note = r->messages[i].note;
    return r->messages[i].text;
}
