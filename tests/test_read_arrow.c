/* Description: libshmlog-read's Arrow streams (shmlog_read_arrow), read as a consumer of the Arrow C stream interface reads them: every corpus file and directory streams, in batches of any size, exactly the records and markers the events give (time, level, category, process, ring, position, site, message, flags, error and every field's typed value), with a schema whose formats and names follow the documented rules (a field of two kinds gets two columns, a field named like a column gets "field.", widths as the widest argument) and the fields in the order of the source whichever file defined a site first; a column may be kept after its batch is released, a stream after its reader is closed; a column with no value in a batch is a view of the stream's one read-only zero region, which a column kept after its stream still reads; string columns asked for as string views hold, in every corpus file, the bytes and nulls of their utf8 columns, each view well formed; a stream begun after events were read gives the same rows on several threads; a consumer that releases each batch before it asks for the next gets the next one in the memory released batches gave back; batches end before a dictionary outgrows its index; the stream refuses what it cannot do. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shmlog_read.h"
#include "test_util_file.h"

static const char *corpus(void)
{
    return tu_exe("CORPUS");
}

/* ==== A consumer of the interface: the whole stream, kept ==== */

struct got {
    struct ArrowSchema schema;
    struct ArrowArray batch[4096];
    size_t nbatches;
    int64_t rows;
};

static struct shmlog_read *open_path(const char *path, const struct shmlog_read_options *o)
{
    const char *paths[] = {path};
    struct shmlog_read *r;
    char err[512];
    cr_assert_eq(shmlog_read_open(&r, paths, 1, o, err, sizeof err), 0, "%s: %s", path, err);
    return r;
}

/* The stream of reader r with options o (the reader closed first: the stream holds it). */
static void stream_reader(struct shmlog_read *r, const struct shmlog_read_arrow_options *o, struct got *g)
{
    uint32_t batch_rows = o->batch_rows;
    struct ArrowArrayStream s;
    char err[256];
    cr_assert_eq(shmlog_read_arrow(r, o, &s, err, sizeof err), 0, "%s", err);
    shmlog_read_close(r);
    memset(g, 0, sizeof *g);
    cr_assert_eq(s.get_schema(&s, &g->schema), 0, "%s", s.get_last_error(&s));
    for (;;) {
        cr_assert_lt(g->nbatches, 4096);
        struct ArrowArray *a = &g->batch[g->nbatches];
        cr_assert_eq(s.get_next(&s, a), 0, "%s", s.get_last_error(&s));
        if (!a->release)
            break;
        cr_assert_gt(a->length, 0, "an empty batch before the end");
        cr_assert_leq(a->length, batch_rows ? batch_rows : 16384);
        cr_assert_eq(a->n_children, g->schema.n_children);
        g->rows += a->length;
        g->nbatches++;
    }
    s.release(&s);
    cr_assert_null(s.release);
}

/* The stream of path. */
static void stream_all(const char *path, uint32_t what, uint32_t batch_rows, struct got *g)
{
    struct shmlog_read_arrow_options o = SHMLOG_READ_ARROW_OPTIONS_INIT;
    o.what = what;
    o.batch_rows = batch_rows;
    stream_reader(open_path(path, NULL), &o, g);
}

static void got_free(struct got *g)
{
    for (size_t i = 0; i < g->nbatches; i++)
        g->batch[i].release(&g->batch[i]);
    g->schema.release(&g->schema);
}

static int col_index(const struct got *g, const char *name)
{
    for (int64_t i = 0; i < g->schema.n_children; i++)
        if (strcmp(g->schema.children[i]->name, name) == 0)
            return (int)i;
    return -1;
}

/* The value of key shmlog.field in a schema's metadata (the C data interface's encoding), in out; "" when none. */
static const char *metadata_field(const char *md, char *out, size_t cap)
{
    int32_t n = 0, len;
    out[0] = '\0';
    if (md)
        memcpy(&n, md, 4);
    for (const char *p = md + 4; n-- > 0;) {
        memcpy(&len, p, 4);
        int is_field = len == 12 && memcmp(p + 4, "shmlog.field", 12) == 0;
        p += 4 + len;
        memcpy(&len, p, 4);
        if (is_field)
            snprintf(out, cap, "%.*s", (int)len, p + 4);
        p += 4 + len;
    }
    return out;
}

/* A cell of the stream: column col of row row, as its batch's child array and the row in it. */
struct at {
    const struct ArrowArray *a;
    int64_t i;
};

static struct at cell(const struct got *g, int col, int64_t row)
{
    for (size_t b = 0; b < g->nbatches; b++) {
        if (row < g->batch[b].length)
            return (struct at){g->batch[b].children[col], row};
        row -= g->batch[b].length;
    }
    cr_assert_fail("row past the stream");
    return (struct at){NULL, 0};
}

static int is_null_at(const struct ArrowArray *a, int64_t i)
{
    const uint8_t *v = a->buffers[0];
    if (!v) {
        cr_assert_eq(a->null_count, 0, "nulls without a validity bitmap");
        return 0;
    }
    return !((v[i >> 3] >> (i & 7)) & 1);
}

/* A utf8 value as a NUL-terminated copy in buf; NULL for null. */
static const char *text_of_at(const struct ArrowArray *a, int64_t i, char *buf, size_t cap)
{
    if (is_null_at(a, i))
        return NULL;
    cr_assert_eq(a->n_buffers, 3);
    const int32_t *off = a->buffers[1];
    const char *chars = a->buffers[2];
    cr_assert(off[i] >= 0 && off[i] <= off[i + 1], "offsets %d %d", off[i], off[i + 1]);
    size_t n = (size_t)(off[i + 1] - off[i]);
    cr_assert_lt(n, cap);
    memcpy(buf, chars + off[i], n);
    buf[n] = '\0';
    return buf;
}

static int is_null(struct at c)
{
    return is_null_at(c.a, c.i);
}

static const char *text_of(struct at c, char *buf, size_t cap)
{
    return text_of_at(c.a, c.i, buf, cap);
}

static const char *dict_text(struct at c, const char *format, char *buf, size_t cap)
{
    const struct ArrowArray *a = c.a;
    int64_t i = c.i;
    if (is_null_at(a, i))
        return NULL;
    int64_t k = format[0] == 'c' ? ((const int8_t *)a->buffers[1])[i] : ((const int16_t *)a->buffers[1])[i];
    cr_assert(k >= 0 && k < a->dictionary->length, "index %lld of %lld", (long long)k,
              (long long)a->dictionary->length);
    return text_of_at(a->dictionary, k, buf, cap);
}

static uint64_t u64_at(struct at c, int width)
{
    const struct ArrowArray *a = c.a;
    int64_t i = c.i;
    switch (width) {
    case 1: return ((const uint8_t *)a->buffers[1])[i];
    case 2: return ((const uint16_t *)a->buffers[1])[i];
    case 4: return ((const uint32_t *)a->buffers[1])[i];
    default: return ((const uint64_t *)a->buffers[1])[i];
    }
}

static int bit_at(struct at c)
{
    const struct ArrowArray *a = c.a;
    int64_t i = c.i;
    return (((const uint8_t *)a->buffers[1])[i >> 3] >> (i & 7)) & 1;
}

/* The value of a field column at row i, as the events API types it. */
static void field_at(const struct got *g, int col, int64_t row, struct shmlog_read_field *f, char *buf, size_t cap,
                     int *null)
{
    struct at c = cell(g, col, row);
    const struct ArrowArray *a = c.a;
    int64_t i = c.i;
    const char *fmt = g->schema.children[col]->format;
    memset(f, 0, sizeof *f);
    *null = is_null(c);
    if (*null)
        return;
    switch (fmt[0]) {
    case 'c': f->v.i = ((const int8_t *)a->buffers[1])[i]; f->type = SHMLOG_READ_INT; break;
    case 's': f->v.i = ((const int16_t *)a->buffers[1])[i]; f->type = SHMLOG_READ_INT; break;
    case 'i': f->v.i = ((const int32_t *)a->buffers[1])[i]; f->type = SHMLOG_READ_INT; break;
    case 'l': f->v.i = ((const int64_t *)a->buffers[1])[i]; f->type = SHMLOG_READ_INT; break;
    case 'C': f->v.u = u64_at(c, 1); f->type = SHMLOG_READ_UINT; break;
    case 'S': f->v.u = u64_at(c, 2); f->type = SHMLOG_READ_UINT; break;
    case 'I': f->v.u = u64_at(c, 4); f->type = SHMLOG_READ_UINT; break;
    case 'L': f->v.u = u64_at(c, 8); f->type = SHMLOG_READ_UINT; break;
    case 'f': f->v.f = ((const float *)a->buffers[1])[i]; f->type = SHMLOG_READ_FLOAT; break;
    case 'g': f->v.f = ((const double *)a->buffers[1])[i]; f->type = SHMLOG_READ_FLOAT; break;
    case 'b': f->v.u = (uint64_t)bit_at(c); f->type = SHMLOG_READ_BOOL; break;
    case 'u':
        f->v.s = text_of(c, buf, cap);
        f->str_len = (uint32_t)strlen(f->v.s);
        f->type = SHMLOG_READ_STR;
        break;
    default:
        cr_assert_fail("field column of format %s", fmt);
    }
}

static const char *const kind_name[] = {[SHMLOG_READ_BOOL] = "bool", [SHMLOG_READ_INT] = "int",
                                        [SHMLOG_READ_UINT] = "uint", [SHMLOG_READ_FLOAT] = "float",
                                        [SHMLOG_READ_FLOAT32] = "float", [SHMLOG_READ_STR] = "str",
                                        [SHMLOG_READ_PTR] = "ptr"};

static const char *const fixed_names[] = {"ts", "level", "category", "app", "host", "pid", "tid", "cpu", "seq",
                                          "site", "func", "msg", "truncated", "clamped", "backtrace",
                                          "time_uncertain", "error", "thread", "instance", "trace_id", "span",
                                          "hostname"};
#define NFIXED 22 /* the fixed columns of records */

/* The column of field f of a record: the one whose metadata names the field (shmlog.field), or of those (a name
 * of several kinds) the one named "<...>.kind". */
static int field_col(const struct got *g, const struct shmlog_read_field *f)
{
    int found = -1;
    char field[300], suffix[16];
    snprintf(suffix, sizeof suffix, ".%s", kind_name[f->type]);
    for (int64_t c = NFIXED; c < g->schema.n_children; c++) {
        if (strcmp(metadata_field(g->schema.children[c]->metadata, field, sizeof field), f->name) != 0)
            continue;
        const char *name = g->schema.children[c]->name;
        size_t n = strlen(name), k = strlen(suffix);
        if (found < 0 || (n > k && strcmp(name + n - k, suffix) == 0))
            found = (int)c;
    }
    return found;
}

/* What the stream holds of text the events give as it is: each byte that
 * starts no valid UTF-8 sequence is U+FFFD (the JSON's rule). */
static const char *repaired(const char *s, size_t n, char *out, size_t cap)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t len = 0;
        uint8_t c = p[i];
        if (c < 0x80)
            len = 1;
        else if (c >= 0xC2 && c <= 0xDF)
            len = i + 1 < n && (p[i + 1] & 0xC0) == 0x80 ? 2 : 0;
        else if (c >= 0xE0 && c <= 0xEF)
            len = i + 2 < n && (p[i + 2] & 0xC0) == 0x80 && p[i + 1] >= (c == 0xE0 ? 0xA0 : 0x80) &&
                          p[i + 1] <= (c == 0xED ? 0x9F : 0xBF) ? 3 : 0;
        else if (c >= 0xF0 && c <= 0xF4)
            len = i + 3 < n && (p[i + 2] & 0xC0) == 0x80 && (p[i + 3] & 0xC0) == 0x80 &&
                          p[i + 1] >= (c == 0xF0 ? 0x90 : 0x80) && p[i + 1] <= (c == 0xF4 ? 0x8F : 0xBF) ? 4 : 0;
        cr_assert_lt(o + 4, cap);
        if (len) {
            memcpy(out + o, p + i, len);
            o += len;
            i += len;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    out[o] = '\0';
    return out;
}

/* ==== The records: the stream against the events ==== */

/* The hostname column at c holds the event's hostname, null where the files keep none apart from host. */
static void check_hostname(struct at c, const struct shmlog_read_event *ev, const char *path, int64_t row)
{
    char buf[128];
    const char *hostname = dict_text(c, "s", buf, sizeof buf);
    if (ev->hostname)
        cr_assert_str_eq(hostname, ev->hostname, "%s row %lld: hostname", path, (long long)row);
    else
        cr_assert_null(hostname, "%s row %lld: hostname %s", path, (long long)row, hostname);
}

/* The instance column at c holds the event's instance, null where the files name none. */
static void check_instance(struct at c, const struct shmlog_read_event *ev, const char *path, int64_t row)
{
    char buf[64];
    const char *instance = dict_text(c, "s", buf, sizeof buf);
    if (*ev->instance)
        cr_assert_str_eq(instance, ev->instance, "%s row %lld: instance", path, (long long)row);
    else
        cr_assert_null(instance, "%s row %lld: instance %s", path, (long long)row, instance);
}

static void check_records(const char *path, uint32_t batch_rows)
{
    static struct got g;
    stream_all(path, SHMLOG_READ_ARROW_RECORDS, batch_rows, &g);
    static const char *const formats[] = {"tsn:UTC", "c", "s", "s", "s", "I", "I", "I", "L", "s", "s", "u", "b", "b",
                                          "b", "b", "c", "s", "s", "u", "s", "s"};
    cr_assert_str_eq(g.schema.format, "+s");
    cr_assert_geq(g.schema.n_children, NFIXED);
    for (int i = 0; i < NFIXED; i++) {
        const struct ArrowSchema *c = g.schema.children[i];
        cr_assert_str_eq(c->name, fixed_names[i]);
        cr_assert_str_eq(c->format, formats[i], "%s: %s", c->name, c->format);
        int dict = i == 1 || i == 2 || i == 3 || i == 4 || i == 9 || i == 10 || i == 16 || i == 17 || i == 18 ||
                   i == 20 || i == 21;
        cr_assert_eq(c->dictionary != NULL, dict, "%s: dictionary", c->name);
        if (dict)
            cr_assert_str_eq(c->dictionary->format, "u");
        cr_assert_eq((c->flags & ARROW_FLAG_DICTIONARY_ORDERED) != 0, i == 1);
        cr_assert_eq((c->flags & ARROW_FLAG_NULLABLE) != 0,
                     i == 9 || i == 10 || i == 11 || i == 16 || i == 17 || i == 18 || i == 19 || i == 20 ||
                         i == 21);
    }
    for (int64_t i = NFIXED; i < g.schema.n_children; i++)
        cr_assert(g.schema.children[i]->flags & ARROW_FLAG_NULLABLE, "fields are nullable");

    struct shmlog_read *r = open_path(path, NULL);
    const struct shmlog_read_event *ev;
    int64_t row = 0;
    char buf[8192], want_site[3 * 4096 + 8], fbuf[4096];
    int rc;
    int *field_seen = calloc((size_t)g.schema.n_children, sizeof *field_seen);
    while ((rc = shmlog_read_next(r, &ev)) > 0) {
        if (ev->kind != SHMLOG_READ_RECORD)
            continue;
        cr_assert_lt(row, g.rows, "%s: the stream has fewer rows than the events' records", path);
        cr_assert_eq(u64_at(cell(&g, 0, row), 8), ev->ts_ns > INT64_MAX ? (uint64_t)INT64_MAX : ev->ts_ns, "%s row %lld: ts", path,
                     (long long)row);
        cr_assert_str_eq(dict_text(cell(&g, 1, row), "c", buf, sizeof buf), ev->level_name);
        cr_assert_str_eq(dict_text(cell(&g, 2, row), "s", buf, sizeof buf), ev->category);
        cr_assert_str_eq(dict_text(cell(&g, 3, row), "s", buf, sizeof buf), ev->app);
        cr_assert_str_eq(dict_text(cell(&g, 4, row), "s", buf, sizeof buf), ev->host);
        cr_assert_eq(u64_at(cell(&g, 5, row), 4), ev->pid);
        cr_assert_eq(u64_at(cell(&g, 6, row), 4), ev->tid);
        cr_assert_eq(u64_at(cell(&g, 7, row), 4), ev->cpu);
        cr_assert_eq(u64_at(cell(&g, 8, row), 8), ev->seq);
        const char *site = dict_text(cell(&g, 9, row), "s", buf, sizeof buf);
        if (ev->site) {
            snprintf(want_site, sizeof want_site, "%s:%u", ev->site->file, ev->site->line);
            cr_assert_str_eq(site, want_site);
        } else {
            cr_assert_null(site);
        }
        const char *func = dict_text(cell(&g, 10, row), "s", buf, sizeof buf);
        if (ev->site && ev->site->func[0])
            cr_assert_str_eq(func, ev->site->func, "%s row %lld: func", path, (long long)row);
        else
            cr_assert_null(func, "%s row %lld: func %s where the files name none", path, (long long)row, func);
        size_t len;
        const char *msg = shmlog_read_message(r, &len);
        const char *amsg = text_of(cell(&g, 11, row), buf, sizeof buf);
        if (msg)
            cr_assert_str_eq(amsg, repaired(msg, len, want_site, sizeof want_site), "%s row %lld: msg", path,
                             (long long)row);
        else
            cr_assert_null(amsg);
        cr_assert_eq(bit_at(cell(&g, 12, row)), !!(ev->flags & SHMLOG_READ_TRUNCATED));
        cr_assert_eq(bit_at(cell(&g, 13, row)), !!(ev->flags & SHMLOG_READ_CLAMPED));
        cr_assert_eq(bit_at(cell(&g, 14, row)), !!(ev->flags & SHMLOG_READ_BACKTRACE));
        cr_assert_eq(bit_at(cell(&g, 15, row)), !!(ev->flags & SHMLOG_READ_TIME_UNCERTAIN));
        const struct shmlog_read_field *f;
        int n = shmlog_read_fields(r, &f);
        const char *error = dict_text(cell(&g, 16, row), "c", buf, sizeof buf);
        const char *want_error = !ev->site ? "unknown site" : n < 0 ? "corrupt payload" : NULL;
        if (want_error)
            cr_assert_str_eq(error, want_error);
        else
            cr_assert_null(error, "%s row %lld: error %s", path, (long long)row, error);
        const char *thread = dict_text(cell(&g, 17, row), "s", buf, sizeof buf);
        if (ev->thread)
            cr_assert_str_eq(thread, ev->thread, "%s row %lld: thread", path, (long long)row);
        else
            cr_assert_null(thread, "%s row %lld: thread %s", path, (long long)row, thread);
        check_instance(cell(&g, 18, row), ev, path, row);
        const char *trace_id = text_of(cell(&g, 19, row), buf, sizeof buf);
        if (ev->trace_hi || ev->trace_lo) {
            char want[33];
            snprintf(want, sizeof want, "%016llx%016llx", (unsigned long long)ev->trace_hi,
                     (unsigned long long)ev->trace_lo);
            cr_assert_str_eq(trace_id, want, "%s row %lld: trace_id", path, (long long)row);
        } else {
            cr_assert_null(trace_id, "%s row %lld: trace_id %s", path, (long long)row, trace_id);
        }
        const char *span = dict_text(cell(&g, 20, row), "s", buf, sizeof buf);
        if (ev->span && ev->span[0])
            cr_assert_str_eq(span, ev->span, "%s row %lld: span", path, (long long)row);
        else
            cr_assert_null(span, "%s row %lld: span %s", path, (long long)row, span);
        check_hostname(cell(&g, 21, row), ev, path, row);
        /* Each field in its column; every other field column null. */
        int has[512] = {0};
        for (int j = 0; j < n; j++) {
            int c = field_col(&g, &f[j]);
            cr_assert_geq(c, NFIXED, "%s: no column for field %s (%s)", path, f[j].name, kind_name[f[j].type]);
            has[c] = 1;
            field_seen[c] = 1;
            struct shmlog_read_field v;
            int null;
            field_at(&g, c, row, &v, fbuf, sizeof fbuf, &null);
            cr_assert_not(null, "%s row %lld: field %s null", path, (long long)row, f[j].name);
            uint32_t t = f[j].type == SHMLOG_READ_FLOAT32 ? SHMLOG_READ_FLOAT : f[j].type == SHMLOG_READ_PTR
                                                                                   ? SHMLOG_READ_UINT
                                                                                   : f[j].type;
            cr_assert_eq(v.type, t, "%s: field %s of type %u in a column of type %u", path, f[j].name, f[j].type,
                         v.type);
            if (t == SHMLOG_READ_STR) {
                cr_assert_str_eq(v.v.s, repaired(f[j].v.s, f[j].str_len, want_site, sizeof want_site));
            } else if (t == SHMLOG_READ_FLOAT) {
                cr_assert(v.v.f == f[j].v.f || (v.v.f != v.v.f && f[j].v.f != f[j].v.f), "%s: %s %g, events %g",
                          path, f[j].name, v.v.f, f[j].v.f);
            } else {
                cr_assert_eq(v.v.u, f[j].v.u, "%s row %lld: field %s %llu, events %llu", path, (long long)row,
                             f[j].name, (unsigned long long)v.v.u, (unsigned long long)f[j].v.u);
            }
        }
        for (int64_t c = NFIXED; c < g.schema.n_children && c < 512; c++)
            if (!has[c]) {
                struct shmlog_read_field v;
                int null;
                field_at(&g, (int)c, row, &v, fbuf, sizeof fbuf, &null);
                cr_assert(null, "%s row %lld: %s not null", path, (long long)row, g.schema.children[c]->name);
            }
        row++;
    }
    cr_assert_eq(rc, 0);
    cr_assert_eq(row, g.rows, "%s: %lld records, %lld rows", path, (long long)row, (long long)g.rows);
    for (int64_t c = NFIXED; c < g.schema.n_children; c++)
        cr_assert(field_seen[c], "%s: column %s holds no value", path, g.schema.children[c]->name);
    free(field_seen);
    shmlog_read_close(r);
    got_free(&g);
}

/* ==== The markers ==== */

static void check_markers(const char *path, uint32_t batch_rows)
{
    static struct got g;
    stream_all(path, SHMLOG_READ_ARROW_MARKERS, batch_rows, &g);
    static const char *const names[] = {"ts", "kind", "app", "host", "pid", "cpu", "loss_reason", "loss_records",
                                        "loss_positions", "loss_first_seq", "exit_records", "exit_lost", "exit_how",
                                        "instance", "hostname"};
    cr_assert_eq(g.schema.n_children, 15);
    for (int i = 0; i < 15; i++)
        cr_assert_str_eq(g.schema.children[i]->name, names[i]);
    struct shmlog_read *r = open_path(path, NULL);
    const struct shmlog_read_event *ev;
    int64_t row = 0;
    char buf[512];
    while (shmlog_read_next(r, &ev) > 0) {
        if (ev->kind != SHMLOG_READ_LOSS && ev->kind != SHMLOG_READ_EXIT)
            continue;
        int loss = ev->kind == SHMLOG_READ_LOSS;
        cr_assert_lt(row, g.rows);
        cr_assert_eq(u64_at(cell(&g, 0, row), 8), ev->ts_ns);
        cr_assert_str_eq(dict_text(cell(&g, 1, row), "c", buf, sizeof buf), loss ? "loss" : "exit");
        cr_assert_str_eq(dict_text(cell(&g, 2, row), "s", buf, sizeof buf), ev->app);
        cr_assert_str_eq(dict_text(cell(&g, 3, row), "s", buf, sizeof buf), ev->host);
        cr_assert_eq(u64_at(cell(&g, 4, row), 4), ev->pid);
        struct at cpu = cell(&g, 5, row);
        if (ev->cpu == UINT32_MAX || !loss)
            cr_assert(is_null(cpu));
        else
            cr_assert_eq(u64_at(cpu, 4), ev->cpu);
        const char *reason = dict_text(cell(&g, 6, row), "c", buf, sizeof buf);
        if (loss) {
            cr_assert_str_eq(reason, ev->loss_reason);
            cr_assert_eq(u64_at(cell(&g, 7, row), 8), ev->loss_records);
            cr_assert_eq(u64_at(cell(&g, 8, row), 8), ev->loss_positions);
            cr_assert_eq(u64_at(cell(&g, 9, row), 8), ev->loss_first_seq);
            cr_assert(is_null(cell(&g, 10, row)) && is_null(cell(&g, 11, row)));
        } else {
            cr_assert_null(reason);
            cr_assert(is_null(cell(&g, 7, row)) && is_null(cell(&g, 9, row)));
            cr_assert_eq(u64_at(cell(&g, 10, row), 8), ev->exit_records);
            cr_assert_eq(u64_at(cell(&g, 11, row), 8), ev->exit_lost);
            const char *how = dict_text(cell(&g, 12, row), "c", buf, sizeof buf);
            if (*ev->exit_how)
                cr_assert_str_eq(how, ev->exit_how);
            else
                cr_assert_null(how);
        }
        check_instance(cell(&g, 13, row), ev, path, row);
        check_hostname(cell(&g, 14, row), ev, path, row);
        row++;
    }
    cr_assert_eq(row, g.rows);
    shmlog_read_close(r);
    got_free(&g);
}

Test(read_arrow, every_corpus_input_streams_what_the_events_hold, .timeout = 300)
{
    static const char *const versions[] = {"v2", "v2-exit-how", "v2-clock", "v2-categories", "v2-func", "v2-host"};
    static const char *const inputs[] = {"processes.shlog", "losses.shlog", "rotation", "backtrace.shlog",
                                         "hosts.shlog", "hosts-before.shlog"};
    int checked = 0;
    for (size_t v = 0; v < sizeof versions / sizeof versions[0]; v++)
        for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
            char in[1024];
            snprintf(in, sizeof in, "%s/%s/%s", corpus(), versions[v], inputs[i]);
            struct stat st;
            if (stat(in, &st) != 0)
                continue;
            /* Batches of one row, of a few, and the default. */
            check_records(in, 1);
            check_records(in, 7);
            check_records(in, 0);
            check_markers(in, 3);
            check_markers(in, 0);
            checked++;
        }
    cr_assert_eq(checked, 4 * 3 + 1 + 4 + 2);
}

/* dir: a new scratch directory tagged tag; path: name in it. */
static void scratch_path(char dir[256], char path[600], const char *tag, const char *name)
{
    tu_tmpdir(dir, 256, tag);
    snprintf(path, 600, "%s/%s", dir, name);
}

/* A test file at path whose process (key 1) is pid, started at start. */
static void file_of_process(struct tu_file *f, const char *path, struct shm_proc_info *pi, uint32_t pid, uint64_t start)
{
    tu_file_open(f, path, 1);
    tu_proc_info(pi, pid, start);
    cr_assert_eq(shlog_enc_process(f->enc, 1, pi), 0);
}

/* The open batch ended, the last frame written, the file closed. */
static void end_file(struct tu_file *f)
{
    cr_assert_eq(shlog_enc_batch_end(f->enc), 0);
    tu_file_flush(f);
    tu_file_close(f);
}

/* ==== The schema's rules, on a file made for them ==== */

/* One process writing: "a id=%d n=%hhu x=%f(f32)", "b id=%s n=%lu", "c seq=%d level=%s", "d y=%f(f32)",
 * "e y=%f(f64) p=%p", and a record of a site the file does not define; and a site with no record,
 * "f field.seq=%d id.int=%u", whose names are those the rules give other fields. */
static void write_rules_file(const char *path)
{
    struct tu_file f;
    struct shm_proc_info pi;
    file_of_process(&f, path, &pi, 42, 4242);
    static struct shm_site s[6];
    tu_site(&s[0], 0, "a id=%d n=%hhu x=%f", SHMLOG_ARG_I32, SHMLOG_ARG_U8, SHMLOG_ARG_F32, 0);
    tu_site(&s[1], 1, "b id=%s n=%lu", SHMLOG_ARG_STR, SHMLOG_ARG_U64, 0);
    tu_site(&s[2], 2, "c seq=%d level=%s", SHMLOG_ARG_I16, SHMLOG_ARG_STR, 0);
    tu_site(&s[3], 3, "d y=%f", SHMLOG_ARG_F32, 0);
    tu_site(&s[4], 4, "e y=%f p=%p", SHMLOG_ARG_F64, SHMLOG_ARG_PTR, 0);
    tu_site(&s[5], 5, "f field.seq=%d id.int=%u", SHMLOG_ARG_I32, SHMLOG_ARG_U32, 0);
    /* The widest argument of a name first: a column widened by later ones would pass either way. */
    for (int i = 5; i >= 0; i--)
        cr_assert_eq(shlog_enc_site(f.enc, 1, &s[i]), 0);
    cr_assert_eq(shlog_enc_batch_begin(f.enc, 1, 3), 0);
    float x = 0.1f, y = 2.5f;
    uint32_t xb, yb;
    memcpy(&xb, &x, 4);
    memcpy(&yb, &y, 4);
    double yd = -7.25;
    uint64_t ydb;
    memcpy(&ydb, &yd, 8);
    const uint64_t vals[7][3] = {{(uint64_t)-5, 250, xb}, {0, UINT64_MAX, 0}, {(uint64_t)(int16_t)-3, 0, 0}, {yb, 0, 0},
                                 {ydb, 0x1000, 0}, {(uint64_t)-9, 7, 0}, {1, 2, 3}};
    const char *const strs[7][1] = {{NULL}, {"id-7"}, {"hi"}, {NULL}, {NULL}, {NULL}, {NULL}};
    for (uint32_t k = 0; k < 7; k++) {
        struct shm_copied_record rec;
        memset(&rec, 0, sizeof rec);
        rec.pos = k;
        rec.tsc = pi.anchor_tsc + 1000 * k;
        rec.tid = 4300 + k;
        rec.site = k < 6 ? k : 99; /* 99: not defined */
        rec.level = SHMLOG_LEVEL_WARN;
        rec.category = 1;
        tu_slots(&rec, k < 6 ? tu_payload(&rec, &s[k], vals[k], strs[k]) : 0);
        cr_assert_eq(shlog_enc_record(f.enc, &rec), 0);
    }
    end_file(&f);
}

Test(read_arrow, the_fields_columns_follow_the_rules)
{
    char dir[256], path[600];
    scratch_path(dir, path, "readarrow-rules", "rules.shlog");
    write_rules_file(path);
    static struct got g;
    stream_all(path, SHMLOG_READ_ARROW_RECORDS, 0, &g);
    static const struct {
        const char *name, *format, *field;
    } want[] = {{"id.int", "i", "id"},     {"n", "L", "n"},
                {"x", "f", "x"},           {"id.str", "u", "id"},
                {"field.seq", "s", "seq"}, {"field.level", "u", "level"},
                {"y", "g", "y"},           {"p", "L", "p"},
                /* a name that begins with "field." gets it again, whatever the order of the sites; one still taken
                 * (id's int column) gets it until it is free */
                {"field.field.seq", "i", "field.seq"}, {"field.id.int", "I", "id.int"}};
    cr_assert_eq(g.schema.n_children, NFIXED + 10, "%lld columns", (long long)g.schema.n_children);
    for (int i = 0; i < 10; i++) {
        int c = col_index(&g, want[i].name);
        cr_assert_geq(c, NFIXED, "no column %s", want[i].name);
        cr_assert_str_eq(g.schema.children[c]->format, want[i].format, "%s: %s", want[i].name,
                         g.schema.children[c]->format);
        char field[64];
        cr_assert_str_eq(metadata_field(g.schema.children[c]->metadata, field, sizeof field), want[i].field,
                         "%s: shmlog.field %s", want[i].name, field);
    }
    for (int c = 0; c < NFIXED; c++)
        cr_assert_null(g.schema.children[c]->metadata, "%s: a fixed column has no field", g.schema.children[c]->name);
    cr_assert_eq(g.rows, 7);
    struct shmlog_read_field v;
    char buf[64];
    int null;
    field_at(&g, col_index(&g, "id.int"), 0, &v, buf, sizeof buf, &null);
    cr_assert(!null && v.v.i == -5);
    field_at(&g, col_index(&g, "id.int"), 1, &v, buf, sizeof buf, &null);
    cr_assert(null, "id=%%s is no int");
    field_at(&g, col_index(&g, "id.str"), 1, &v, buf, sizeof buf, &null);
    cr_assert(!null && strcmp(v.v.s, "id-7") == 0);
    field_at(&g, col_index(&g, "n"), 0, &v, buf, sizeof buf, &null);
    cr_assert(!null && v.v.u == 250, "a u8 in the u64 column");
    field_at(&g, col_index(&g, "n"), 1, &v, buf, sizeof buf, &null);
    cr_assert(!null && v.v.u == UINT64_MAX);
    field_at(&g, col_index(&g, "x"), 0, &v, buf, sizeof buf, &null);
    cr_assert(!null && v.v.f == (double)0.1f, "f32 exactly: %.17g", v.v.f);
    field_at(&g, col_index(&g, "field.seq"), 2, &v, buf, sizeof buf, &null);
    cr_assert(!null && v.v.i == -3);
    field_at(&g, col_index(&g, "field.field.seq"), 5, &v, buf, sizeof buf, &null);
    cr_assert(!null && v.v.i == -9);
    field_at(&g, col_index(&g, "field.id.int"), 5, &v, buf, sizeof buf, &null);
    cr_assert(!null && v.v.u == 7);
    field_at(&g, col_index(&g, "field.seq"), 5, &v, buf, sizeof buf, &null);
    cr_assert(null, "seq=%%d is another field than field.seq=%%d");
    field_at(&g, col_index(&g, "y"), 3, &v, buf, sizeof buf, &null);
    cr_assert(!null && v.v.f == 2.5, "an f32 in the f64 column");
    field_at(&g, col_index(&g, "y"), 4, &v, buf, sizeof buf, &null);
    cr_assert(!null && v.v.f == -7.25);
    field_at(&g, col_index(&g, "p"), 4, &v, buf, sizeof buf, &null);
    cr_assert(!null && v.v.u == 0x1000);
    cr_assert_null(dict_text(cell(&g, 9, 6), "s", buf, sizeof buf), "unknown site: no site");
    cr_assert_null(text_of(cell(&g, 11, 6), buf, sizeof buf), "unknown site: no message");
    cr_assert_str_eq(dict_text(cell(&g, 16, 6), "c", buf, sizeof buf), "unknown site");
    cr_assert_str_eq(text_of(cell(&g, 11, 0), buf, sizeof buf), "a id=-5 n=250 x=0.100000");
    got_free(&g);
    /* The same checks against the events, in batches of two. */
    check_records(path, 2);

    /* fields 0 and message 0: the fixed columns without msg. */
    struct shmlog_read *r = open_path(path, NULL);
    struct shmlog_read_arrow_options o = SHMLOG_READ_ARROW_OPTIONS_INIT;
    o.fields = 0;
    o.message = 0;
    struct ArrowArrayStream s;
    char err[256];
    cr_assert_eq(shmlog_read_arrow(r, &o, &s, err, sizeof err), 0, "%s", err);
    struct ArrowSchema sc;
    cr_assert_eq(s.get_schema(&s, &sc), 0);
    cr_assert_eq(sc.n_children, NFIXED - 1);
    for (int64_t k = 0; k < sc.n_children; k++)
        cr_assert_str_neq(sc.children[k]->name, "msg");
    sc.release(&sc);
    s.release(&s);
    shmlog_read_close(r);
    tu_rmtree(dir);
}

/* ==== A SITES_FIRST file: the schema from the head of each frame ==== */

/* A record of site s at position pos (cpu 0) with vals and strs. */
static void put_record(struct tu_file *f, const struct shm_proc_info *pi, const struct shm_site *s, uint64_t pos,
                       const uint64_t *vals, const char *const *strs)
{
    struct shm_copied_record rec;
    memset(&rec, 0, sizeof rec);
    rec.pos = pos;
    rec.tsc = pi->anchor_tsc + 1000 * pos;
    rec.tid = 4300;
    rec.site = s->id;
    rec.level = SHMLOG_LEVEL_INFO;
    tu_slots(&rec, tu_payload(&rec, s, vals, strs));
    cr_assert_eq(shlog_enc_record(f->enc, &rec), 0);
}

/* Frame 1: "a qty=%d" and 3 records of it. Frame 2: 2 records of a; "b px=%f", first defined
 * after them (the encoder writes it ahead of them); 2 records of b; a defined again as
 * "a qty=%s", after the batches (a definition again stays in order), and a record of it. */
static void write_defined_late(const char *path, uint32_t flags)
{
    struct tu_file f;
    struct shm_proc_info pi;
    tu_file_open_flags(&f, path, 1, flags);
    tu_proc_info(&pi, 42, 4242);
    cr_assert_eq(shlog_enc_process(f.enc, 1, &pi), 0);
    static struct shm_site a, b, a_again;
    tu_site(&a, 0, "a qty=%d", SHMLOG_ARG_I32, 0);
    tu_site(&b, 1, "b px=%f", SHMLOG_ARG_F64, 0);
    tu_site(&a_again, 0, "a qty=%s", SHMLOG_ARG_STR, 0);
    cr_assert_eq(shlog_enc_site(f.enc, 1, &a), 0);
    uint64_t pos = 0;
    cr_assert_eq(shlog_enc_batch_begin(f.enc, 1, 0), 0);
    for (; pos < 3; pos++)
        put_record(&f, &pi, &a, pos, (uint64_t[]){pos}, NULL);
    cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
    tu_file_flush(&f);
    cr_assert_eq(shlog_enc_batch_begin(f.enc, 1, 0), 0);
    for (; pos < 5; pos++)
        put_record(&f, &pi, &a, pos, (uint64_t[]){pos}, NULL);
    cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
    cr_assert_eq(shlog_enc_site(f.enc, 1, &b), 0);
    cr_assert_eq(shlog_enc_batch_begin(f.enc, 1, 0), 0);
    for (; pos < 7; pos++) {
        double px = 1.5 * (double)pos;
        uint64_t bits;
        memcpy(&bits, &px, 8);
        put_record(&f, &pi, &b, pos, (uint64_t[]){bits}, NULL);
    }
    cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
    cr_assert_eq(shlog_enc_site(f.enc, 1, &a_again), 0);
    cr_assert_eq(shlog_enc_batch_begin(f.enc, 1, 0), 0);
    put_record(&f, &pi, &a_again, pos, (uint64_t[]){0}, (const char *const[]){"big"});
    end_file(&f);
}

Test(read_arrow, a_sites_first_file_gives_its_schema_from_each_frames_first_definitions)
{
    char dir[256], path[600];
    scratch_path(dir, path, "readarrow-sitesfirst", "late.shlog");
    char buf[64];
    int null;
    struct shmlog_read_field v;
    static struct got g;
    for (int flagged = 0; flagged < 2; flagged++) {
        write_defined_late(path, flagged ? SHLOG_FILE_SITES_FIRST : 0);
        stream_all(path, SHMLOG_READ_ARROW_RECORDS, 0, &g);
        cr_assert_eq(g.rows, 8, "%lld rows", (long long)g.rows);
        /* A site first defined late in a frame is in the schema either way: its definition
         * leads the frame, which the scan of a flagged file decodes no further than. */
        int px = col_index(&g, "px");
        cr_assert_geq(px, NFIXED, "no px column (flagged %d)", flagged);
        cr_assert_str_eq(g.schema.children[px]->format, "g");
        field_at(&g, px, 5, &v, buf, sizeof buf, &null);
        cr_assert(!null && v.v.f == 7.5, "px of the first record of b");
        field_at(&g, px, 6, &v, buf, sizeof buf, &null);
        cr_assert(!null && v.v.f == 9.0);
        cr_assert_str_eq(text_of(cell(&g, 11, 4), buf, sizeof buf), "a qty=4");
        /* A site defined again with other types shows its records as of an unknown site. */
        cr_assert_null(text_of(cell(&g, 11, 7), buf, sizeof buf));
        if (flagged) {
            /* A definition again, after the frame's records, is past what the scan of a flagged
             * file decodes: its string kind of qty has no column. */
            cr_assert_eq(g.schema.n_children, NFIXED + 2, "%lld columns", (long long)g.schema.n_children);
            int qty = col_index(&g, "qty");
            cr_assert_geq(qty, NFIXED);
            cr_assert_lt(col_index(&g, "qty.str"), 0);
            field_at(&g, qty, 4, &v, buf, sizeof buf, &null);
            cr_assert(!null && v.v.i == 4);
        } else {
            /* Every frame decoded whole: both kinds of qty, the string's empty. */
            cr_assert_eq(g.schema.n_children, NFIXED + 3, "%lld columns", (long long)g.schema.n_children);
            field_at(&g, col_index(&g, "qty.int"), 4, &v, buf, sizeof buf, &null);
            cr_assert(!null && v.v.i == 4);
            int qty_str = col_index(&g, "qty.str");
            cr_assert_geq(qty_str, NFIXED);
            for (int64_t row = 0; row < g.rows; row++)
                cr_assert(is_null(cell(&g, qty_str, row)));
        }
        got_free(&g);
        if (flagged) /* (unflagged, qty.str holds no value, which check_records refuses) */
            check_records(path, 3);
    }
    tu_rmtree(dir);
}

/* ==== The fields' columns in the order of the source, whichever site was met first ==== */

/* Sites of one program, the order of their columns by file, line and place: "venue=%s bid=%d" at src/file0.c:50,
 * "q bid=%f ask=%f" at src/file0.c:100, "px=%f qty=%d" at src/file1.c:101, "a=%u" at src/file3.c:103. A process
 * (pid) that defines them in order or backwards (as a program's threads may first reach them), and logs one
 * record of each. */
static void write_sites_in_order(const char *path, uint32_t pid, int backwards)
{
    struct tu_file f;
    struct shm_proc_info pi;
    file_of_process(&f, path, &pi, pid, 1000 + pid);
    struct shm_site s[4];
    tu_site(&s[0], 0, "q bid=%f ask=%f", SHMLOG_ARG_F64, SHMLOG_ARG_F64, 0);
    tu_site(&s[1], 1, "px=%f qty=%d", SHMLOG_ARG_F64, SHMLOG_ARG_I32, 0);
    tu_site(&s[2], 2, "venue=%s bid=%d", SHMLOG_ARG_STR, SHMLOG_ARG_I32, 0);
    snprintf(s[2].file, sizeof s[2].file, "src/file0.c");
    s[2].file_len = (uint32_t)strlen(s[2].file);
    s[2].line = 50;
    tu_site(&s[3], 3, "a=%u", SHMLOG_ARG_U32, 0);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(shlog_enc_site(f.enc, 1, &s[backwards ? 3 - i : i]), 0);
    cr_assert_eq(shlog_enc_batch_begin(f.enc, 1, 0), 0);
    double bid = 1.5, px = 2.25;
    uint64_t bid_bits, px_bits;
    memcpy(&bid_bits, &bid, 8);
    memcpy(&px_bits, &px, 8);
    put_record(&f, &pi, &s[0], 0, (uint64_t[]){bid_bits, bid_bits}, NULL);
    put_record(&f, &pi, &s[1], 1, (uint64_t[]){px_bits, 9}, NULL);
    put_record(&f, &pi, &s[2], 2, (uint64_t[]){0, 7}, (const char *const[]){"XNAS"});
    put_record(&f, &pi, &s[3], 3, (uint64_t[]){11}, NULL);
    end_file(&f);
}

Test(read_arrow, the_fields_columns_come_in_the_order_of_the_source_whichever_site_was_met_first)
{
    char dir[256], forward[600], backward[600];
    scratch_path(dir, forward, "readarrow-order", "a-forward.shlog");
    snprintf(backward, sizeof backward, "%s/b-backward.shlog", dir);
    write_sites_in_order(forward, 42, 0);
    write_sites_in_order(backward, 43, 1);
    static const char *const want[] = {"venue", "bid.int", "bid.float", "ask", "px", "qty", "a"};
    const char *const reads[] = {forward, backward, dir};
    static struct got g;
    for (size_t k = 0; k < 3; k++) {
        stream_all(reads[k], SHMLOG_READ_ARROW_RECORDS, 0, &g);
        cr_assert_eq(g.schema.n_children, NFIXED + 7, "%s: %lld columns", reads[k], (long long)g.schema.n_children);
        for (int i = 0; i < 7; i++)
            cr_assert_str_eq(g.schema.children[NFIXED + i]->name, want[i], "%s: column %d is %s, not %s", reads[k],
                             NFIXED + i, g.schema.children[NFIXED + i]->name, want[i]);
        if (k == 2) { /* (both processes' records at the same times: check_records() takes the rows' values) */
            got_free(&g);
            check_records(reads[k], 3);
            continue;
        }
        /* The rows' values are in the columns their names say, the columns moved from where the scan made them. */
        struct shmlog_read_field v;
        char buf[64];
        int null;
        field_at(&g, col_index(&g, "bid.float"), 0, &v, buf, sizeof buf, &null);
        cr_assert(!null && v.v.f == 1.5);
        field_at(&g, col_index(&g, "qty"), 1, &v, buf, sizeof buf, &null);
        cr_assert(!null && v.v.i == 9);
        field_at(&g, col_index(&g, "venue"), 2, &v, buf, sizeof buf, &null);
        cr_assert(!null && strcmp(v.v.s, "XNAS") == 0);
        field_at(&g, col_index(&g, "bid.int"), 2, &v, buf, sizeof buf, &null);
        cr_assert(!null && v.v.i == 7);
        field_at(&g, col_index(&g, "a"), 3, &v, buf, sizeof buf, &null);
        cr_assert(!null && v.v.u == 11);
        got_free(&g);
        check_records(reads[k], 3);
    }
    tu_rmtree(dir);
}

/* ==== Lifetimes and refusals ==== */

Test(read_arrow, a_kept_column_outlives_its_batch_and_the_stream_its_reader)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/v2-categories/processes.shlog", corpus());
    struct shmlog_read *r = open_path(path, NULL);
    struct ArrowArrayStream s;
    char err[256];
    cr_assert_eq(shmlog_read_arrow(r, NULL, &s, err, sizeof err), 0, "%s", err);
    /* The events API is the stream's now. */
    const struct shmlog_read_event *ev;
    cr_assert_eq(shmlog_read_next(r, &ev), -EBUSY);
    cr_assert_eq(shmlog_read_arrow(r, NULL, &(struct ArrowArrayStream){0}, err, sizeof err), -EBUSY);
    cr_assert_str_eq(err, "the reader is read by a stream already");
    shmlog_read_close(r); /* the stream holds it */
    struct ArrowSchema sc;
    cr_assert_eq(s.get_schema(&s, &sc), 0);
    struct ArrowSchema msg_schema = *sc.children[11]; /* moved out, the rest released */
    sc.children[11]->release = NULL;
    sc.release(&sc);
    cr_assert_str_eq(msg_schema.name, "msg");
    struct ArrowArray a;
    cr_assert_eq(s.get_next(&s, &a), 0);
    cr_assert_not_null(a.release);
    struct ArrowArray msg = *a.children[11];
    struct ArrowArray level = *a.children[1];
    a.children[11]->release = NULL;
    a.children[1]->release = NULL;
    a.release(&a);
    s.release(&s);
    /* What was moved out is whole after the batch, the stream and the reader are gone. */
    const int32_t *off = msg.buffers[1];
    cr_assert_gt(msg.length, 0);
    cr_assert_eq(off[0], 0);
    char first[256];
    snprintf(first, sizeof first, "%.*s", (int)(off[1] - off[0]), (const char *)msg.buffers[2]);
    cr_assert_gt(strlen(first), 0);
    cr_assert_not_null(level.dictionary);
    cr_assert_eq(level.dictionary->length, 6);
    msg.release(&msg);
    level.release(&level);
    msg_schema.release(&msg_schema);
}

/* The buffers of a column that has no value in a batch (every row null, or a bool false) are one address: the
 * same for every such column and batch of the stream, and none of a column with values. Returns the columns
 * that had none. */
static int no_value_columns(const struct got *g, const uint8_t **zero)
{
    int found = 0;
    for (size_t b = 0; b < g->nbatches; b++)
        for (int64_t c = 0; c < g->batch[b].n_children; c++) {
            const struct ArrowArray *a = g->batch[b].children[c];
            const char *format = g->schema.children[c]->format;
            if (strcmp(format, "+l") == 0)
                continue; /* a tree's column: its own memory */
            int none = a->null_count == a->length;
            if (!none && strcmp(format, "b") == 0 && a->null_count == 0) {
                none = 1;
                for (int64_t i = 0; i < a->length && none; i++)
                    none = !bit_at((struct at){a, i});
            }
            const uint8_t *values = a->buffers[1];
            if (!none) {
                cr_assert(!*zero || values != *zero, "batch %zu column %s: values of the zero region", b,
                          g->schema.children[c]->name);
                continue;
            }
            if (!*zero)
                *zero = values;
            cr_assert_eq(values, *zero, "batch %zu column %s: no value, its own buffer", b, g->schema.children[c]->name);
            cr_assert(a->null_count == 0 ? a->buffers[0] == NULL : a->buffers[0] == (const void *)*zero);
            if (a->n_buffers == 3)
                cr_assert_eq(a->buffers[2], (const void *)*zero);
            if (a->dictionary) /* a dictionary of nothing: its one offset 0 */
                cr_assert(a->dictionary->length == 0 && a->dictionary->buffers[1] == (const void *)*zero &&
                          a->dictionary->buffers[2] == (const void *)*zero);
            found++;
        }
    return found;
}

Test(read_arrow, a_column_with_no_value_in_a_batch_is_a_view_of_one_zero_region)
{
    char path[1024];
    struct got *g = malloc(sizeof *g);
    cr_assert_not_null(g);
    /* Records and loss and exit markers, a batch of a few rows each: a column has values in some, none in others. */
    const char *files[] = {"v2-records/losses.shlog", "v2-exit-how/processes.shlog", "v2-trace/trace.shlog"};
    int found[2] = {0, 0};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++)
        for (uint32_t what = SHMLOG_READ_ARROW_RECORDS; what <= SHMLOG_READ_ARROW_MARKERS; what++) {
            const uint8_t *zero = NULL;
            snprintf(path, sizeof path, "%s/%s", corpus(), files[f]);
            stream_all(path, what, 3, g);
            found[what - SHMLOG_READ_ARROW_RECORDS] += no_value_columns(g, &zero);
            got_free(g);
        }
    cr_assert(found[0] > 0 && found[1] > 0, "records %d, markers %d", found[0], found[1]);
    /* A column kept after the other columns, their batches and the stream (released by stream_all) holds the
     * region: its views still read as zeros. */
    snprintf(path, sizeof path, "%s/%s", corpus(), files[0]);
    stream_all(path, SHMLOG_READ_ARROW_RECORDS, 3, g);
    const uint8_t *zero = NULL;
    cr_assert_gt(no_value_columns(g, &zero), 0);
    int trace = col_index(g, "trace_id");
    cr_assert_geq(trace, 0);
    struct ArrowArray kept = *g->batch[0].children[trace];
    g->batch[0].children[trace]->release = NULL;
    got_free(g);
    cr_assert_eq(kept.null_count, kept.length);
    cr_assert_eq(kept.buffers[1], (const void *)zero);
    const int32_t *offsets = kept.buffers[1];
    for (int64_t i = 0; i <= kept.length; i++)
        cr_assert_eq(offsets[i], 0);
    kept.release(&kept);
    free(g);
}

/* ==== String views ==== */

/* Row i of a string view column a ("vu"), read as a consumer of the interface
 * reads a view, each part checked: NULL for null. */
static const char *view_text_at(const struct ArrowArray *a, int64_t i, char *buf, size_t cap)
{
    if (is_null_at(a, i))
        return NULL;
    cr_assert(a->n_buffers == 3 || a->n_buffers == 4, "n_buffers %lld", (long long)a->n_buffers);
    const uint8_t *v = (const uint8_t *)a->buffers[1] + 16 * i;
    int32_t len;
    memcpy(&len, v, 4);
    cr_assert(len >= 0 && (size_t)len < cap, "row %lld: length %d", (long long)i, len);
    if (len <= 12) {
        for (int k = 4 + len; k < 16; k++)
            cr_assert_eq(v[k], 0, "row %lld: an inline string's padding", (long long)i);
        memcpy(buf, v + 4, (size_t)len);
    } else {
        cr_assert_eq(a->n_buffers, 4, "row %lld: a string of %d bytes and no characters buffer", (long long)i, len);
        int32_t index, off;
        memcpy(&index, v + 8, 4);
        memcpy(&off, v + 12, 4);
        const int64_t *sizes = a->buffers[3];
        const char *chars = a->buffers[2];
        cr_assert_eq(index, 0);
        cr_assert(off >= 0 && off + (int64_t)len <= sizes[0], "row %lld: %d bytes at %d of %lld", (long long)i, len,
                  off, (long long)sizes[0]);
        cr_assert_eq(memcmp(v + 4, chars + off, 4), 0, "row %lld: the prefix", (long long)i);
        memcpy(buf, chars + off, (size_t)len);
    }
    buf[len] = '\0';
    return buf;
}

/* Every string cell of path's records (or markers: what), as utf8 and as string views, in batches of batch_rows. */
static void check_string_views(const char *path, uint32_t what, uint32_t batch_rows, struct got *u, struct got *v)
{
    struct shmlog_read_arrow_options o = SHMLOG_READ_ARROW_OPTIONS_INIT;
    o.what = what;
    o.batch_rows = batch_rows;
    stream_reader(open_path(path, NULL), &o, u);
    o.string_views = 1;
    stream_reader(open_path(path, NULL), &o, v);
    cr_assert_eq(u->rows, v->rows);
    cr_assert_eq(u->nbatches, v->nbatches);
    cr_assert_eq(u->schema.n_children, v->schema.n_children);
    static char a[1 << 17], b[1 << 17];
    for (int64_t c = 0; c < u->schema.n_children; c++) {
        const struct ArrowSchema *su = u->schema.children[c], *sv = v->schema.children[c];
        cr_assert_str_eq(su->name, sv->name);
        if (strcmp(su->format, "u") != 0) {
            cr_assert_str_eq(su->format, sv->format, "%s: %s, with views %s", su->name, su->format, sv->format);
            continue;
        }
        cr_assert_str_eq(sv->format, "vu", "%s", sv->name);
        for (int64_t row = 0; row < u->rows; row++) {
            struct at x = cell(u, (int)c, row), y = cell(v, (int)c, row);
            const char *tu = text_of(x, a, sizeof a), *tv = view_text_at(y.a, y.i, b, sizeof b);
            cr_assert_eq(tu == NULL, tv == NULL, "%s: %s row %lld: null or not", path, su->name, (long long)row);
            if (tu)
                cr_assert_str_eq(tu, tv, "%s: %s row %lld", path, su->name, (long long)row);
        }
    }
    got_free(u);
    got_free(v);
}

Test(read_arrow, string_views_hold_what_utf8_holds_in_every_corpus_file, .timeout = 300)
{
    struct got *u = malloc(sizeof *u), *v = malloc(sizeof *v);
    cr_assert(u && v);
    DIR *top = opendir(corpus());
    cr_assert_not_null(top);
    int files = 0;
    for (struct dirent *d; (d = readdir(top));) {
        if (strncmp(d->d_name, "v2", 2) != 0)
            continue;
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", corpus(), d->d_name);
        DIR *in = opendir(dir);
        cr_assert_not_null(in);
        for (struct dirent *f; (f = readdir(in));) {
            size_t n = strlen(f->d_name);
            if (n < 6 || strcmp(f->d_name + n - 6, ".shlog") != 0)
                continue;
            char path[1400];
            snprintf(path, sizeof path, "%s/%s", dir, f->d_name);
            check_string_views(path, SHMLOG_READ_ARROW_RECORDS, 5, u, v);
            check_string_views(path, SHMLOG_READ_ARROW_RECORDS, 0, u, v);
            check_string_views(path, SHMLOG_READ_ARROW_MARKERS, 0, u, v);
            files++;
        }
        closedir(in);
    }
    closedir(top);
    cr_assert_gt(files, 50, "%d corpus files", files);
    free(u);
    free(v);
}

/* The stream of path on threads threads, in batches of 3 rows, after its first skip events were read as events:
 * those the reader had taken then come first (copied for the builders), the merge's after them. */
static void stream_after_events(const char *path, int skip, uint32_t threads, struct got *g)
{
    struct shmlog_read *r = open_path(path, NULL);
    const struct shmlog_read_event *ev;
    for (int i = 0; i < skip; i++)
        cr_assert_eq(shmlog_read_next(r, &ev), 1);
    struct shmlog_read_arrow_options o = SHMLOG_READ_ARROW_OPTIONS_INIT;
    o.batch_rows = 3;
    o.threads = threads;
    stream_reader(r, &o, g);
}

Test(read_arrow, a_stream_begun_after_events_were_read_is_the_same_on_several_threads)
{
    char path[1024], one[512], many[512];
    snprintf(path, sizeof path, "%s/v2-records/records.shlog", corpus());
    struct got *g1 = malloc(sizeof *g1), *g2 = malloc(sizeof *g2);
    cr_assert(g1 && g2);
    stream_after_events(path, 0, 1, g1);
    int64_t all = g1->rows;
    got_free(g1);
    cr_assert_gt(all, 10);
    stream_after_events(path, 5, 1, g1);
    stream_after_events(path, 5, 2, g2);
    cr_assert_eq(g1->rows, all - 5);
    cr_assert_eq(g2->rows, g1->rows);
    int msg = col_index(g1, "msg"), seq = col_index(g1, "seq");
    cr_assert(msg >= 0 && seq >= 0);
    for (int64_t row = 0; row < g1->rows; row++) {
        cr_assert_eq(u64_at(cell(g1, seq, row), 8), u64_at(cell(g2, seq, row), 8), "row %lld", (long long)row);
        const char *a = text_of(cell(g1, msg, row), one, sizeof one), *b = text_of(cell(g2, msg, row), many, sizeof many);
        cr_assert(a && b && strcmp(a, b) == 0, "row %lld: %s / %s", (long long)row, a ? a : "null", b ? b : "null");
    }
    got_free(g1);
    got_free(g2);
    free(g1);
    free(g2);
}

Test(read_arrow, bad_options_are_refused_with_the_reason)
{
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/v2/processes.shlog", corpus());
    struct shmlog_read *r = open_path(path, NULL);
    struct ArrowArrayStream s;
    struct shmlog_read_arrow_options o = SHMLOG_READ_ARROW_OPTIONS_INIT;
    o.what = 3;
    cr_assert_eq(shmlog_read_arrow(r, &o, &s, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "SHMLOG_READ_ARROW_RECORDS"), "%s", err);
    o = (struct shmlog_read_arrow_options)SHMLOG_READ_ARROW_OPTIONS_INIT;
    o.batch_rows = SHMLOG_READ_ARROW_ROWS_MAX + 1;
    cr_assert_eq(shmlog_read_arrow(r, &o, &s, err, sizeof err), -EINVAL);
    o.size = 4;
    cr_assert_eq(shmlog_read_arrow(r, &o, &s, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "SHMLOG_READ_ARROW_OPTIONS_INIT"), "%s", err);
    shmlog_read_close(r);
}

Test(read_arrow, a_batch_ends_before_a_dictionary_outgrows_its_index, .timeout = 120)
{
    /* 40000 call sites of one record each: more distinct sites than an int16 index holds. */
    enum { SITES = 40000 };
    char dir[256], path[600];
    scratch_path(dir, path, "readarrow-dict", "sites.shlog");
    struct tu_file f;
    struct shm_proc_info pi;
    file_of_process(&f, path, &pi, 7, 77);
    struct shm_site s;
    for (uint32_t k = 0; k < SITES; k++) {
        tu_site(&s, k, "s", 0);
        cr_assert_eq(shlog_enc_site(f.enc, 1, &s), 0);
        if (k % 8192 == 8191)
            tu_file_flush(&f);
    }
    cr_assert_eq(shlog_enc_batch_begin(f.enc, 1, 0), 0);
    for (uint32_t k = 0; k < SITES; k++) {
        struct shm_copied_record rec;
        memset(&rec, 0, sizeof rec);
        rec.pos = k;
        rec.tsc = pi.anchor_tsc + k;
        rec.site = k;
        rec.level = SHMLOG_LEVEL_INFO;
        tu_slots(&rec, 0);
        cr_assert_eq(shlog_enc_record(f.enc, &rec), 0);
    }
    cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
    tu_file_flush(&f);
    tu_file_close(&f);
    static struct got g;
    stream_all(path, SHMLOG_READ_ARROW_RECORDS, 65536, &g); /* room for every row: only the dictionary ends it */
    cr_assert_eq(g.rows, SITES);
    cr_assert_geq(g.nbatches, 2);
    for (size_t b = 0; b < g.nbatches; b++) {
        const struct ArrowArray *site = g.batch[b].children[9];
        cr_assert_leq(site->dictionary->length, 32767);
        cr_assert_eq(site->dictionary->length, site->length, "one site a row: each its own value");
        for (int64_t i = 0; i < site->length; i++)
            cr_assert_lt(((const int16_t *)site->buffers[1])[i], site->dictionary->length);
    }
    got_free(&g);
    tu_rmtree(dir);
}

Test(read_arrow, a_time_past_what_a_timestamp_holds_is_its_largest)
{
    /* Anchors that put a record at the end of the u64 range (a damaged clock): the events give
     * UINT64_MAX, an Arrow timestamp (signed) holds at most INT64_MAX. */
    char dir[256], path[600];
    scratch_path(dir, path, "readarrow-clamp", "clamp.shlog");
    struct tu_file f;
    struct shm_proc_info pi;
    file_of_process(&f, path, &pi, 9, 99);
    struct shm_site s;
    tu_site(&s, 0, "x=%d", SHMLOG_ARG_I32, 0);
    cr_assert_eq(shlog_enc_site(f.enc, 1, &s), 0);
    cr_assert_eq(shlog_enc_batch_begin(f.enc, 1, 0), 0);
    struct shm_copied_record rec;
    memset(&rec, 0, sizeof rec);
    rec.tsc = 1000000;
    uint64_t v[1] = {1};
    tu_slots(&rec, tu_payload(&rec, &s, v, NULL));
    cr_assert_eq(shlog_enc_record(f.enc, &rec), 0);
    cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
    struct shm_clock_anchor an[2] = {{.tsc = 10, .ns = UINT64_MAX - 100}, {.tsc = 20, .ns = UINT64_MAX - 90}};
    struct shlog_clock_info ci = {.hz_q16 = 1000000000ull << 16};
    cr_assert_eq(shlog_enc_clock(f.enc, &ci, an, 2), 0);
    tu_file_flush(&f);
    tu_file_close(&f);

    struct shmlog_read *r = open_path(path, NULL);
    const struct shmlog_read_event *ev;
    cr_assert_eq(shmlog_read_next(r, &ev), 1);
    cr_assert_eq(ev->ts_ns, UINT64_MAX, "the events' time: %llu", (unsigned long long)ev->ts_ns);
    shmlog_read_close(r);
    static struct got g;
    stream_all(path, SHMLOG_READ_ARROW_RECORDS, 0, &g);
    cr_assert_eq(g.rows, 1);
    cr_assert_eq(u64_at(cell(&g, 0, 0), 8), (uint64_t)INT64_MAX);
    got_free(&g);
    tu_rmtree(dir);
}

/* ==== Value trees' typed columns ==== */

/* A record of site s (one STR argument) holding the n bytes of a tree. */
static void put_tree_record(struct tu_file *f, const struct shm_proc_info *pi, const struct shm_site *s, uint64_t pos,
                            const uint8_t *tree, size_t n)
{
    struct shm_copied_record rec;
    memset(&rec, 0, sizeof rec);
    rec.pos = 4 * pos; /* a ring position per slot: room for a tree's continuation slots */
    rec.tsc = pi->anchor_tsc + 1000 * pos;
    rec.tid = 4300;
    rec.site = s->id;
    rec.level = SHMLOG_LEVEL_INFO;
    rec.payload[0] = (uint8_t)n;
    rec.payload[1] = (uint8_t)(n >> 8);
    memcpy(rec.payload + 2, tree, n);
    tu_slots(&rec, 2 + n);
    cr_assert_eq(shlog_enc_record(f->enc, &rec), 0);
}

static void tree_site(struct shm_site *s, uint32_t id, const char *fmt, const char *desc)
{
    tu_site(s, id, fmt, SHMLOG_ARG_STR, 0);
    snprintf(s->desc, sizeof s->desc, "%s", desc);
    s->desc_len = (uint32_t)strlen(s->desc);
}

#define T_I32(v) SHMLOG_ARG_I32, (uint8_t)(v), 0, 0, 0
#define T_COUNT(n) (uint8_t)(n), (uint8_t)((n) >> 8), (uint8_t)((n) >> 16), (uint8_t)((n) >> 24)

/* Rows: t=[1, none, 5] (optionals); t whose second element is a double (not the shape's): [1]; t a map: null; t of no bytes:
 * null; t counting 2^32-1 elements of which one is there: [7]; u={"a": [2.5], "b": []}; w=[3] of a site whose
 * shape is [i], w=[4] of one whose shape is [l]. */
static void write_trees_file(const char *path)
{
    struct tu_file f;
    struct shm_proc_info pi;
    file_of_process(&f, path, &pi, 42, 4242);
    static struct shm_site s[4];
    tree_site(&s[0], 0, "t=%s", "v1;a1 [?i]");
    tree_site(&s[1], 1, "u=%s", "v1;a1 {s[d]}");
    tree_site(&s[2], 2, "w=%s", "v1;a1 [i]");
    tree_site(&s[3], 3, "w=%s", "v1;a1 [l]");
    for (int i = 0; i < 4; i++)
        cr_assert_eq(shlog_enc_site(f.enc, 1, &s[i]), 0);
    cr_assert_eq(shlog_enc_batch_begin(f.enc, 1, 0), 0);
    static const uint8_t good[] = {SHMLOG_TREE_SEQ, T_COUNT(3), SHMLOG_TREE_SOME, T_I32(1), SHMLOG_TREE_NONE, SHMLOG_TREE_SOME, T_I32(5)};
    static const uint8_t wrong[] = {SHMLOG_TREE_SEQ, T_COUNT(3), SHMLOG_TREE_SOME, T_I32(1), SHMLOG_ARG_F64, 0, 0, 0, 0, 0, 0, 0, 0, T_I32(2)};
    static const uint8_t map[] = {SHMLOG_TREE_MAP, T_COUNT(0)};
    static const uint8_t long_count[] = {SHMLOG_TREE_SEQ, T_COUNT(0xFFFFFFFFu), SHMLOG_TREE_SOME, T_I32(7)};
    static const uint8_t u[] = {SHMLOG_TREE_MAP, T_COUNT(2), SHMLOG_TREE_STR, T_COUNT(1), 'a', SHMLOG_TREE_SEQ,
                                T_COUNT(1), SHMLOG_ARG_F64, 0, 0, 0, 0, 0, 0, 0x04, 0x40, SHMLOG_TREE_STR, T_COUNT(1),
                                'b', SHMLOG_TREE_SEQ, T_COUNT(0)};
    static const uint8_t w_i[] = {SHMLOG_TREE_SEQ, T_COUNT(1), T_I32(3)};
    static const uint8_t w_l[] = {SHMLOG_TREE_SEQ, T_COUNT(1), SHMLOG_ARG_I64, 4, 0, 0, 0, 0, 0, 0, 0};
    put_tree_record(&f, &pi, &s[0], 0, good, sizeof good);
    put_tree_record(&f, &pi, &s[0], 1, wrong, sizeof wrong);
    put_tree_record(&f, &pi, &s[0], 2, map, sizeof map);
    put_tree_record(&f, &pi, &s[0], 3, map, 0);
    put_tree_record(&f, &pi, &s[0], 4, long_count, sizeof long_count);
    put_tree_record(&f, &pi, &s[1], 5, u, sizeof u);
    put_tree_record(&f, &pi, &s[2], 6, w_i, sizeof w_i);
    put_tree_record(&f, &pi, &s[3], 7, w_l, sizeof w_l);
    end_file(&f);
}

/* A list cell's elements: its child and the range of them. */
static const struct ArrowArray *list_at(struct at c, int32_t *from, int32_t *to)
{
    cr_assert(!is_null(c));
    const int32_t *off = c.a->buffers[1];
    *from = off[c.i];
    *to = off[c.i + 1];
    cr_assert(*from >= 0 && *from <= *to && *to <= c.a->children[0]->length);
    return c.a->children[0];
}

/* An int32 list cell as text, "1,null,5". */
static const char *i32_list(struct at c, char *buf, size_t cap)
{
    int32_t from, to;
    const struct ArrowArray *e = list_at(c, &from, &to);
    size_t len = 0;
    buf[0] = '\0';
    for (int32_t k = from; k < to; k++) {
        char one[16];
        if (is_null_at(e, k))
            snprintf(one, sizeof one, "null");
        else
            snprintf(one, sizeof one, "%d", ((const int32_t *)e->buffers[1])[k]);
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", k > from ? "," : "", one);
    }
    return buf;
}

Test(read_arrow, a_tree_field_of_one_shape_is_a_typed_list_or_map_and_bytes_that_do_not_match_end_it)
{
    char dir[256], path[600], buf[256];
    scratch_path(dir, path, "readarrow-trees", "trees.shlog");
    write_trees_file(path);
    static struct got g;
    for (uint32_t rows = 0; rows <= 3; rows += 3) { /* one batch, and batches of 3 rows */
        stream_all(path, SHMLOG_READ_ARROW_RECORDS, rows, &g);
        cr_assert_eq(g.rows, 8, "%lld rows", (long long)g.rows);
        int t = col_index(&g, "t"), u = col_index(&g, "u"), w = col_index(&g, "w");
        cr_assert_str_eq(g.schema.children[t]->format, "+l");
        cr_assert_str_eq(g.schema.children[t]->children[0]->format, "i");
        cr_assert_str_eq(g.schema.children[u]->format, "+m");
        cr_assert_str_eq(g.schema.children[u]->children[0]->children[0]->format, "u");
        cr_assert_str_eq(g.schema.children[u]->children[0]->children[1]->format, "+l");
        cr_assert_str_eq(g.schema.children[u]->children[0]->children[1]->children[0]->format, "g");
        cr_assert_str_eq(g.schema.children[w]->format, "u", "a name of two shapes holds the text");
        cr_assert_str_eq(i32_list(cell(&g, t, 0), buf, sizeof buf), "1,null,5");
        cr_assert_str_eq(i32_list(cell(&g, t, 1), buf, sizeof buf), "1", "a node of another type ends the list");
        cr_assert(is_null(cell(&g, t, 2)), "a tree of another shape is null");
        cr_assert(is_null(cell(&g, t, 3)), "no tree is null");
        cr_assert_str_eq(i32_list(cell(&g, t, 4), buf, sizeof buf), "7", "the elements there are");
        for (int64_t r = 5; r < 8; r++)
            cr_assert(is_null(cell(&g, t, r)));
        int32_t from, to, lf, lt;
        const struct ArrowArray *entries = list_at(cell(&g, u, 5), &from, &to);
        cr_assert_eq(to - from, 2);
        cr_assert_str_eq(text_of_at(entries->children[0], from, buf, sizeof buf), "a");
        cr_assert_str_eq(text_of_at(entries->children[0], from + 1, buf, sizeof buf), "b");
        const struct ArrowArray *px = list_at((struct at){entries->children[1], from}, &lf, &lt);
        cr_assert(lt - lf == 1 && ((const double *)px->buffers[1])[lf] == 2.5);
        list_at((struct at){entries->children[1], from + 1}, &lf, &lt);
        cr_assert_eq(lt - lf, 0);
        cr_assert_str_eq(text_of(cell(&g, w, 6), buf, sizeof buf), "[3]");
        cr_assert_str_eq(text_of(cell(&g, w, 7), buf, sizeof buf), "[4]");
        got_free(&g);
    }
    /* Asked for text (as before version 11), the tree's column is its text. */
    struct shmlog_read *r = open_path(path, NULL);
    struct shmlog_read_arrow_options o = SHMLOG_READ_ARROW_OPTIONS_INIT;
    o.trees = 0;
    struct ArrowArrayStream s;
    struct ArrowSchema sc;
    char err[256];
    cr_assert_eq(shmlog_read_arrow(r, &o, &s, err, sizeof err), 0, "%s", err);
    shmlog_read_close(r);
    cr_assert_eq(s.get_schema(&s, &sc), 0);
    for (int64_t i = 0; i < sc.n_children; i++)
        cr_assert(sc.children[i]->format[0] != '+', "%s is %s", sc.children[i]->name, sc.children[i]->format);
    sc.release(&sc);
    s.release(&s);
    tu_rmtree(dir);
}

/* The buffers of batch's columns; their count. */
static size_t buffers_of(const struct ArrowArray *batch, const void **out, size_t cap)
{
    size_t n = 0;
    for (int64_t c = 0; c < batch->n_children; c++)
        for (int64_t i = 0; i < batch->children[c]->n_buffers; i++)
            if (batch->children[c]->buffers[i] && n < cap)
                out[n++] = batch->children[c]->buffers[i];
    return n;
}

/* A consumer that releases each batch before it asks for the next (a query, a Parquet writer) gets the next
 * batch's columns in the memory released batches gave back: reading batch by batch touches no fresh memory. */
Test(read_arrow, a_released_batch_gives_its_memory_to_the_next)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", corpus(), "v2-records/processes.shlog");
    struct shmlog_read_arrow_options o = SHMLOG_READ_ARROW_OPTIONS_INIT;
    o.batch_rows = 3;
    o.threads = 1;
    struct ArrowArrayStream s;
    struct ArrowSchema sc;
    char err[256];
    cr_assert_eq(shmlog_read_arrow(open_path(path, NULL), &o, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.get_schema(&s, &sc), 0, "%s", s.get_last_error(&s));
    cr_assert_str_eq(sc.children[0]->name, "ts");
    const void *released[4096];
    size_t nreleased = 0;
    int batches = 0;
    for (;; batches++) {
        struct ArrowArray a;
        cr_assert_eq(s.get_next(&s, &a), 0, "%s", s.get_last_error(&s));
        if (!a.release)
            break;
        /* The time column has a value in every row: its buffer is made for each batch. */
        const void *ts = a.children[0]->buffers[1];
        int reused = 0;
        for (size_t i = 0; i < nreleased && !reused; i++)
            reused = released[i] == ts;
        cr_assert(batches == 0 || reused, "batch %d: its times in memory no batch before gave back", batches);
        nreleased += buffers_of(&a, released + nreleased, sizeof released / sizeof released[0] - nreleased);
        a.release(&a);
    }
    cr_assert_gt(batches, 3);
    sc.release(&sc);
    s.release(&s);
}
