/* Description: libshmlog-read, used as a program uses it (its installed header and the shared library only): every corpus file reads to exactly the lines checked in beside it; typed fields, losses and exits carry what the lines show; each filter gives exactly the events it selects; readers interleaved on one thread and running on four threads agree; bad paths, options and damaged files give one clear error and lose nothing before the damage; and the files of a live collector hold exactly the records a producer wrote, also through a merge bounded to one byte. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "shmlog_read.h"
#include "test_util_file.h"

#define MAX_TEXT (8u << 20)

static const char *corpus(void)
{
    return tu_exe("CORPUS");
}

/* Every line the reader gives for path (errors as "error: ..."), appended to out. */
static size_t read_lines(const char *path, const struct shmlog_read_options *o, int json, char *out, size_t cap)
{
    struct shmlog_read *r;
    char err[512];
    const char *paths[] = {path};
    int rc = shmlog_read_open(&r, paths, 1, o, err, sizeof err);
    cr_assert_eq(rc, 0, "open %s: %s", path, err);
    const struct shmlog_read_event *ev;
    size_t len = 0;
    while ((rc = shmlog_read_next(r, &ev)) > 0) {
        size_t n;
        const char *line = shmlog_read_line(r, json, &n);
        if (ev->kind == SHMLOG_READ_ERROR) {
            cr_assert_null(line);
            n = (size_t)snprintf(out + len, cap - len, "error: %s\n", ev->error);
        } else {
            cr_assert_not_null(line);
            cr_assert_lt(len + n, cap);
            memcpy(out + len, line, n);
        }
        len += n;
    }
    cr_assert_eq(rc, 0);
    shmlog_read_close(r);
    out[len] = '\0';
    return len;
}

/* The same through shmlog_read_lines(), many lines per call, errors between them. */
static void read_many_lines(const char *path, int json, char *out, size_t cap)
{
    struct shmlog_read *r;
    char err[512];
    const char *paths[] = {path};
    cr_assert_eq(shmlog_read_open(&r, paths, 1, NULL, err, sizeof err), 0, "open %s: %s", path, err);
    size_t len = 0, n;
    cr_assert_eq(shmlog_read_lines(r, json, out, 1000, &n), -EINVAL, "a buffer shorter than the longest line");
    for (;;) {
        cr_assert_lt(len + (512u << 10) + 1, cap);
        long lines = shmlog_read_lines(r, json, out + len, cap - len, &n);
        cr_assert_geq(lines, 0);
        cr_assert_eq(strlen(out + len), n);
        len += n;
        if (lines > 0)
            continue;
        const struct shmlog_read_event *ev;
        if (shmlog_read_next(r, &ev) <= 0)
            break;
        cr_assert_eq(ev->kind, SHMLOG_READ_ERROR, "lines() stopped before a %u", ev->kind);
        len += (size_t)snprintf(out + len, cap - len, "error: %s\n", ev->error);
    }
    shmlog_read_close(r);
    out[len] = '\0';
}

static char *slurp(const char *path)
{
    char *buf = malloc(MAX_TEXT);
    ssize_t n = tu_read_file(path, buf, MAX_TEXT - 1);
    cr_assert_geq(n, 0, "%s: %s", path, strerror(errno));
    buf[n] = '\0';
    return buf;
}

Test(read_lib, corpus_reads_to_the_checked_in_lines)
{
    static const char *const versions[] = {"v2", "v2-exit-how", "v2-clock", "v2-categories"};
    static const char *const inputs[] = {"processes.shlog", "losses.shlog", "rotation", "backtrace.shlog"};
    char *got = malloc(MAX_TEXT);
    int compared = 0;
    for (size_t v = 0; v < 4; v++)
        for (size_t i = 0; i < 4; i++) {
            char in[1024], want_path[1024];
            snprintf(in, sizeof in, "%s/%s/%s", corpus(), versions[v], inputs[i]);
            struct stat st;
            if (stat(in, &st) != 0)
                continue; /* backtrace.shlog: v2-categories only */
            for (int json = 0; json <= 1; json++) {
                const char *base = strcmp(inputs[i], "rotation") == 0 ? "rotation" : inputs[i];
                snprintf(want_path, sizeof want_path, "%s/%s/%.*s.read.%s", corpus(), versions[v],
                         (int)(strchr(base, '.') ? strchr(base, '.') - base : (long)strlen(base)), base,
                         json ? "json" : "txt");
                char *want = slurp(want_path);
                read_lines(in, NULL, json, got, MAX_TEXT);
                cr_assert_str_eq(got, want, "%s (%s) differs from %s", in, json ? "json" : "text", want_path);
                read_many_lines(in, json, got, MAX_TEXT);
                cr_assert_str_eq(got, want, "%s (%s, many per call) differs from %s", in, json ? "json" : "text",
                                 want_path);
                free(want);
                compared++;
            }
        }
    cr_assert_eq(compared, 2 * (4 * 3 + 1));
    free(got);
}

/* The reader of one file of the newest corpus. */
static struct shmlog_read *open_one(const char *name, const struct shmlog_read_options *o)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/v2-categories/%s", corpus(), name);
    const char *paths[] = {path};
    struct shmlog_read *r;
    char err[512];
    cr_assert_eq(shmlog_read_open(&r, paths, 1, o, err, sizeof err), 0, "%s", err);
    return r;
}

Test(read_lib, fields_carry_their_types_and_values)
{
    struct shmlog_read *r = open_one("processes.shlog", NULL);
    const struct shmlog_read_event *ev;
    int found = 0, records = 0;
    while (shmlog_read_next(r, &ev) > 0) {
        if (ev->kind != SHMLOG_READ_RECORD)
            continue;
        records++;
        size_t len;
        const char *msg = shmlog_read_message(r, &len);
        if (!msg || strncmp(msg, "all b=", 6) != 0 || found++)
            continue; /* the first of them: its values are the types' extremes */
        cr_assert_eq(strlen(msg), len);
        const struct shmlog_read_field *f;
        int n = shmlog_read_fields(r, &f);
        cr_assert_eq(n, 13, "%d fields", n);
        static const struct {
            const char *name;
            uint32_t type;
        } want[] = {{"b", SHMLOG_READ_BOOL}, {"i8", SHMLOG_READ_INT},    {"u8", SHMLOG_READ_UINT},
                    {"i16", SHMLOG_READ_INT}, {"u16", SHMLOG_READ_UINT},  {"i32", SHMLOG_READ_INT},
                    {"u32", SHMLOG_READ_UINT}, {"i64", SHMLOG_READ_INT},  {"u64", SHMLOG_READ_UINT},
                    {"f32", SHMLOG_READ_FLOAT32}, {"f64", SHMLOG_READ_FLOAT}, {"ptr", SHMLOG_READ_PTR},
                    {"s", SHMLOG_READ_STR}};
        for (int i = 0; i < n; i++) {
            cr_assert_str_eq(f[i].name, want[i].name);
            cr_assert_eq(f[i].type, want[i].type, "%s: type %u", f[i].name, f[i].type);
        }
        cr_assert_eq(f[0].v.u, 0);
        cr_assert_eq(f[1].v.i, -1);
        cr_assert_eq(f[2].v.u, 200);
        cr_assert_eq(f[3].v.i, -30000);
        cr_assert_eq(f[4].v.u, 65000);
        cr_assert_eq(f[5].v.i, -2000000000);
        cr_assert_eq(f[6].v.u, 4000000000u);
        cr_assert_eq(f[7].v.i, INT64_MIN);
        cr_assert_eq(f[8].v.u, UINT64_MAX);
        cr_assert_eq(f[9].v.f, 3.5);
        cr_assert_eq(f[10].v.f, 101.25);
        cr_assert_eq(f[11].v.u, 0x7ffd12345000u);
        cr_assert_eq(f[12].str_len, 5);
        cr_assert_str_eq(f[12].v.s, "plain");
        cr_assert_str_eq(ev->app, "gateway");
        cr_assert_str_eq(ev->host, "corpus-host");
        cr_assert_eq(ev->pid, 1001);
        cr_assert_eq(ev->tid, 501);
        cr_assert_str_eq(ev->level_name, "INFO");
        cr_assert_str_eq(ev->category, "none");
        cr_assert_not_null(ev->site);
        cr_assert_str_eq(ev->site->file, "src/corpus/site1.c");
        cr_assert_eq(ev->site->line, 101);
        cr_assert_eq(ev->site->nargs, 13);
        cr_assert_eq(ev->site_id, ev->site->id);
    }
    cr_assert_geq(found, 1);
    cr_assert_gt(records, 40);
    shmlog_read_close(r);
}

/* Losses and exits: what the struct says is what the line shows. */
Test(read_lib, losses_and_exits_match_their_lines)
{
    struct shmlog_read *r = open_one("losses.shlog", NULL);
    const struct shmlog_read_event *ev;
    int losses = 0, exits = 0, before_init = 0;
    while (shmlog_read_next(r, &ev) > 0) {
        char want[512];
        if (ev->kind == SHMLOG_READ_LOSS) {
            snprintf(want, sizeof want,
                     "\"loss\":{\"reason\":\"%s\",\"records\":%" PRIu64 ",\"positions\":%" PRIu64
                     ",\"first_seq\":%" PRIu64 "}",
                     ev->loss_reason, ev->loss_records, ev->loss_positions, ev->loss_first_seq);
            losses++;
            before_init += strcmp(ev->loss_reason, "before_init") == 0;
        } else if (ev->kind == SHMLOG_READ_EXIT) {
            snprintf(want, sizeof want, "\"exit\":{\"records\":%" PRIu64 ",\"lost\":%" PRIu64 "%s%s%s}",
                     ev->exit_records, ev->exit_lost, *ev->exit_how ? ",\"how\":\"" : "", ev->exit_how,
                     *ev->exit_how ? "\"" : "");
            exits++;
        } else {
            continue;
        }
        const char *line = shmlog_read_line(r, 1, NULL);
        cr_assert(strstr(line, want), "%s\nwants %s", line, want);
        char pid[32];
        snprintf(pid, sizeof pid, "\"pid\":%u,", ev->pid);
        cr_assert(strstr(line, pid), "%s", line);
    }
    cr_assert_geq(losses, 5, "%d losses", losses);
    cr_assert_eq(before_init, 1);
    cr_assert_geq(exits, 1);
    shmlog_read_close(r);
}

/* ==== Filters ==== */

struct ident {
    uint64_t ts, seq;
    uint32_t pid, kind;
};

struct idents {
    struct ident v[4096];
    size_t n;
};

/* Every event of the reader; the records' levels, categories and messages kept beside. */
static void collect(struct shmlog_read *r, struct idents *out, int levels[4096], char cats[4096][32],
                    char msgs[4096][256])
{
    const struct shmlog_read_event *ev;
    out->n = 0;
    while (shmlog_read_next(r, &ev) > 0) {
        cr_assert_lt(out->n, 4096);
        if (ev->kind == SHMLOG_READ_ERROR)
            continue;
        out->v[out->n] = (struct ident){ev->ts_ns, ev->seq, ev->pid, ev->kind};
        if (levels)
            levels[out->n] = ev->kind == SHMLOG_READ_RECORD ? (int)ev->level : -1;
        if (cats)
            snprintf(cats[out->n], 32, "%s", ev->kind == SHMLOG_READ_RECORD ? ev->category : "");
        if (msgs) {
            const char *m = ev->kind == SHMLOG_READ_RECORD ? shmlog_read_message(r, NULL) : NULL;
            snprintf(msgs[out->n], 256, "%s", m ? m : "");
        }
        out->n++;
    }
    shmlog_read_close(r);
}

static int same_ident(const struct ident *a, const struct ident *b)
{
    return a->ts == b->ts && a->seq == b->seq && a->pid == b->pid && a->kind == b->kind;
}

/* Events of one time from different rings may come in either order. */
static int ident_cmp(const void *x, const void *y)
{
    const struct ident *a = x, *b = y;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    if (a->pid != b->pid)
        return a->pid < b->pid ? -1 : 1;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

Test(read_lib, each_filter_selects_exactly_its_events)
{
    static struct idents all, got;
    static int levels[4096];
    static char cats[4096][32], msgs[4096][256];
    collect(open_one("processes.shlog", NULL), &all, levels, cats, msgs);
    cr_assert_gt(all.n, 50);
    uint64_t mid_ts = all.v[all.n / 2].ts, late_ts = all.v[all.n * 3 / 4].ts;
    uint32_t some_pid = all.v[0].pid;

    for (int which = 0; which < 5; which++) {
        struct shmlog_read_options o = SHMLOG_READ_OPTIONS_INIT;
        const char *what = "";
        switch (which) {
        case 0: o.min_level = 3; what = "min_level WARN"; break;
        case 1: o.category = "MD"; what = "category MD"; break;
        case 2: o.pid = some_pid; what = "pid"; break;
        case 3: o.since_ns = mid_ts; o.until_ns = late_ts; what = "since/until"; break;
        case 4: o.grep = "sym=(ES|CL)"; what = "grep"; break;
        }
        collect(open_one("processes.shlog", &o), &got, NULL, NULL, NULL);
        regex_t re;
        cr_assert_eq(regcomp(&re, "sym=(ES|CL)", REG_EXTENDED | REG_NOSUB), 0);
        static struct idents want;
        want.n = 0;
        for (size_t i = 0; i < all.n; i++) {
            const struct ident *e = &all.v[i];
            int rec = e->kind == SHMLOG_READ_RECORD, pass = 1;
            switch (which) {
            case 0: pass = !rec || levels[i] >= 3; break;
            case 1: pass = !rec || strcmp(cats[i], "market_data") == 0; break;
            case 2: pass = e->pid == some_pid; break;
            case 3: pass = e->ts >= mid_ts && e->ts < late_ts; break;
            case 4: pass = !rec || regexec(&re, msgs[i], 0, NULL, 0) == 0; break;
            }
            if (pass)
                want.v[want.n++] = *e;
        }
        regfree(&re);
        cr_assert_eq(want.n, got.n, "%s: %zu events, %zu wanted", what, got.n, want.n);
        qsort(want.v, want.n, sizeof want.v[0], ident_cmp);
        qsort(got.v, got.n, sizeof got.v[0], ident_cmp);
        for (size_t i = 0; i < got.n; i++)
            cr_assert(same_ident(&got.v[i], &want.v[i]), "%s: event %zu differs", what, i);
        cr_assert_lt(got.n, all.n, "%s selected everything", what);
        cr_assert_gt(got.n, 0, "%s selected nothing", what);
    }

    /* limit: everything up to the 7th record, and nothing after it. */
    struct shmlog_read_options o = SHMLOG_READ_OPTIONS_INIT;
    o.limit = 7;
    collect(open_one("processes.shlog", &o), &got, NULL, NULL, NULL);
    size_t records = 0, end = 0;
    while (records < 7) {
        cr_assert_lt(end, all.n);
        records += all.v[end++].kind == SHMLOG_READ_RECORD;
    }
    cr_assert_eq(got.n, end, "limit 7: %zu events, %zu wanted", got.n, end);
    size_t got_records = 0;
    for (size_t i = 0; i < got.n; i++) {
        got_records += got.v[i].kind == SHMLOG_READ_RECORD;
        cr_assert_leq(got.v[i].ts, all.v[end - 1].ts, "limit: event %zu after the 7th record", i);
    }
    cr_assert_eq(got_records, 7);
}

/* ==== Readers at once ==== */

Test(read_lib, readers_interleaved_on_one_thread_agree)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/v2-categories/rotation", corpus());
    char *want = malloc(MAX_TEXT);
    size_t want_len = read_lines(path, NULL, 1, want, MAX_TEXT);
    const char *paths[] = {path};
    struct shmlog_read *a, *b;
    char err[256];
    cr_assert_eq(shmlog_read_open(&a, paths, 1, NULL, err, sizeof err), 0);
    cr_assert_eq(shmlog_read_open(&b, paths, 1, NULL, err, sizeof err), 0);
    char *got_a = malloc(MAX_TEXT), *got_b = malloc(MAX_TEXT);
    size_t la = 0, lb = 0;
    const struct shmlog_read_event *ea, *eb;
    for (;;) {
        int ra = shmlog_read_next(a, &ea);
        int rb = shmlog_read_next(b, &eb);
        cr_assert_eq(ra, rb);
        if (ra <= 0)
            break;
        size_t n;
        const char *l = shmlog_read_line(a, 1, &n);
        memcpy(got_a + la, l, n);
        la += n;
        l = shmlog_read_line(b, 1, &n);
        memcpy(got_b + lb, l, n);
        lb += n;
    }
    shmlog_read_close(a);
    shmlog_read_close(b);
    cr_assert_eq(la, want_len);
    cr_assert_eq(lb, want_len);
    cr_assert_eq(memcmp(got_a, want, want_len), 0);
    cr_assert_eq(memcmp(got_b, want, want_len), 0);
    free(want);
    free(got_a);
    free(got_b);
}

struct thread_read {
    const char *path;
    char *out;
    size_t len;
};

static void *read_in_thread(void *arg)
{
    struct thread_read *t = arg;
    for (int round = 0; round < 5; round++)
        t->len = read_lines(t->path, NULL, round & 1, t->out, MAX_TEXT);
    return NULL;
}

Test(read_lib, readers_on_four_threads_agree)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/v2-categories/rotation", corpus());
    char *want = malloc(MAX_TEXT);
    size_t want_len = read_lines(path, NULL, 0, want, MAX_TEXT);
    pthread_t th[4];
    struct thread_read t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (struct thread_read){path, malloc(MAX_TEXT), 0};
        cr_assert_eq(pthread_create(&th[i], NULL, read_in_thread, &t[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(t[i].len, want_len);
        cr_assert_eq(memcmp(t[i].out, want, want_len), 0, "thread %d read something else", i);
        free(t[i].out);
    }
    free(want);
}

/* ==== Bad input ==== */

Test(read_lib, bad_paths_and_options_are_refused_with_the_reason)
{
    struct shmlog_read *r = (struct shmlog_read *)1;
    char err[512];
    const char *missing[] = {"/nonexistent/shmlog-out"};
    cr_assert_eq(shmlog_read_open(&r, missing, 1, NULL, err, sizeof err), -ENOENT);
    cr_assert_null(r);
    cr_assert(strstr(err, "/nonexistent/shmlog-out") && strstr(err, "No such file"), "%s", err);

    char path[1024];
    snprintf(path, sizeof path, "%s/v2-categories/processes.shlog", corpus());
    const char *paths[] = {path};
    cr_assert_eq(shmlog_read_open(&r, paths, 0, NULL, err, sizeof err), -EINVAL);
    struct shmlog_read_options o = SHMLOG_READ_OPTIONS_INIT;
    o.category = "Not a name!";
    cr_assert_eq(shmlog_read_open(&r, paths, 1, &o, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "Not a name!") && strstr(err, "md (market_data)"), "%s", err);
    o = (struct shmlog_read_options)SHMLOG_READ_OPTIONS_INIT;
    o.grep = "(";
    cr_assert_eq(shmlog_read_open(&r, paths, 1, &o, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "grep"), "%s", err);
    o = (struct shmlog_read_options)SHMLOG_READ_OPTIONS_INIT;
    o.min_level = 6;
    cr_assert_eq(shmlog_read_open(&r, paths, 1, &o, err, sizeof err), -EINVAL);
    memset(&o, 0, sizeof o);
    cr_assert_eq(shmlog_read_open(&r, paths, 1, &o, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "SHMLOG_READ_OPTIONS_INIT"), "%s", err);
    cr_assert_eq(shmlog_read_version(), SHMLOG_READ_VERSION);
}

Test(read_lib, a_damaged_file_gives_errors_and_every_record_before_the_damage)
{
    char dir[256], src[1024], cut[600], junk[600];
    tu_tmpdir(dir, sizeof dir, "readlib");
    snprintf(src, sizeof src, "%s/v2-categories/processes.shlog", corpus());
    char *data = malloc(MAX_TEXT);
    ssize_t n = tu_read_file(src, data, MAX_TEXT);
    cr_assert_gt(n, 400);
    /* The file cut in the middle of its last frame. */
    snprintf(cut, sizeof cut, "%s/cut.shlog", dir);
    FILE *f = fopen(cut, "w");
    fwrite(data, 1, (size_t)n - 40, f);
    fclose(f);
    snprintf(junk, sizeof junk, "%s/junk.shlog", dir);
    f = fopen(junk, "w");
    fputs("this is not a shmlog file, but it is long enough to hold a header of one..........................."
          "......................................................", f);
    fclose(f);

    static struct idents whole, got;
    collect(open_one("processes.shlog", NULL), &whole, NULL, NULL, NULL);
    const char *paths[] = {cut};
    struct shmlog_read *r;
    char err[512];
    cr_assert_eq(shmlog_read_open(&r, paths, 1, NULL, err, sizeof err), 0, "%s", err);
    const struct shmlog_read_event *ev;
    int errors = 0;
    got.n = 0;
    while (shmlog_read_next(r, &ev) > 0) {
        if (ev->kind == SHMLOG_READ_ERROR) {
            errors++;
            cr_assert(strstr(ev->error, "cut.shlog") || strstr(ev->error, "frame"), "%s", ev->error);
            continue;
        }
        got.v[got.n++] = (struct ident){ev->ts_ns, ev->seq, ev->pid, ev->kind};
    }
    cr_assert_geq(errors, 1);
    cr_assert_eq(shmlog_read_had_errors(r), 1);
    shmlog_read_close(r);
    /* What the whole frames before the cut hold comes out, as in the whole file. */
    cr_assert_gt(got.n, 0);
    for (size_t i = 0; i < got.n; i++) {
        int found = 0;
        for (size_t j = 0; j < whole.n && !found; j++)
            found = same_ident(&got.v[i], &whole.v[j]);
        cr_assert(found, "event %zu is not in the whole file", i);
    }

    paths[0] = junk;
    cr_assert_eq(shmlog_read_open(&r, paths, 1, NULL, err, sizeof err), 0, "%s", err);
    errors = 0;
    while (shmlog_read_next(r, &ev) > 0) {
        cr_assert_eq(ev->kind, SHMLOG_READ_ERROR);
        cr_assert(strstr(ev->error, "junk.shlog"), "%s", ev->error);
        errors++;
    }
    cr_assert_eq(errors, 1);
    cr_assert_eq(shmlog_read_had_errors(r), 1);
    shmlog_read_close(r);
    free(data);
    tu_rmtree(dir);
}

/* ==== Live: the files of a real collector ==== */

static struct tu_env env;
static void live_setup(void) { tu_env_setup(&env, "readlib-live"); }
static void live_teardown(void)
{
    tu_kill_children();
    tu_rmtree(env.root);
}

enum { LIVE_THREADS = 3, LIVE_RECORDS = 20000, MAX_RINGS = 256 };

/* The live collector's files (paths) as producer pid wrote them: every record once, with its fields and message,
 * in its ring's order, and one exit. time_ordered: a merge within its bound, which also puts every record in time
 * order, but for one its own ring handed on after a newer one (past the bound, order is best effort). */
static void read_live_files(const char *const *paths, const struct shmlog_read_options *o, pid_t pid, int time_ordered)
{
    struct shmlog_read *r;
    char err[512];
    cr_assert_eq(shmlog_read_open(&r, paths, 1, o, err, sizeof err), 0, "%s", err);
    static unsigned char seen[LIVE_THREADS][LIVE_RECORDS];
    memset(seen, 0, sizeof seen);
    const struct shmlog_read_event *ev;
    uint64_t last_ts = 0, n = 0, ring_max_ts[MAX_RINGS + 1] = {0}, ring_seq[MAX_RINGS + 1] = {0};
    unsigned char ring_seen[MAX_RINGS + 1] = {0};
    int exits = 0;
    while (shmlog_read_next(r, &ev) > 0) {
        cr_assert_neq(ev->kind, SHMLOG_READ_ERROR, "%s", ev->error);
        cr_assert_neq(ev->kind, SHMLOG_READ_LOSS, "a loss: %s", ev->loss_reason);
        cr_assert_str_eq(ev->app, "readlib");
        cr_assert_eq(ev->pid, (uint32_t)pid);
        /* Time order, and ring order within a ring (read_merge.c): a record
         * older than one handed on before it is only one whose own ring
         * handed on a newer one before it (its writer was preempted between
         * taking its time and its slot). */
        uint32_t ring = ev->cpu < MAX_RINGS ? ev->cpu : MAX_RINGS;
        if (ev->kind == SHMLOG_READ_RECORD) {
            cr_assert_lt(ev->cpu, MAX_RINGS);
            cr_assert(!ring_seen[ring] || ev->seq > ring_seq[ring], "cpu %u: position %" PRIu64 " after %" PRIu64,
                      ev->cpu, ev->seq, ring_seq[ring]);
            ring_seq[ring] = ev->seq;
            ring_seen[ring] = 1;
        }
        cr_assert(!time_ordered || ev->ts_ns >= last_ts || ev->ts_ns < ring_max_ts[ring],
                  "out of time order: %" PRIu64 " after %" PRIu64 ", its ring's newest so far %" PRIu64, ev->ts_ns,
                  last_ts, ring_max_ts[ring]);
        if (ev->ts_ns > last_ts)
            last_ts = ev->ts_ns;
        if (ev->ts_ns > ring_max_ts[ring])
            ring_max_ts[ring] = ev->ts_ns;
        if (ev->kind == SHMLOG_READ_EXIT) {
            cr_assert_str_eq(ev->exit_how, "shutdown");
            cr_assert_eq(ev->exit_records, (uint64_t)LIVE_THREADS * LIVE_RECORDS);
            exits++;
            continue;
        }
        const struct shmlog_read_field *f;
        int nf = shmlog_read_fields(r, &f);
        cr_assert(nf == 3 || nf == 4, "%d fields", nf);
        cr_assert_str_eq(f[0].name, "c");
        cr_assert_str_eq(f[1].name, "t");
        cr_assert_str_eq(f[2].name, "seq");
        cr_assert_eq(f[0].type, SHMLOG_READ_UINT);
        cr_assert_eq(f[0].v.u, 4);
        cr_assert_lt(f[1].v.u, LIVE_THREADS);
        cr_assert_lt(f[2].v.u, LIVE_RECORDS);
        cr_assert_eq(nf == 4, f[2].v.u % 8 == 7, "seq %" PRIu64 " with %d fields", f[2].v.u, nf);
        /* producer_child's string: (seq / 8 * 11 + t * 3 + c) % 200 bytes, 'a' + (c + t + seq + i) % 26 */
        if (nf == 4) {
            size_t want_len = (f[2].v.u / 8 * 11 + f[1].v.u * 3 + 4) % 200;
            cr_assert_eq(f[3].str_len, want_len);
            for (size_t i = 0; i < want_len; i++)
                cr_assert_eq(f[3].v.s[i], (char)('a' + (4 + f[1].v.u + f[2].v.u + i) % 26));
            cr_assert_eq(f[3].v.s[want_len], '\0');
        }
        cr_assert_eq(seen[f[1].v.u][f[2].v.u]++, 0, "t=%" PRIu64 " seq=%" PRIu64 " twice", f[1].v.u, f[2].v.u);
        char want[64];
        snprintf(want, sizeof want, "c=4 t=%" PRIu64 " seq=%" PRIu64, f[1].v.u, f[2].v.u);
        cr_assert(strncmp(shmlog_read_message(r, NULL), want, strlen(want)) == 0);
        n++;
    }
    cr_assert_eq(shmlog_read_had_errors(r), 0);
    shmlog_read_close(r);
    cr_assert_eq(n, (uint64_t)LIVE_THREADS * LIVE_RECORDS);
    cr_assert_eq(exits, 1);
}

Test(read_lib, a_live_collectors_files_hold_exactly_what_was_written, .init = live_setup, .fini = live_teardown,
     .timeout = 120)
{
    struct tu_child c = tu_collector(&env, NULL);
    char threads[8], records[16];
    snprintf(threads, sizeof threads, "%d", LIVE_THREADS);
    snprintf(records, sizeof records, "%d", LIVE_RECORDS);
    char *argv[] = {(char *)tu_exe("PRODUCER_CHILD"), env.seg, "readlib", "4", threads, records, "run", NULL};
    struct tu_child p = tu_spawn(argv, NULL);
    int st = tu_wait_exit(&p);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "producer status %#x", st);
    cr_assert(tu_wait_segments_gone(env.seg, 20000), "the collector did not finish the producer");
    tu_stop_collector(&env, &c);

    const char *paths[] = {env.out};
    read_live_files(paths, NULL, p.pid, 1);
    /* Again with a merge of one byte: each entry goes on as soon as it is
     * queued, in best-effort order (the bound taken in the middle of every
     * batch, also with rings that drain empty), and still every record comes
     * once, in its ring's order. */
    struct shmlog_read_options o = SHMLOG_READ_OPTIONS_INIT;
    o.merge_bytes = 1;
    read_live_files(paths, &o, p.pid, 0);
}

/* ==== Columns ==== */

/* One record as the event API gives it, flattened to a line of text. */
static size_t record_text(struct shmlog_read *r, const struct shmlog_read_event *ev, char *out, size_t cap)
{
    size_t len;
    const char *msg = shmlog_read_message(r, &len);
    int n = snprintf(out, cap, "%" PRIu64 " %" PRIu64 " %u %u %s %s %s %u %u [%s]|%s|", ev->ts_ns, ev->seq, ev->tid,
                     ev->cpu, ev->level_name, ev->category, ev->app, ev->pid, ev->flags,
                     ev->thread ? ev->thread : "(unnamed)", msg ? msg : "(none)");
    const struct shmlog_read_field *f;
    int nf = shmlog_read_fields(r, &f);
    for (int i = 0; i < nf; i++) {
        n += snprintf(out + n, cap - (size_t)n, "%s:%u=", f[i].name, f[i].type);
        if (f[i].type == SHMLOG_READ_STR)
            n += snprintf(out + n, cap - (size_t)n, "%.*s;", (int)f[i].str_len, f[i].v.s);
        else
            n += snprintf(out + n, cap - (size_t)n, "%" PRIx64 ";", f[i].v.u);
    }
    if (nf < 0)
        n += snprintf(out + n, cap - (size_t)n, "corrupt");
    return (size_t)n;
}

/* The same from row i of c. */
static size_t row_text(struct shmlog_read *r, const struct shmlog_read_columns *c, size_t i, char *out, size_t cap)
{
    const struct shmlog_read_source *s = shmlog_read_source(r, c->source[i]);
    cr_assert_not_null(s);
    static const char *const levels[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
    uint32_t len = (uint32_t)c->msg[i];
    int unknown = (c->flags[i] & SHMLOG_READ_UNKNOWN_SITE) != 0;
    cr_assert_eq(unknown, s->site == NULL);
    uint64_t th = c->thread[i];
    int n = snprintf(out, cap, "%" PRIu64 " %" PRIu64 " %u %u %s %s %s %u %u [%.*s]|%.*s|", c->ts_ns[i], c->seq[i],
                     c->tid[i], c->cpu[i], levels[c->level[i]], shmlog_read_category_name(r, c->source[i], c->category[i]),
                     s->app, s->pid, c->flags[i] & ~SHMLOG_READ_CORRUPT, th == UINT64_MAX ? 9 : (int)(uint32_t)th,
                     th == UINT64_MAX ? "(unnamed)" : c->text + (th >> 32), unknown ? 6 : (int)len,
                     unknown ? "(none)" : c->text + (c->msg[i] >> 32));
    if (c->flags[i] & SHMLOG_READ_CORRUPT)
        return (size_t)n + (size_t)snprintf(out + n, cap - (size_t)n, "corrupt");
    for (uint32_t j = 0; !unknown && j < s->nfields; j++) {
        uint64_t v = c->values[c->values_at[i] + j];
        n += snprintf(out + n, cap - (size_t)n, "%s:%u=", s->field_names[j], s->field_types[j]);
        if (s->field_types[j] == SHMLOG_READ_STR)
            n += snprintf(out + n, cap - (size_t)n, "%.*s;", (int)(uint32_t)v, c->text + (v >> 32));
        else
            n += snprintf(out + n, cap - (size_t)n, "%" PRIx64 ";", v);
    }
    return (size_t)n;
}

Test(read_lib, columns_hold_what_the_events_hold)
{
    static const char *const inputs[] = {"v2-categories/processes.shlog", "v2-categories/losses.shlog",
                                         "v2-categories/backtrace.shlog", "v2-categories/rotation", "v2-threads"};
    enum { CAP = 7 };
    for (size_t k = 0; k < sizeof inputs / sizeof inputs[0]; k++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", corpus(), inputs[k]);
        const char *paths[] = {path};
        char *want = malloc(MAX_TEXT), *got = malloc(MAX_TEXT), err[256];
        size_t want_len = 0, got_len = 0, records = 0;
        struct shmlog_read *r;
        const struct shmlog_read_event *ev;
        cr_assert_eq(shmlog_read_open(&r, paths, 1, NULL, err, sizeof err), 0, "%s", err);
        while (shmlog_read_next(r, &ev) > 0) {
            if (ev->kind == SHMLOG_READ_RECORD) {
                want_len += record_text(r, ev, want + want_len, MAX_TEXT - want_len);
                records++;
            } else {
                want_len += (size_t)snprintf(want + want_len, MAX_TEXT - want_len, "event %u", ev->kind);
            }
            want[want_len++] = '\n';
        }
        shmlog_read_close(r);

        /* Small arrays: every way of running out is taken. */
        static uint64_t ts[CAP], seq[CAP], msg[CAP], values[24], thread[CAP];
        static uint32_t tid[CAP], cpu[CAP], source[CAP], values_at[CAP];
        static uint8_t level[CAP], category[CAP], flags[CAP];
        static char text[1200];
        struct shmlog_read_columns c = {sizeof c, CAP, ts, seq, tid, cpu, source, level, category, flags, msg,
                                        values_at, text, sizeof text, values, 24, thread};
        cr_assert_eq(shmlog_read_open(&r, paths, 1, NULL, err, sizeof err), 0, "%s", err);
        size_t rows_seen = 0, calls = 0;
        for (;;) {
            long rows = shmlog_read_next_columns(r, &c);
            cr_assert_geq(rows, 0, "next_columns: %ld", rows);
            calls++;
            for (long i = 0; i < rows; i++) {
                got_len += row_text(r, &c, (size_t)i, got + got_len, MAX_TEXT - got_len);
                got[got_len++] = '\n';
            }
            rows_seen += (size_t)rows;
            if (rows > 0)
                continue;
            if (shmlog_read_next(r, &ev) <= 0)
                break;
            cr_assert_neq(ev->kind, SHMLOG_READ_RECORD, "next_columns left a record behind");
            got_len += (size_t)snprintf(got + got_len, MAX_TEXT - got_len, "event %u\n", ev->kind);
        }
        shmlog_read_close(r);
        cr_assert_eq(rows_seen, records);
        cr_assert_gt(calls, records / CAP);
        want[want_len] = got[got_len] = '\0';
        cr_assert_str_eq(got, want, "%s: columns differ from events", inputs[k]);
        free(want);
        free(got);
    }
}

Test(read_lib, columns_refuse_what_cannot_work)
{
    struct shmlog_read *r = open_one("processes.shlog", NULL);
    uint64_t ts[4], seq[4];
    uint32_t tid[4], cpu[4], source[4];
    uint8_t level[4], category[4], flags[4];
    uint64_t msg[4];
    char text[8];
    struct shmlog_read_columns c = {sizeof c, 4, ts, seq, tid, cpu, source, level, category, flags, msg,
                                    NULL, text, sizeof text, NULL, 0, NULL};
    cr_assert_eq(shmlog_read_next_columns(r, &c), -ENOBUFS, "a message longer than text");
    c.size = 8;
    cr_assert_eq(shmlog_read_next_columns(r, &c), -EINVAL);
    c.size = sizeof c;
    c.ts_ns = NULL;
    cr_assert_eq(shmlog_read_next_columns(r, &c), -EINVAL);
    c.ts_ns = ts;
    c.text = NULL;
    c.msg = NULL;
    uint64_t thread[4] = {7, 7, 7, 7};
    c.thread = thread;
    cr_assert_eq(shmlog_read_next_columns(r, &c), -EINVAL, "thread names without text");
    /* A caller built before version 4: its struct ends before thread, which is not read. */
    c.size = offsetof(struct shmlog_read_columns, thread);
    cr_assert_eq(shmlog_read_next_columns(r, &c), 4);
    cr_assert_eq(thread[0], 7, "thread written past the caller's struct");
    cr_assert_null(shmlog_read_source(r, 1000));
    shmlog_read_close(r);
}

/* Sources made early stay where they are while hundreds more are made
 * (ASan sees a read of moved memory). */
Test(read_lib, sources_stay_valid_while_more_come)
{
    enum { SITES = 300 };
    char dir[256], path[600];
    tu_tmpdir(dir, sizeof dir, "readlib-sources");
    snprintf(path, sizeof path, "%s/many-sites.shlog", dir);
    struct tu_file f;
    tu_file_open(&f, path, 1);
    struct shm_proc_info pi;
    tu_proc_info(&pi, 77, 4242);
    cr_assert_eq(shlog_enc_process(f.enc, 1, &pi), 0);
    static struct shm_site sites[SITES];
    for (uint32_t i = 0; i < SITES; i++) {
        char fmt[64];
        snprintf(fmt, sizeof fmt, "site %u k%u=%%u", i, i);
        tu_site(&sites[i], i, fmt, SHMLOG_ARG_U32, 0);
        cr_assert_eq(shlog_enc_site(f.enc, 1, &sites[i]), 0);
    }
    cr_assert_eq(shlog_enc_batch_begin(f.enc, 1, 0), 0);
    for (uint32_t i = 0; i < SITES; i++) {
        struct shm_copied_record rec;
        memset(&rec, 0, sizeof rec);
        rec.pos = i;
        rec.tsc = pi.anchor_tsc + i;
        rec.site = i;
        rec.level = sites[i].level;
        rec.category = sites[i].category;
        uint64_t v = 1000 + i;
        tu_slots(&rec, tu_payload(&rec, &sites[i], &v, NULL));
        cr_assert_eq(shlog_enc_record(f.enc, &rec), 0);
    }
    cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
    tu_file_flush(&f);
    tu_file_close(&f);

    const char *paths[] = {path};
    struct shmlog_read *r;
    char err[256];
    cr_assert_eq(shmlog_read_open(&r, paths, 1, NULL, err, sizeof err), 0, "%s", err);
    static uint64_t ts[4], seq[4], msg[4], values[64];
    static uint32_t tid[4], cpu[4], source[4], values_at[4];
    static uint8_t level[4], category[4], flags[4];
    static char text[4096];
    struct shmlog_read_columns c = {sizeof c, 4, ts, seq, tid, cpu, source, level, category, flags, msg,
                                    values_at, text, sizeof text, values, 64, NULL};
    const struct shmlog_read_source *first = NULL;
    size_t rows_seen = 0;
    long rows;
    while ((rows = shmlog_read_next_columns(r, &c)) > 0) {
        for (long i = 0; i < rows; i++, rows_seen++) {
            const struct shmlog_read_source *s = shmlog_read_source(r, source[i]);
            char want[32];
            snprintf(want, sizeof want, "k%u", s->site_id);
            cr_assert_eq(s->nfields, 1);
            cr_assert_str_eq(s->field_names[0], want);
            cr_assert_eq(values[values_at[i]], 1000 + s->site_id);
            if (!first)
                first = s;
        }
        /* the first source, read again after each batch */
        cr_assert_str_eq(first->field_names[0], "k0");
        cr_assert_eq(first->field_types[0], SHMLOG_READ_UINT);
        cr_assert_str_eq(first->app, "app77");
    }
    cr_assert_eq(rows, 0);
    cr_assert_eq(rows_seen, SITES);
    cr_assert_not_null(shmlog_read_source(r, SITES - 1));
    cr_assert_null(shmlog_read_source(r, SITES));
    shmlog_read_close(r);
    tu_rmtree(dir);
}
