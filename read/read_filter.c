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

/* ==== The words a --grep match shows whole ==== */

enum grep_atom_kind { ATOM_OTHER, ATOM_LITERAL, ATOM_START };
struct grep_atom {
    uint8_t kind, byte;
};

/* After the bracket expression that starts at re[i] ('['), or n. */
static size_t bracket_end(const char *re, size_t n, size_t i)
{
    i++;
    if (i < n && re[i] == '^')
        i++;
    if (i < n && re[i] == ']')
        i++; /* a ']' first is one of the set */
    while (i < n && re[i] != ']') {
        if (re[i] == '[' && i + 1 < n && strchr(":.=", re[i + 1])) { /* [:class:] [.coll.] [=equiv=] */
            size_t k = i + 2;
            while (k + 1 < n && !(re[k] == re[i + 1] && re[k + 1] == ']'))
                k++;
            if (k + 1 >= n)
                return n;
            i = k + 2;
            continue;
        }
        i++;
    }
    return i < n ? i + 1 : n;
}

/* After the group that starts at re[i] ('('), or n. */
static size_t group_end(const char *re, size_t n, size_t i)
{
    int depth = 0;
    while (i < n) {
        if (re[i] == '\\') {
            i = i + 2 < n ? i + 2 : n;
            continue;
        }
        if (re[i] == '[') {
            i = bracket_end(re, n, i);
            continue;
        }
        if (re[i] == '(')
            depth++;
        else if (re[i] == ')' && --depth == 0)
            return i + 1;
        i++;
    }
    return n;
}

/* re as atoms, each one byte it matches for certain (a literal), the start
 * of the message, or anything else; SIZE_MAX when it holds an alternation
 * outside a group. Every quantifier also stands for an atom of its own,
 * in case it is taken literally. */
static size_t grep_atoms(const char *re, size_t n, struct grep_atom *a)
{
    static const struct grep_atom other = {ATOM_OTHER, 0};
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint8_t c = (uint8_t)re[i];
        switch (c) {
        case '|':
            return SIZE_MAX;
        case '^':
            a[k++] = (struct grep_atom){ATOM_START, 0};
            i++;
            break;
        case '[':
            a[k++] = other;
            i = bracket_end(re, n, i);
            break;
        case '(':
            a[k++] = other;
            i = group_end(re, n, i);
            break;
        case '*': case '+': case '?': case '{': {
            if (k)
                a[k - 1] = other; /* repeated or optional */
            a[k++] = other;
            const char *close = c == '{' ? memchr(re + i, '}', n - i) : NULL;
            i = c != '{' ? i + 1 : close ? (size_t)(close - re) + 1 : n;
            break;
        }
        case '\\':
            /* an escaped letter or digit is a class, a boundary or a back-reference, and so
             * are GNU's \< \> \` \' */
            if (i + 1 < n && !shlog_index_word_byte((uint8_t)re[i + 1]) && !strchr("<>`'", re[i + 1]))
                a[k++] = (struct grep_atom){ATOM_LITERAL, (uint8_t)re[i + 1]};
            else
                a[k++] = other;
            i += 2;
            break;
        case '.': case '$': /* the message may be cut at the renderer's bound: its end bounds no word */
            a[k++] = other;
            i++;
            break;
        default:
            a[k++] = (struct grep_atom){ATOM_LITERAL, c};
            i++;
        }
    }
    return k;
}

/* A byte of a run grep_runs takes: a word's, and for grams an ASCII one (a
 * quantifier after a multibyte character repeats all its bytes, not its last). */
static int run_byte(const struct grep_atom *a, int whole)
{
    return a->kind == ATOM_LITERAL && shlog_index_word_byte(a->byte) && (whole || a->byte < 0x80);
}

/* The runs of literal word bytes of re every match shows: whole words
 * (read_grep_words) or parts of words (read_grep_grams). */
static size_t grep_runs(const char *re, char **runs, char *text, int whole)
{
    size_t n = strlen(re), nruns = 0;
    struct grep_atom *a = malloc((n + 1) * sizeof *a);
    size_t k = a ? grep_atoms(re, n, a) : SIZE_MAX;
    for (size_t i = 0; k != SIZE_MAX && i < k;) {
        if (!run_byte(&a[i], whole)) {
            i++;
            continue;
        }
        size_t from = i;
        while (i < k && run_byte(&a[i], whole))
            i++;
        int left = from > 0 && (a[from - 1].kind == ATOM_START ||
                                (a[from - 1].kind == ATOM_LITERAL && !shlog_index_word_byte(a[from - 1].byte)));
        int right = i < k && a[i].kind == ATOM_LITERAL && !shlog_index_word_byte(a[i].byte);
        if (whole && (!left || !right))
            continue;
        for (size_t j = from; j < i; j++)
            text[j - from] = (char)a[j].byte;
        text[i - from] = '\0';
        if (whole ? shlog_index_msg_word(text, i - from) : shlog_index_msg_gram(text, i - from)) {
            runs[nruns++] = text;
            text += i - from + 1;
        }
    }
    free(a);
    return nruns;
}

size_t read_grep_words(const char *re, char **words, char *text)
{
    return grep_runs(re, words, text, 1);
}

size_t read_grep_grams(const char *re, char **runs, char *text)
{
    return grep_runs(re, runs, text, 0);
}

int read_filter_grep_set(struct read_filter *f, const char *re, char *why, size_t whycap)
{
    if (!f->grep_msg && !(f->grep_msg = malloc(RENDER_LINE_MAX + 1)))
        return -ENOMEM;
    size_t n = strlen(re);
    char **words = malloc((n / 2 + 1) * sizeof *words + 2 * n + 2);
    if (!words)
        return -ENOMEM;
    free(f->grep_words);
    f->grep_words = words;
    f->ngrep_words = read_grep_words(re, words, (char *)(words + n / 2 + 1));
    char **grams = malloc((n / 2 + 1) * sizeof *grams + n + 1);
    if (!grams)
        return -ENOMEM;
    free(f->grep_grams);
    f->grep_grams = grams;
    f->ngrep_grams = read_grep_grams(re, grams, (char *)(grams + n / 2 + 1));
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
    free(f->grep_words);
    f->grep_words = NULL;
    f->ngrep_words = 0;
    free(f->grep_grams);
    f->grep_grams = NULL;
    f->ngrep_grams = 0;
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
            const struct render_arg *a = &args[info[i].arg];
            if (info[i].type == SHMLOG_ARG_STR && a->type != SHMLOG_ARG_STR) {
                /* An integer the message shows as text (a %c's character, an enum's name) holds a term
                 * as that text or as its number: tif=D and tif=68 find the same records. */
                struct render_field_room room;
                struct read_where as_eq = *w;
                as_eq.op = WHERE_EQ;
                int eq = where_holds(&as_eq, a) || where_holds(&as_eq, render_field_value(sr, args, i, &room));
                held = w->op == WHERE_EQ ? eq : w->op == WHERE_NE ? !eq : where_holds(w, a);
            } else
                held = where_holds(w, a);
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

/* ==== From libshmlog-read's options ==== */

static int refuse(char *err, size_t errcap, int rc, const char *fmt, const char *what)
{
    if (errcap)
        snprintf(err, errcap, fmt, what);
    return rc;
}

int read_filter_set_options(struct read_filter *f, struct read_filter_names *names,
                            const struct shmlog_read_options *o, char *err, size_t errcap)
{
    read_filter_init(f);
    f->min_level = o->min_level < 0 ? -1 : o->min_level;
    if (o->app) {
        snprintf(names->app, sizeof names->app, "%s", o->app);
        f->app = names->app;
    }
    if (o->host) {
        snprintf(names->host, sizeof names->host, "%s", o->host);
        f->host = names->host;
    }
    f->pid = o->pid;
    if (o->thread) {
        if (!*o->thread || strlen(o->thread) > SHMLOG_THREAD_NAME_BYTES)
            return refuse(err, errcap, -EINVAL, "%s", "thread is a thread's name of 1 to 32 bytes, or its tid");
        snprintf(names->thread, sizeof names->thread, "%s", o->thread);
        f->thread = names->thread;
    }
    if (o->trace) {
        if (read_trace_id_parse(o->trace, &f->trace_hi, &f->trace_lo) != 0)
            return refuse(err, errcap, -EINVAL, "%s", "trace is a trace id of 1 to 32 hex digits, not 0");
        f->trace = 1;
    }
    f->since_ns = o->since_ns;
    f->until_ns = o->until_ns ? o->until_ns : UINT64_MAX;
    f->limit = o->limit;
    if (o->category && shm_category_spelled(o->category, f->category) != 0)
        return refuse(err, errcap, -EINVAL,
                    "category '%s' cannot be a category's name: none, trade, order, md (market_data), risk, "
                    "portfolio or a program's own (a-z, 0-9, _)", o->category);
    for (size_t i = 0; i < o->nwhere; i++) {
        char why[512];
        int rc = o->where[i] ? read_filter_where_add(f, o->where[i], why, sizeof why) : -EINVAL;
        if (rc == -ENOMEM)
            return refuse(err, errcap, rc, "%s", "out of memory");
        if (rc != 0)
            return refuse(err, errcap, rc, "%s", o->where[i] ? why : "where: a NULL term");
    }
    if (o->grep) {
        char why[128];
        int rc = read_filter_grep_set(f, o->grep, why, sizeof why);
        if (rc == -ENOMEM)
            return refuse(err, errcap, rc, "%s", "out of memory");
        if (rc != 0) {
            if (errcap)
                snprintf(err, errcap, "grep: bad regular expression '%s': %s", o->grep, why);
            return rc;
        }
    }
    return 0;
}
