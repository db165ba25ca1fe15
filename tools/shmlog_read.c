/*
 * shmlog_read.c - libshmlog-read (shmlog_read.h): shmlog-dump read's engine
 * (dump_files.h) turned into a pull iterator.
 *
 * A reader owns one file command (struct file_cmd) and is its sink: the
 * merge hands it entries in time order, and it copies them into a batch
 * that shmlog_read_next() gives out one at a time. Once the batch holds
 * READY_MAX bytes the merge pauses, so the batch, like the merge, stays
 * bounded. The engine keeps its state in the file command `running` points
 * at; one lock makes every call of every reader take its turn.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dump_files.h"
#include "shmlog_read.h"

#define READY_MAX (256u << 10) /* bytes of entries copied out of the merge before it pauses */
#define ENTRY_NOTE 100         /* a message of the engine's; not damage */
#define ENTRY_ERROR 101        /* a message of the engine's; damage */
/* The options of version 1: a program passes at least these. */
#define OPTIONS_V1_SIZE (offsetof(struct shmlog_read_options, local_time) + sizeof(int))
#define COLUMNS_V1_SIZE (offsetof(struct shmlog_read_columns, values_cap) + sizeof(size_t))

struct shmlog_read {
    struct file_cmd cmd;
    struct cli cli;
    struct file_sink sink;
    struct in_list inputs;
    struct source *srcs;
    size_t nsrc;
    int local_time;
    char app[SHMLOG_APP_BYTES]; /* the app filter's copy: the caller's string may go */
    int ended;
    int broken;          /* out of memory inside the engine: its state is not to be trusted */
    int had_errors;
    jmp_buf *on_oom;
    /* entries the merge gave, not yet given out */
    unsigned char *ready;
    size_t ready_len, ready_cap, ready_off;
    /* the last event given out */
    const struct entry *cur;
    struct shmlog_read_event ev;
    struct shmlog_read_site site;
    char level_buf[16], category_buf[16];
    char *text;          /* message, line: RENDER_LINE_MAX + 1 bytes */
    struct shmlog_read_field fields[SHMLOG_MAX_ARGS];
    char field_text[SHMLOG_MAX_ARGS * (SHMLOG_MAX_PAYLOAD + 256)]; /* names and strings, NUL-terminated */
    /* the sources of rows (shmlog_read_next_columns) */
    struct hmap source_of;          /* (process, site or its id) -> index + 1 */
    struct column_source **sources; /* each its own allocation: shmlog_read_source() pointers stay */
    uint32_t nsources, sources_cap;
    char source_category[16];       /* shmlog_read_category_name()'s "cat<n>" */
    const struct dproc *last_proc;  /* the last row's process, site and source */
    const struct dsite *last_site;
    uint32_t last_source;
};

/* A source of rows: a call site of one process, and its fields' names and types. */
struct column_source {
    struct shmlog_read_source pub;
    struct shmlog_read_site site;
    const struct dproc *proc;
    char *names[SHMLOG_MAX_ARGS];
    uint32_t types[SHMLOG_MAX_ARGS];
};

static pthread_mutex_t read_lock = PTHREAD_MUTEX_INITIALIZER;

/* Every call works on its reader's file command, under the lock. */
static struct file_cmd *enter(struct shmlog_read *r)
{
    pthread_mutex_lock(&read_lock);
    struct file_cmd *was = running;
    running = &r->cmd;
    return was;
}

static void leave(struct file_cmd *was)
{
    running = was;
    pthread_mutex_unlock(&read_lock);
}

/* The start of a call that steps the engine: enter(), with its out-of-memory
 * exit (oom() longjmps here: the lock is left and fail returned, then and in
 * every later call, since the engine's state is no longer to be trusted). */
#define ENTER_OR_FAIL(r, was, fail)                                                                             \
    jmp_buf on_oom;                                                                                             \
    struct file_cmd *was = enter(r);                                                                            \
    (r)->on_oom = &on_oom;                                                                                      \
    if ((r)->broken || setjmp(on_oom)) {                                                                        \
        leave(was);                                                                                             \
        return fail;                                                                                            \
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
            oom();
        r->ready = m;
        r->ready_cap = cap;
    }
    void *p = r->ready + r->ready_len;
    r->ready_len += bytes;
    if (r->ready_len >= READY_MAX)
        r->cmd.pause = 1;
    return p;
}

static void sink_entry(void *ctx, const struct entry *e)
{
    struct shmlog_read *r = ctx;
    memcpy(ready_room(r, e->bytes), e, e->bytes);
}

static void sink_error(void *ctx, const char *msg)
{
    struct shmlog_read *r = ctx;
    size_t n = strlen(msg) + 1;
    if (n > 4096)
        n = 4096;
    size_t bytes = (sizeof(struct entry) + n + 7) & ~(size_t)7;
    struct entry *e = ready_room(r, bytes);
    memset(e, 0, sizeof *e);
    e->bytes = (uint16_t)bytes;
    int note = strncmp(msg, "note: ", 6) == 0;
    e->kind = note ? ENTRY_NOTE : ENTRY_ERROR;
    memcpy(e + 1, msg + (note ? 6 : 0), n - (note ? 6 : 0));
    ((char *)(e + 1))[n - 1 - (note ? 6 : 0)] = '\0';
    if (!note)
        r->had_errors = 1;
}

__attribute__((noreturn)) static void sink_oom(void *ctx)
{
    struct shmlog_read *r = ctx;
    r->broken = 1;
    longjmp(*r->on_oom, 1);
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
    if (r->srcs || r->cmd.merge.heap || r->cmd.decode.frame_mem) {
        merge_end();
        free_sources(r->srcs, r->nsrc);
    }
    if (r->cli.filter.has_grep)
        regfree(&r->cli.filter.grep);
    free(r->cli.positional);
    free(r->inputs.v);
    free(r->ready);
    free(r->text);
    for (uint32_t i = 0; i < r->nsources; i++) {
        for (uint32_t j = 0; j < SHMLOG_MAX_ARGS; j++)
            free(r->sources[i]->names[j]);
        free(r->sources[i]);
    }
    free(r->sources);
    hmap_clear(&r->source_of);
    free(r);
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
    if (n == 0 || !paths)
        return fail(err, errcap, -EINVAL, "%s", "no file or directory to read");
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (!paths[i] || stat(paths[i], &st) != 0) {
            int e = paths[i] ? errno : EINVAL;
            if (errcap)
                snprintf(err, errcap, "%s: %s", paths[i] ? paths[i] : "(null)", strerror(e));
            return -e;
        }
    }
    if (o.min_level > 5)
        return fail(err, errcap, -EINVAL, "%s", "min_level is 0 (TRACE) to 5 (FATAL), or -1 for any");
    if (o.app && (!*o.app || strlen(o.app) >= SHMLOG_APP_BYTES)) {
        if (errcap)
            snprintf(err, errcap, "app is an application name of 1 to %u bytes", SHMLOG_APP_BYTES - 1);
        return -EINVAL;
    }

    struct shmlog_read *r = calloc(1, sizeof *r);
    if (!r || !(r->text = malloc(RENDER_LINE_MAX + 1)) || !(r->cli.positional = calloc(n, sizeof(char *)))) {
        if (r)
            free(r->text);
        free(r);
        return fail(err, errcap, -ENOMEM, "%s", "out of memory");
    }
    struct dump_filter *f = &r->cli.filter;
    f->min_level = o.min_level < 0 ? -1 : o.min_level;
    if (o.app) {
        snprintf(r->app, sizeof r->app, "%s", o.app);
        f->app = r->app;
    }
    f->pid = o.pid;
    f->since_ns = o.since_ns;
    f->until_ns = o.until_ns ? o.until_ns : UINT64_MAX;
    f->limit = o.limit;
    if (o.category && shm_category_spelled(o.category, f->category) != 0) {
        reader_free(r);
        return fail(err, errcap, -EINVAL,
                    "category '%s' cannot be a category's name: none, trade, order, md (market_data), risk, "
                    "portfolio or a program's own (a-z, 0-9, _)", o.category);
    }
    if (o.grep) {
        int rc = regcomp(&f->grep, o.grep, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[128];
            regerror(rc, &f->grep, why, sizeof why);
            if (errcap)
                snprintf(err, errcap, "grep: bad regular expression '%s': %s", o.grep, why);
            reader_free(r);
            return -EINVAL;
        }
        f->has_grep = 1;
    }
    for (size_t i = 0; i < n; i++)
        r->cli.positional[i] = (char *)paths[i];
    r->cli.npositional = (int)n;
    r->cli.command = "read";
    r->local_time = o.local_time;
    r->sink = (struct file_sink){sink_entry, sink_error, sink_oom, r};
    r->cmd.sink = &r->sink;

    jmp_buf on_oom;
    struct file_cmd *was = enter(r);
    r->on_oom = &on_oom;
    if (setjmp(on_oom)) {
        leave(was);
        if (errcap)
            snprintf(err, errcap, "out of memory");
        return -ENOMEM; /* what it allocated is lost: its state is not to be trusted */
    }
    begin(&r->cli, MODE_READ);
    if (collect_inputs(&r->cli, &r->inputs) != 0)
        oom();
    r->srcs = make_sources(&r->inputs, &r->nsrc);
    merge_begin(r->srcs, r->nsrc);
    leave(was);
    *out = r;
    return 0;
}

void shmlog_read_close(struct shmlog_read *r)
{
    if (!r)
        return;
    jmp_buf on_oom;
    struct file_cmd *was = enter(r);
    r->on_oom = &on_oom;
    if (!setjmp(on_oom))
        reader_free(r);
    leave(was);
}

/* ==== Events ==== */

/* What events and rows say of a record: its flags, its category's name
 * ("cat<n>" in buf for one its process did not name), its site. */
static uint32_t record_flags(const struct shm_copied_record *rec, const struct dsite *site)
{
    return ((rec->flags & SHMLOG_REC_TRUNCATED) ? SHMLOG_READ_TRUNCATED : 0) |
           ((rec->flags & SHMLOG_REC_CLAMPED) ? SHMLOG_READ_CLAMPED : 0) |
           ((rec->flags & SHMLOG_REC_BACKTRACE) ? SHMLOG_READ_BACKTRACE : 0) |
           ((rec->flags & SHM_REC_TIME_UNCERTAIN) ? SHMLOG_READ_TIME_UNCERTAIN : 0) | (site ? 0 : SHMLOG_READ_UNKNOWN_SITE);
}

static const char *category_name(const struct dproc *p, unsigned id, char buf[16])
{
    const char *name = shm_categories_name(p->cats, id);
    if (name)
        return name;
    snprintf(buf, 16, "cat%u", id);
    return buf;
}

static struct shmlog_read_site public_site(const struct dsite *d)
{
    return (struct shmlog_read_site){d->id, d->line, d->file ? d->file : "", d->fmt, d->level, d->category, d->nargs};
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
    ev->site_id = rec->site;
    ev->seq = rec->pos;
    ev->level = rec->level;
    ev->level_name = level_name(r, rec->level);
    ev->category = category_name(p, rec->category, r->category_buf);
    ev->flags = record_flags(rec, e->site);
    if (e->site) {
        r->site = public_site(e->site);
        ev->site = &r->site;
    }
}

/* The next entry the merge gave, left in place (the caller takes it by
 * moving ready_off past it); the merge steps on when none is ready. NULL
 * at the end. */
static const struct entry *peek(struct shmlog_read *r)
{
    while (r->ready_off >= r->ready_len) {
        r->ready_off = r->ready_len = 0;
        r->cmd.pause = 0;
        if (r->ended)
            return NULL;
        if (!merge_step())
            r->ended = 1;
    }
    return (const struct entry *)(r->ready + r->ready_off);
}

int shmlog_read_next(struct shmlog_read *r, const struct shmlog_read_event **ev)
{
    ENTER_OR_FAIL(r, was, -ENOMEM);
    r->cur = NULL;
    const struct entry *e = peek(r);
    if (!e) {
        leave(was);
        return 0;
    }
    r->ready_off += e->bytes;
    r->cur = e;
    fill_event(r, e);
    *ev = &r->ev;
    leave(was);
    return 1;
}

/* The prepared renderer of the last event, a record; NULL when out of memory. */
static const struct render_site *cur_site(struct shmlog_read *r)
{
    return prepared(r->cur->site, r->cur->proc);
}

const char *shmlog_read_message(struct shmlog_read *r, size_t *len)
{
    if (!r->cur || r->ev.kind != SHMLOG_READ_RECORD || !r->ev.site)
        return NULL;
    jmp_buf on_oom;
    struct file_cmd *was = enter(r);
    r->on_oom = &on_oom;
    const char *volatile msg = NULL; /* volatile: read after a longjmp */
    if (!setjmp(on_oom)) {
        const struct render_site *sr = cur_site(r);
        if (sr) {
            struct render_buf b;
            render_buf_init(&b, r->text, RENDER_LINE_MAX);
            render_prepared_msg(sr, entry_record(r->cur), &b);
            r->text[b.len] = '\0';
            if (len)
                *len = b.len;
            msg = r->text;
        }
    }
    leave(was);
    return msg;
}

static const char *copy_text(char **at, const char *end, const void *s, size_t n)
{
    char *start = *at;
    if ((size_t)(end - start) < n + 1)
        n = (size_t)(end - start) - 1; /* cannot happen: field_text holds every name and string whole */
    memcpy(start, s, n);
    start[n] = '\0';
    *at = start + n + 1;
    return start;
}

/* The API's type of an argument's. */
static uint32_t field_type(unsigned arg_type)
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

int shmlog_read_fields(struct shmlog_read *r, const struct shmlog_read_field **fields)
{
    *fields = r->fields;
    if (!r->cur || r->ev.kind != SHMLOG_READ_RECORD)
        return 0;
    if (!r->ev.site)
        return 0;
    jmp_buf on_oom;
    struct file_cmd *was = enter(r);
    r->on_oom = &on_oom;
    volatile int n = -1;
    if (!setjmp(on_oom)) {
        const struct render_site *sr = cur_site(r);
        struct render_field rf[SHMLOG_MAX_ARGS];
        n = sr ? render_prepared_fields(sr, entry_record(r->cur), rf) : -1;
        char *at = r->field_text, *end = r->field_text + sizeof r->field_text;
        for (int i = 0; i < n; i++) {
            struct shmlog_read_field *out = &r->fields[i];
            const struct render_arg *a = &rf[i].value;
            memset(out, 0, sizeof *out);
            out->name = copy_text(&at, end, rf[i].name, rf[i].name_len);
            out->type = field_type(a->type);
            if (out->type == SHMLOG_READ_STR) {
                out->str_len = a->str_len;
                out->v.s = copy_text(&at, end, a->v.s, a->str_len);
            } else if (out->type == SHMLOG_READ_BOOL) {
                out->v.u = a->v.u != 0;
            } else {
                out->v = (__typeof__(out->v)){.u = a->v.u}; /* the union's 64 bits, whichever member */
            }
        }
    }
    leave(was);
    return n;
}

/* Renders e into b in the reader's zone (the renderer's mode is the process's: set for the call). */
static void reader_line(struct shmlog_read *r, const struct entry *e, int json, struct render_buf *b)
{
    int was_local = render_time_is_local();
    if (was_local != r->local_time)
        render_time_local(r->local_time);
    entry_line(e, json, b);
    if (was_local != r->local_time)
        render_time_local(was_local);
}

long shmlog_read_format(struct shmlog_read *r, int json, char *buf, size_t cap)
{
    if (!r->cur || r->ev.kind == SHMLOG_READ_ERROR || cap == 0)
        return 0;
    jmp_buf on_oom;
    struct file_cmd *was = enter(r);
    r->on_oom = &on_oom;
    volatile long n = -ENOMEM;
    if (!setjmp(on_oom)) {
        struct render_buf b;
        render_buf_init(&b, buf, cap - 1);
        reader_line(r, r->cur, json, &b);
        buf[b.len] = '\0';
        n = b.overflow ? -ENOBUFS : (long)b.len;
    }
    leave(was);
    return n;
}

long shmlog_read_lines(struct shmlog_read *r, int json, char *buf, size_t cap, size_t *len)
{
    *len = 0;
    if (cap < RENDER_LINE_MAX + 1)
        return -EINVAL;
    ENTER_OR_FAIL(r, was, -ENOMEM);
    r->cur = NULL;
    size_t used = 0;
    long lines = 0;
    while (cap - used >= RENDER_LINE_MAX + 1) {
        const struct entry *e = peek(r);
        if (!e)
            break;
        if (e->kind == ENTRY_NOTE || e->kind == ENTRY_ERROR)
            break;
        struct render_buf b;
        render_buf_init(&b, buf + used, cap - used - 1);
        reader_line(r, e, json, &b);
        used += b.len;
        r->ready_off += e->bytes;
        lines++;
    }
    buf[used] = '\0';
    *len = used;
    leave(was);
    return lines;
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

/* The source of a record entry: its index, made on first sight. */
static uint32_t source_index(struct shmlog_read *r, const struct entry *e)
{
    const struct shm_copied_record *rec = entry_record(e);
    uint64_t k2 = e->site ? (uintptr_t)e->site : (1ull << 63) | rec->site;
    void *v = hmap_get(&r->source_of, (uintptr_t)e->proc, k2);
    if (v)
        return (uint32_t)((uintptr_t)v - 1);
    if (r->nsources == r->sources_cap) {
        uint32_t cap = r->sources_cap ? 2 * r->sources_cap : 64;
        struct column_source **m = realloc(r->sources, cap * sizeof *m);
        if (!m)
            oom();
        r->sources = m;
        r->sources_cap = cap;
    }
    uint32_t i = r->nsources;
    struct column_source *s = calloc(1, sizeof *s);
    if (!s)
        oom();
    r->sources[i] = s;
    s->proc = e->proc;
    s->pub.host = e->proc->info.host;
    s->pub.app = e->proc->info.app;
    s->pub.pid = e->proc->info.pid;
    s->pub.proc_start = e->proc->info.proc_start;
    s->pub.site_id = rec->site;
    s->pub.field_names = (const char *const *)s->names;
    s->pub.field_types = s->types;
    if (e->site) {
        s->site = public_site(e->site);
        s->pub.site = &s->site;
    }
    r->nsources++;
    if (hmap_put(&r->source_of, (uintptr_t)e->proc, k2, (void *)(uintptr_t)(i + 1)) != 0)
        oom();
    return i;
}

/* The source's field names and types, from its first record that decoded. */
static void source_learn(struct column_source *s, const struct render_field *rf, int n)
{
    for (int j = 0; j < n; j++) {
        s->names[j] = malloc(rf[j].name_len + 1);
        if (!s->names[j])
            oom(); /* those before are freed with the source */
        memcpy(s->names[j], rf[j].name, rf[j].name_len);
        s->names[j][rf[j].name_len] = '\0';
        s->types[j] = field_type(rf[j].value.type);
    }
    s->pub.nfields = (uint32_t)n;
}

long shmlog_read_next_columns(struct shmlog_read *r, struct shmlog_read_columns *c)
{
    if (!c || c->size < COLUMNS_V1_SIZE || c->cap == 0 || !c->ts_ns || !c->seq || !c->tid || !c->cpu || !c->source || !c->level ||
        !c->category || !c->flags || (c->msg && !c->text) || (c->values_at && (!c->values || !c->text)))
        return -EINVAL;
    ENTER_OR_FAIL(r, was, -ENOMEM);
    r->cur = NULL;
    size_t rows = 0, text_len = 0, nvalues = 0;
    /* Offsets into text and values are 32-bit. */
    size_t text_cap = c->text_cap < UINT32_MAX ? c->text_cap : UINT32_MAX;
    size_t values_cap = c->values_cap < UINT32_MAX ? c->values_cap : UINT32_MAX;
    long result = 0;
    while (rows < c->cap) {
        const struct entry *e = peek(r);
        if (!e)
            break;
        if (e->kind != ENTRY_RECORD && e->kind != ENTRY_BACKTRACE)
            break;
        const struct shm_copied_record *rec = entry_record(e);
        /* Records come in runs of one site: the last one's source is the likely one. */
        uint32_t src = e->site && e->site == r->last_site && e->proc == r->last_proc ? r->last_source
                                                                                       : source_index(r, e);
        struct column_source *s = r->sources[src];
        const struct render_site *sr = prepared(e->site, e->proc);
        if (!sr)
            oom();
        struct render_buf b;
        size_t msg_len = 0;
        if (c->msg && e->site) {
            /* Rendered where it goes; a row that does not fit waits for the next call. */
            render_buf_init(&b, c->text + text_len, text_cap - text_len);
            render_prepared_msg(sr, rec, &b);
            if (b.overflow)
                goto full;
            msg_len = b.len;
        }
        uint8_t flags = (uint8_t)record_flags(rec, e->site);
        size_t row_text = msg_len, row_values = 0;
        if (c->values_at && e->site) {
            struct render_field rf[SHMLOG_MAX_ARGS];
            int n = render_prepared_fields(sr, rec, rf);
            if (n > 0 && s->pub.nfields == 0)
                source_learn(s, rf, n);
            /* A site's records all have its fields, or did not decode. */
            if (n < 0 || (uint32_t)n != s->pub.nfields) {
                flags |= SHMLOG_READ_CORRUPT;
            } else {
                if (nvalues + (size_t)n > values_cap)
                    goto full;
                for (int j = 0; j < n; j++) {
                    const struct render_arg *a = &rf[j].value;
                    uint64_t v = a->v.u;
                    if (a->type == SHMLOG_ARG_STR) {
                        if (text_len + row_text + a->str_len > text_cap)
                            goto full;
                        memcpy(c->text + text_len + row_text, a->v.s, a->str_len);
                        v = (uint64_t)(text_len + row_text) << 32 | a->str_len;
                        row_text += a->str_len;
                    } else if (a->type == SHMLOG_ARG_BOOL) {
                        v = a->v.u != 0;
                    }
                    c->values[nvalues + (size_t)j] = v;
                }
                row_values = (size_t)n;
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
        text_len += row_text;
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
    leave(was);
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
    struct file_cmd *was = enter(r);
    const char *name = category_name(r->sources[source]->proc, id, r->source_category);
    leave(was);
    return name;
}

int shmlog_read_had_errors(const struct shmlog_read *r)
{
    return r->had_errors;
}

int shmlog_read_version(void)
{
    return SHMLOG_READ_VERSION;
}
