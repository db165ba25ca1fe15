/* read_filter.c - the record filters of libshmlog-read and shmlog-dump: process, time, level, category, thread, grep, where. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "read_filter.h"

void read_filter_init(struct read_filter *f)
{
    memset(f, 0, sizeof *f);
    f->min_level = -1;
    f->until_ns = UINT64_MAX;
}

int read_filter_grep_set(struct read_filter *f, const char *re, char *why, size_t whycap)
{
    if (!f->grep_msg && !(f->grep_msg = malloc(RENDER_LINE_MAX + 1)))
        return -ENOMEM;
    if (f->has_grep)
        regfree(&f->grep);
    f->has_grep = 0;
    int rc = regcomp(&f->grep, re, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        if (whycap)
            regerror(rc, &f->grep, why, whycap);
        return -EINVAL;
    }
    f->has_grep = 1;
    return 0;
}

void read_filter_free(struct read_filter *f)
{
    if (f->has_grep)
        regfree(&f->grep);
    f->has_grep = 0;
    free(f->grep_msg);
    f->grep_msg = NULL;
    for (size_t i = 0; i < f->nwhere; i++)
        free(f->where[i].name);
    free(f->where);
    f->where = NULL;
    f->nwhere = 0;
}

static int where_name_byte(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == '.';
}

int read_filter_where_add(struct read_filter *f, const char *expr, char *why, size_t whycap)
{
    static const struct { const char *s; enum read_where_op op; } ops[] = {
        {"!=", WHERE_NE}, {"<=", WHERE_LE}, {">=", WHERE_GE}, {"=", WHERE_EQ}, {"<", WHERE_LT}, {">", WHERE_GT}};
    size_t n = 0;
    while (where_name_byte(expr[n]))
        n++;
    size_t k = 0;
    while (k < sizeof ops / sizeof ops[0] && strncmp(expr + n, ops[k].s, strlen(ops[k].s)) != 0)
        k++;
    if (n == 0 || k == sizeof ops / sizeof ops[0]) {
        snprintf(why, whycap, "where '%s': not NAME=VALUE, NAME!=VALUE or NAME<, <=, >, >= a number "
                 "(NAME: letters, digits, '_' and '.')", expr);
        return -EINVAL;
    }
    const char *value = expr + n + strlen(ops[k].s);
    struct read_where w = {.op = ops[k].op, .name_len = n, .value_len = strlen(value)};
    char *end;
    errno = 0;
    w.x = *value ? strtold(value, &end) : 0;
    w.as_number = *value && !*end && !errno && w.x == w.x;
    if (w.op != WHERE_EQ && w.op != WHERE_NE && !w.as_number) {
        snprintf(why, whycap, "where '%s': '%s' is not a number, and %s compares numbers", expr, value, ops[k].s);
        return -EINVAL;
    }
    struct read_where *v = realloc(f->where, (f->nwhere + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    f->where = v;
    if (!(w.name = malloc(n + 1 + w.value_len + 1)))
        return -ENOMEM;
    memcpy(w.name, expr, n);
    w.name[n] = '\0';
    memcpy(w.name + n + 1, value, w.value_len + 1);
    w.value = w.name + n + 1;
    w.integer = shlog_index_integer_of(w.value);
    f->where[f->nwhere++] = w;
    return 0;
}

static int arg_signed(unsigned type)
{
    return type == SHMLOG_ARG_I8 || type == SHMLOG_ARG_I16 || type == SHMLOG_ARG_I32 || type == SHMLOG_ARG_I64;
}

/* Whether value a holds w: the same value for = (a string byte for byte,
 * an integer as the index reads the text, a float as strtold does), a
 * number's order for the others. */
static int where_holds(const struct read_where *w, const struct render_arg *a)
{
    int eq;
    long double x;
    switch (a->type) {
    case SHMLOG_ARG_STR:
        if (w->op != WHERE_EQ && w->op != WHERE_NE)
            return 0;
        eq = a->str_len == w->value_len && memcmp(a->v.s, w->value, w->value_len) == 0;
        return w->op == WHERE_EQ ? eq : !eq;
    case SHMLOG_ARG_F32:
    case SHMLOG_ARG_F64:
        if (a->v.f != a->v.f) /* NaN holds no term */
            return 0;
        x = a->v.f;
        eq = w->as_number && x == w->x;
        break;
    default:
        if (arg_signed(a->type)) {
            x = (long double)a->v.i;
            eq = w->integer.as_signed && a->v.i == w->integer.i;
        } else {
            x = (long double)a->v.u;
            eq = w->integer.as_unsigned && a->v.u == w->integer.u;
        }
        break;
    }
    switch (w->op) {
    case WHERE_EQ: return eq;
    case WHERE_NE: return !eq;
    case WHERE_LT: return x < w->x;
    case WHERE_LE: return x <= w->x;
    case WHERE_GT: return x > w->x;
    default: return x >= w->x;
    }
}

int read_filter_where(const struct read_filter *f, const struct render_site *sr, const struct shm_copied_record *rec)
{
    if (!f->nwhere)
        return 1;
    struct render_arg args[SHMLOG_MAX_ARGS];
    struct render_field_info info[SHMLOG_MAX_ARGS];
    int nargs = render_prepared_args(sr, rec, NULL, args);
    if (nargs <= 0)
        return 0; /* an unknown site, or a payload that does not match it: no fields */
    int nfields = render_site_fields(sr, info);
    for (size_t t = 0; t < f->nwhere; t++) {
        const struct read_where *w = &f->where[t];
        int held = 0;
        for (int i = 0; i < nfields && !held; i++) {
            if (info[i].name_len != w->name_len || memcmp(info[i].name, w->name, w->name_len) != 0 ||
                info[i].arg >= nargs)
                continue;
            if (info[i].present && (info[i].present > nargs || !args[info[i].present - 1].v.u))
                continue; /* an empty optional: null */
            /* The argument as logged, also where the message cuts a string. */
            held = where_holds(w, &args[info[i].arg]);
        }
        if (!held)
            return 0;
    }
    return 1;
}

int read_filter_process(const struct read_filter *f, const char *app, uint32_t pid)
{
    return (!f->pid || f->pid == pid) && (!f->app || strcmp(f->app, app ? app : "") == 0);
}

int read_filter_host(const struct read_filter *f, const char *host)
{
    return !f->host || strcmp(f->host, host ? host : "") == 0;
}

int read_filter_thread(const struct read_filter *f, uint32_t tid, const char *name)
{
    if (!f->thread || (name && strcmp(name, f->thread) == 0))
        return 1;
    char *end;
    errno = 0;
    unsigned long v = strtoul(f->thread, &end, 10);
    return f->thread[0] >= '0' && f->thread[0] <= '9' && !*end && !errno && v == tid;
}

int read_trace_id_parse(const char *s, uint64_t *hi, uint64_t *lo)
{
    size_t n = strlen(s);
    uint64_t h = 0, l = 0;
    if (n == 0 || n > 32)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16u;
        if (d > 15)
            return -EINVAL;
        h = h << 4 | l >> 60;
        l = l << 4 | d;
    }
    if (!h && !l)
        return -EINVAL;
    *hi = h;
    *lo = l;
    return 0;
}

int read_filter_grep(const struct read_filter *f, const struct render_site *sr, const struct shm_copied_record *rec)
{
    if (!f->has_grep)
        return 1;
    /* The longest message fits with room; a cut one is matched as far as it goes. */
    struct render_buf b;
    render_buf_init(&b, f->grep_msg, RENDER_LINE_MAX);
    render_prepared_msg(sr, rec, &b);
    f->grep_msg[b.len] = '\0';
    return regexec(&f->grep, f->grep_msg, 0, NULL, 0) == 0;
}
