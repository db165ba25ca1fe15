/*
 * dump_view.c - shmlog-dump view: a terminal viewer (ncursesw) over collector
 * files and directories, through libshmlog-read's public API only, and with
 * --live the records the live rings hold that the files do not yet
 * (dump_live_rings.c), after the files' on the screens at their end.
 *
 * It holds one screen of lines, never more: every move opens a reader at a
 * time (options.since_ns, which the files' indexes seek by) and reads what the
 * screen needs. A record's place is its time and how many records of that
 * same time come before it (struct vpos), so a reader opened at that time
 * finds it again. Going back is a search for a start time: a window that ends
 * at the current place, widened while it holds too few records and narrowed
 * while it holds too many, so that a move back reads a bounded number of
 * records whatever the set's size.
 */
#include <curses.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dump.h"
#include "shlog_file.h"
#include "shmlog_read.h"

#define VIEW_TEXT_MAX 1024         /* bytes of a line the screen keeps (the rest is off screen anyway) */
#define VIEW_LINE_BUF (600 * 1024) /* a whole line as shmlog_read_format() renders it (at most 512 KiB) */
#define VIEW_WHERE_MAX 16
#define VIEW_TICK_MS 250           /* how often follow looks for new records */
#define VIEW_FIRST_STEP_NS 1000000u
/* A ring's record is timed with the viewer's anchor of the clock, the files' copy with the collector's:
 * a follow that refills from a ring's row starts this much earlier, so the row is not lost when it moves. */
#define VIEW_LIVE_SLACK_NS 1000000u

/* A record's place: its time, and how many records of the same time come before it. */
struct vpos {
    uint64_t ts;
    uint64_t skip;
};

struct vrow {
    struct vpos pos;
    int live; /* from a ring (--live): its time moves a little when the files bring it */
    char text[VIEW_TEXT_MAX];
};

struct view {
    const char *const *paths;
    size_t npaths;
    int local_time;
    uint64_t merge_bytes;
    /* the command line's filters, which bound every reader */
    uint64_t since_ns, until_ns; /* until 0: none */
    const char *grep;
    /* the filters, as typed */
    int min_level;
    char category[64], app[64], thread[64];
    uint32_t pid;
    char *where[VIEW_WHERE_MAX];
    size_t nwhere;
    /* the screen: rows from top; next is the place after the last when has_next */
    struct vrow *rows;
    int nrows, cap, cursor;
    struct vpos top, next;
    int has_next;
    int follow, detail;
    uint64_t follow_signature; /* of the files when follow last read them */
    int live;              /* --live: the rings' records the files do not hold yet, after theirs */
    const struct cli *cli; /* its segment directories, for --live */
    int ticked;                /* follow read them again: the screen is to be drawn */
    /* search */
    regex_t re;
    int has_re;
    char re_text[256];
    /* how far back the last move back had to look: where the next one starts */
    uint64_t back_step;
    char msg[512];
    int msg_error;
    char *line;            /* VIEW_LINE_BUF bytes */
    char prompt_buf[256];
};

/* ==== Readers ==== */

static volatile sig_atomic_t view_stop; /* SIGINT, SIGTERM, SIGHUP: leave through endwin() */

static void view_message(struct view *v, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void view_message(struct view *v, int error, const char *fmt, ...)
{
    /* damage met on the way to a note (a search past a bad frame) stays on show until the next key */
    if (!error && v->msg_error && v->msg[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->msg, sizeof v->msg, fmt, ap);
    va_end(ap);
    v->msg_error = error;
}

/* The options of a reader of the view's records from since. */
static struct shmlog_read_options pass_options(const struct view *v, uint64_t since)
{
    struct shmlog_read_options o = SHMLOG_READ_OPTIONS_INIT;
    o.min_level = v->min_level;
    o.category = v->category[0] ? v->category : NULL;
    o.app = v->app[0] ? v->app : NULL;
    o.thread = v->thread[0] ? v->thread : NULL;
    o.pid = v->pid;
    o.since_ns = since > v->since_ns ? since : v->since_ns;
    o.until_ns = v->until_ns;
    o.grep = v->grep;
    o.where = (const char *const *)v->where;
    o.nwhere = v->nwhere;
    o.local_time = v->local_time;
    o.merge_bytes = v->merge_bytes;
    return o;
}

/* A reader of the view's records from since, NULL with the reason in the status line. */
static struct shmlog_read *pass_open(struct view *v, uint64_t since)
{
    struct shmlog_read_options o = pass_options(v, since);
    struct shmlog_read *r = NULL;
    char err[512];
    int rc = shmlog_read_open(&r, v->paths, v->npaths, &o, err, sizeof err);
    if (rc == -ENOMEM)
        view_message(v, 1, "out of memory");
    else if (rc != 0)
        view_message(v, 1, "%s", err);
    return rc == 0 ? r : NULL;
}

/* The next event that has a place in time: damage goes to the status line (notes, a file still being
 * written, do not). 1, or 0 at the end. */
static int pass_next(struct view *v, struct shmlog_read *r, const struct shmlog_read_event **ev)
{
    for (;;) {
        int rc = shmlog_read_next(r, ev);
        if (rc < 0)
            view_message(v, 1, "out of memory");
        if (rc <= 0)
            return 0;
        if ((*ev)->kind != SHMLOG_READ_ERROR)
            return 1;
        if (!((*ev)->flags & SHMLOG_READ_NOTE))
            view_message(v, 1, "damaged input: %s", (*ev)->error);
    }
}

/* Places of the records of one pass, counted from its since. */
struct tracker {
    struct vpos last;
    int started;
};

static struct vpos track(struct tracker *t, uint64_t ts)
{
    if (t->started && ts == t->last.ts)
        t->last.skip++;
    else
        t->last = (struct vpos){ts, 0};
    t->started = 1;
    return t->last;
}

static int pos_before(struct vpos a, struct vpos b)
{
    return a.ts < b.ts || (a.ts == b.ts && a.skip < b.skip);
}

/* The last event's line as read prints it, without its newline, into v->line. */
static size_t event_line(struct view *v, struct shmlog_read *r)
{
    long n = shmlog_read_format(r, 0, v->line, VIEW_LINE_BUF);
    if (n == -ENOBUFS)
        n = (long)strlen(v->line);
    if (n <= 0)
        return 0;
    size_t len = (size_t)n;
    if (len && v->line[len - 1] == '\n')
        v->line[--len] = '\0';
    return len;
}

static int line_matches(const struct view *v, const char *line)
{
    return v->has_re && regexec(&v->re, line, 0, NULL, 0) == 0;
}

/* ==== Moves ==== */

/* The rows of a screen the files left unfilled, from the live rings (--live). */
struct live_fill {
    struct view *v;
    struct tracker *t;
    struct vpos start;
    struct render_memo memo;
};

static int live_row(void *ctx, const struct live_record *lr)
{
    struct live_fill *lf = ctx;
    struct view *v = lf->v;
    struct vpos p = track(lf->t, lr->ts_ns);
    if (pos_before(p, lf->start))
        return 0;
    if (v->nrows == v->cap) {
        v->has_next = 1;
        v->next = p;
        return 1;
    }
    struct render_buf line;
    render_buf_init(&line, v->line, VIEW_LINE_BUF - 1);
    line.memo = &lf->memo;
    render_prepared_thread(lr->site, lr->rec, lr->cpu, lr->ts_ns, lr->thread, NULL, 0, &line);
    size_t len = line.len; /* a line cut at the buffer is shown as far as it goes */
    if (len && v->line[len - 1] == '\n')
        len--;
    v->line[len] = '\0';
    struct vrow *row = &v->rows[v->nrows++];
    row->pos = p;
    row->live = 1;
    snprintf(row->text, sizeof row->text, "%s", v->line);
    return 0;
}

static void fill_live(struct view *v, struct live_rings *live, struct tracker *t, struct vpos start)
{
    struct shmlog_read_options o = pass_options(v, start.ts);
    struct read_filter f;
    struct read_filter_names names;
    char err[512];
    if (read_filter_set_options(&f, &names, &o, err, sizeof err) == 0) {
        struct live_fill lf = {v, t, start, {0}};
        render_memo_init(&lf.memo, v->local_time);
        live_rings_poll(live, &f, live_row, &lf);
    } else {
        view_message(v, 1, "%s", err);
    }
    read_filter_free(&f);
}

/* The screen from the record at start on: 0, or -1 (the reason in the status line). */
static int fill(struct view *v, struct vpos start)
{
    struct live_rings *live = NULL;
    if (v->live) {
        /* found before the files are read: a record the collector moves meanwhile is in one or the other */
        if (!(live = live_rings_new(v->cli, 0)))
            dump_oom();
        live_rings_start(live);
    }
    struct shmlog_read *r = pass_open(v, start.ts);
    if (!r) {
        live_rings_free(live);
        return -1;
    }
    struct tracker t = {0};
    const struct shmlog_read_event *ev;
    v->nrows = 0;
    v->has_next = 0;
    v->top = start;
    while (pass_next(v, r, &ev)) {
        if (live && ev->kind == SHMLOG_READ_RECORD)
            live_rings_file_record(live, ev->pid, ev->proc_start, ev->cpu, ev->seq);
        struct vpos p = track(&t, ev->ts_ns);
        if (pos_before(p, start))
            continue;
        if (v->nrows == v->cap) {
            v->has_next = 1;
            v->next = p;
            break;
        }
        struct vrow *row = &v->rows[v->nrows++];
        row->pos = p;
        row->live = 0;
        event_line(v, r);
        snprintf(row->text, sizeof row->text, "%s", v->line);
    }
    shmlog_read_close(r);
    if (live && !v->has_next)
        fill_live(v, live, &t, start);
    live_rings_free(live);
    if (v->nrows)
        v->top = v->rows[0].pos;
    if (v->cursor >= v->nrows)
        v->cursor = v->nrows ? v->nrows - 1 : 0;
    return 0;
}

/* The latest time of the records in the file at path, by its index (one read of its footer): 1 with *ns,
 * 0 when part of it is not indexed (a file being written) or it cannot be read. */
static int file_end_ns(const char *path, uint64_t *ns)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct shlog_index *ix = NULL;
    char err[256];
    int known = shlog_index_open(&ix, fd, err, sizeof err) == 0 && shlog_index_from_footer(ix) &&
                !shlog_index_note(ix);
    for (size_t i = 0; known && i < shlog_index_count(ix); i++) {
        const struct shlog_index_frame *f = shlog_index_frame(ix, i);
        if (f->records && !f->timed)
            known = 0;
        else if (f->records && f->ns_max + SHLOG_INDEX_TIME_SLACK_NS > *ns)
            *ns = f->ns_max + SHLOG_INDEX_TIME_SLACK_NS;
    }
    if (ix)
        shlog_index_close(ix);
    close(fd);
    return known;
}

/* Calls each(path, part, ctx) for every file of the view's paths (a directory's: the collector's
 * files in it) until one returns nonzero: that value, or 0. */
static int each_file(const struct view *v, int (*each)(const char *path, int part, void *ctx), void *ctx)
{
    int rc = 0;
    for (size_t i = 0; i < v->npaths && !rc; i++) {
        struct stat st;
        if (stat(v->paths[i], &st) != 0)
            continue;
        if (!S_ISDIR(st.st_mode)) {
            rc = each(v->paths[i], 0, ctx);
            continue;
        }
        DIR *d = opendir(v->paths[i]);
        struct dirent *de;
        while (d && !rc && (de = readdir(d)) != NULL) {
            uint64_t seq;
            int part;
            char path[4096 + 256];
            if (shlog_file_name_seq(de->d_name, &seq, &part) == 0 &&
                (size_t)snprintf(path, sizeof path, "%s/%s", v->paths[i], de->d_name) < sizeof path)
                rc = each(path, part, ctx);
        }
        if (d)
            closedir(d);
    }
    return rc;
}

static int file_end_unknown(const char *path, int part, void *ns)
{
    return part || !file_end_ns(path, ns);
}

/* Where a look back from the end of the set starts: past the last record the files' indexes know
 * of, or now when a file is still being written (or has no index), so that the look back does not
 * cross the time between the set's end and now a window at a time. */
static uint64_t end_hint(const struct view *v)
{
    uint64_t ns = 0;
    return each_file(v, file_end_unknown, &ns) ? read_now_ns() : ns;
}

static int file_mix(const char *path, int part, void *sum)
{
    struct stat st;
    uint64_t *h = sum;
    if (lstat(path, &st) == 0)
        *h = (*h ^ ((uint64_t)st.st_ino + (uint64_t)st.st_size * 31 + (uint64_t)st.st_mtim.tv_nsec + (uint64_t)part)) *
             0x100000001b3ull;
    return 0;
}

/* A sum of the files' names, sizes and times: follow reads again only when it changed. */
static uint64_t inputs_signature(const struct view *v)
{
    uint64_t h = 0xcbf29ce484222325ull;
    each_file(v, file_mix, &h);
    return h;
}

/* A window's step between one too short (small) and one too long (big): halving over orders of
 * magnitude takes many windows, so about their geometric mean while they are far apart. */
static uint64_t between(uint64_t small, uint64_t big)
{
    if (small == 0)
        return big / 16;
    if (big / small <= 16)
        return small + (big - small) / 2;
    uint64_t root = 1;
    while (root * root < big / small)
        root *= 2;
    return small * root;
}

/* The place of the earliest of the k records before end (at_end: before the end of the set), or the
 * first record when fewer come before it; *found says how many there were. A window reads at most
 * 64 Ki records more than k, whatever the set's size. 0, or -1. */
static int back(struct view *v, struct vpos end, int at_end, int k, struct vpos *out, int *found)
{
    struct vpos *ring = calloc((size_t)k, sizeof *ring);
    if (!ring)
        dump_oom();
    uint64_t end_ts = at_end ? end_hint(v) : end.ts;
    uint64_t floor = v->since_ns;
    /* Records a window may hold before it is narrowed: opening a reader costs about as much as reading
     * tens of thousands of records, so a window reads many rather than taking more steps. */
    uint64_t cap = 16 * (uint64_t)k + 65536;
    uint64_t small = 0, big = UINT64_MAX;  /* steps known to hold too few, too many */
    uint64_t step = v->back_step ? v->back_step : VIEW_FIRST_STEP_NS;
    int rc = -1;
    for (;;) {
        /* Once the steps too short and too long are 1 ns apart (a run of one time outnumbers the cap,
         * which no narrowing splits), the long one is read whole. */
        int capped = big - small > 1;
        if (!capped)
            step = big;
        uint64_t since = end_ts > floor && end_ts - floor > step ? end_ts - step : floor;
        struct shmlog_read *r = pass_open(v, since);
        if (!r)
            break;
        struct tracker t = {0};
        const struct shmlog_read_event *ev;
        uint64_t n = 0;
        int saturated = 0;
        while (pass_next(v, r, &ev)) {
            struct vpos p = track(&t, ev->ts_ns);
            if (!at_end && !pos_before(p, end))
                break;
            if (capped && n == cap) {
                saturated = 1;
                break;
            }
            ring[n++ % (uint64_t)k] = p;
        }
        shmlog_read_close(r);
        if (saturated) {
            big = step;
            step = between(small, big);
            continue;
        }
        if (n >= (uint64_t)k || since == floor) {
            *found = n < (uint64_t)k ? (int)n : k;
            *out = n == 0 ? (struct vpos){since, 0} : ring[n < (uint64_t)k ? 0 : n % (uint64_t)k];
            /* The next look back starts with twice the span these k records took. */
            uint64_t span = n ? ring[(n - 1) % (uint64_t)k].ts - out->ts : step;
            v->back_step = span < UINT64_MAX / 4 ? 2 * span + 1000 : step;
            rc = 0;
            break;
        }
        small = step;
        /* An empty window widens faster: the set may end long before now. */
        uint64_t grow = n ? 4 : 32;
        step = big == UINT64_MAX ? (step > UINT64_MAX / grow ? UINT64_MAX : step * grow) : between(small, big);
    }
    free(ring);
    return rc;
}

static void go_start(struct view *v)
{
    v->cursor = 0;
    fill(v, (struct vpos){v->since_ns, 0});
}

static void go_end(struct view *v)
{
    struct vpos p;
    int found;
    if (back(v, (struct vpos){0, 0}, 1, v->cap, &p, &found) == 0 && fill(v, p) == 0)
        v->cursor = v->nrows ? v->nrows - 1 : 0;
}

static void page_down(struct view *v)
{
    if (!v->has_next) {
        v->cursor = v->nrows ? v->nrows - 1 : 0;
        return;
    }
    fill(v, v->next);
    if (v->nrows < v->cap)
        go_end(v); /* the last screen is a full one */
}

static void page_up(struct view *v, int k)
{
    struct vpos p;
    int found;
    if (back(v, v->top, 0, k, &p, &found) == 0 && found > 0)
        fill(v, p);
    else if (k == v->cap)
        v->cursor = 0;
}

static void line_down(struct view *v)
{
    if (v->cursor + 1 < v->nrows) {
        v->cursor++;
    } else if (v->has_next && v->nrows > 1) {
        fill(v, v->rows[1].pos);
        v->cursor = v->nrows - 1;
    }
}

static void line_up(struct view *v)
{
    if (v->cursor > 0)
        v->cursor--;
    else
        page_up(v, 1);
}

/* The record at p on top, with the cursor on it. */
static void go_to(struct view *v, struct vpos p)
{
    v->cursor = 0;
    fill(v, p);
}

/* ==== Search ==== */

/* The first record (the last, with last) whose line matches the search, among those read from since
 * that come after the place after and before the place end (each when given): 1 with *hit, 0, or -1
 * when no reader opened (the reason in the status line). */
static int scan_matches(struct view *v, uint64_t since, const struct vpos *after, const struct vpos *end, int last,
                        struct vpos *hit)
{
    struct shmlog_read *r = pass_open(v, since);
    if (!r)
        return -1;
    struct tracker t = {0};
    const struct shmlog_read_event *ev;
    int found = 0;
    while (pass_next(v, r, &ev)) {
        struct vpos p = track(&t, ev->ts_ns);
        if (end && !pos_before(p, *end))
            break;
        if (after && !pos_before(*after, p))
            continue;
        event_line(v, r);
        if (line_matches(v, v->line)) {
            *hit = p;
            found = 1;
            if (!last)
                break;
        }
    }
    shmlog_read_close(r);
    return found;
}

static void search_forward(struct view *v)
{
    if (!v->has_re || !v->nrows)
        return;
    struct vpos from = v->rows[v->cursor].pos, hit = {0, 0};
    int found = scan_matches(v, from.ts, &from, NULL, 0, &hit);
    if (found > 0)
        go_to(v, hit);
    else if (found == 0)
        view_message(v, 0, "/%s: no match after the cursor", v->re_text);
}

/* Windows back from the cursor, each ending where the last began, until one holds a match. */
static void search_backward(struct view *v)
{
    if (!v->has_re || !v->nrows)
        return;
    struct vpos end = v->rows[v->cursor].pos, hit = {0, 0};
    uint64_t step = v->back_step ? v->back_step : VIEW_FIRST_STEP_NS;
    for (;;) {
        uint64_t since = end.ts > v->since_ns && end.ts - v->since_ns > step ? end.ts - step : v->since_ns;
        int found = scan_matches(v, since, NULL, &end, 1, &hit);
        if (found < 0)
            return;
        if (found) {
            go_to(v, hit);
            return;
        }
        if (since == v->since_ns) {
            view_message(v, 0, "?%s: no match before the cursor", v->re_text);
            return;
        }
        end = (struct vpos){since, 0};
        step = step > UINT64_MAX / 4 ? UINT64_MAX : step * 4;
    }
}

/* ==== Drawing ==== */

/* The rows the record list has, the rest below it being the detail pane's. */
static int list_rows(const struct view *v)
{
    int rows = LINES - 1;
    if (v->detail)
        rows = rows / 2;
    return rows > 1 ? rows : 1;
}

/* Text clipped to the screen's width, with the search's matches in reverse video. */
static void draw_text(const struct view *v, int y, const char *text, attr_t base)
{
    int width = COLS;
    size_t len = strlen(text);
    if (len > (size_t)width)
        len = (size_t)width;
    char clipped[VIEW_TEXT_MAX];
    memcpy(clipped, text, len);
    clipped[len] = '\0';
    move(y, 0);
    attrset(base);
    size_t at = 0;
    regmatch_t m;
    while (v->has_re && at < len &&
           regexec(&v->re, clipped + at, 1, &m, at ? REG_NOTBOL : 0) == 0) {
        size_t from = at + (size_t)m.rm_so, to = at + (size_t)m.rm_eo;
        addnstr(clipped + at, (int)(from - at));
        attron(A_REVERSE);
        addnstr(clipped + from, (int)(to - from));
        attroff(A_REVERSE);
        at = to > from ? to : to + 1;
        if (to == from && from < len)
            addnstr(clipped + from, 1);
    }
    if (at < len)
        addnstr(clipped + at, (int)(len - at));
    attrset(A_NORMAL);
}

static void detail_line(int *y, int bottom, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void detail_line(int *y, int bottom, const char *fmt, ...)
{
    if (*y >= bottom)
        return;
    char buf[VIEW_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    mvaddnstr((*y)++, 0, buf, COLS);
}

/* The cursor's record read again, with everything the files say of it. */
static void draw_detail(struct view *v, int y)
{
    int bottom = LINES - 1;
    mvhline(y++, 0, ACS_HLINE, COLS);
    if (!v->nrows)
        return;
    struct vpos want = v->rows[v->cursor].pos;
    struct shmlog_read *r = pass_open(v, want.ts);
    if (!r)
        return;
    struct tracker t = {0};
    const struct shmlog_read_event *ev = NULL;
    int found = 0;
    while (pass_next(v, r, &ev)) {
        struct vpos p = track(&t, ev->ts_ns);
        if (!pos_before(p, want)) {
            found = p.ts == want.ts && p.skip == want.skip;
            break;
        }
    }
    if (!found) {
        detail_line(&y, bottom, "(the record is no longer in the files)");
        shmlog_read_close(r);
        return;
    }
    detail_line(&y, bottom, "time      %llu ns  %s", (unsigned long long)ev->ts_ns,
                ev->kind == SHMLOG_READ_LOSS ? "loss" : ev->kind == SHMLOG_READ_EXIT ? "exit" : ev->level_name);
    detail_line(&y, bottom, "process   host %s  app %s  pid %u  instance %s", ev->host, ev->app, ev->pid,
                ev->instance && ev->instance[0] ? ev->instance : "-");
    if (ev->kind == SHMLOG_READ_LOSS) {
        detail_line(&y, bottom, "loss      %s: %llu records, %llu positions from %llu (cpu %d)", ev->loss_reason,
                    (unsigned long long)ev->loss_records, (unsigned long long)ev->loss_positions,
                    (unsigned long long)ev->loss_first_seq, ev->cpu == UINT32_MAX ? -1 : (int)ev->cpu);
    } else if (ev->kind == SHMLOG_READ_EXIT) {
        detail_line(&y, bottom, "exit      %s: %llu records, %llu lost", ev->exit_how[0] ? ev->exit_how : "-",
                    (unsigned long long)ev->exit_records, (unsigned long long)ev->exit_lost);
    } else {
        detail_line(&y, bottom, "thread    tid %u  name %s  cpu %u  seq %llu", ev->tid, ev->thread ? ev->thread : "-",
                    ev->cpu, (unsigned long long)ev->seq);
        detail_line(&y, bottom, "category  %s   level %s%s%s", ev->category, ev->level_name,
                    ev->flags & SHMLOG_READ_TRUNCATED ? "  truncated" : "",
                    ev->flags & SHMLOG_READ_BACKTRACE ? "  backtrace" : "");
        const struct shmlog_read_site *s = ev->site;
        if (s) {
            detail_line(&y, bottom, "site      %s:%u %s", s->file, s->line, s->func);
            detail_line(&y, bottom, "format    %s", s->format);
        } else {
            detail_line(&y, bottom, "site      %u (the files do not define it)", ev->site_id);
        }
        const char *msg = shmlog_read_message(r, NULL);
        detail_line(&y, bottom, "message   %s", msg ? msg : "-");
        const struct shmlog_read_field *f;
        int nf = shmlog_read_fields(r, &f);
        if (nf < 0)
            detail_line(&y, bottom, "fields    (corrupt payload)");
        static const char *const types[] = {"?", "bool", "int", "uint", "float", "str", "ptr", "float32"};
        for (int i = 0; i < nf; i++) {
            const char *ty = f[i].type < sizeof types / sizeof types[0] ? types[f[i].type] : "?";
            switch (f[i].type) {
            case SHMLOG_READ_INT:
                detail_line(&y, bottom, "  %-20s %-7s %lld", f[i].name, ty, (long long)f[i].v.i);
                break;
            case SHMLOG_READ_FLOAT:
            case SHMLOG_READ_FLOAT32:
                detail_line(&y, bottom, "  %-20s %-7s %.17g", f[i].name, ty, f[i].v.f);
                break;
            case SHMLOG_READ_STR:
                detail_line(&y, bottom, "  %-20s %-7s %.*s", f[i].name, ty, (int)f[i].str_len, f[i].v.s);
                break;
            case SHMLOG_READ_PTR:
                detail_line(&y, bottom, "  %-20s %-7s 0x%llx", f[i].name, ty, (unsigned long long)f[i].v.u);
                break;
            default:
                detail_line(&y, bottom, "  %-20s %-7s %llu", f[i].name, ty, (unsigned long long)f[i].v.u);
            }
        }
    }
    shmlog_read_close(r);
}

/* The filters in force, as the command line would give them. */
static void filters_text(const struct view *v, char *buf, size_t cap)
{
    static const char *const levels[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
    size_t n = 0;
    buf[0] = '\0';
#define PUT(...) (n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__), n = n < cap ? n : cap - 1)
    if (v->min_level >= 0 && v->min_level < 6)
        PUT(" level>=%s", levels[v->min_level]);
    if (v->app[0])
        PUT(" app=%s", v->app);
    if (v->category[0])
        PUT(" cat=%s", v->category);
    if (v->thread[0])
        PUT(" thread=%s", v->thread);
    if (v->pid)
        PUT(" pid=%u", v->pid);
    if (v->grep)
        PUT(" grep=%s", v->grep);
    for (size_t i = 0; i < v->nwhere; i++)
        PUT(" %s", v->where[i]);
#undef PUT
    if (!buf[0])
        snprintf(buf, cap, " none");
}

static void draw(struct view *v)
{
    erase();
    int rows = list_rows(v);
    for (int i = 0; i < v->nrows && i < rows; i++)
        draw_text(v, i, v->rows[i].text, i == v->cursor ? A_BOLD : A_NORMAL);
    if (!v->nrows)
        mvaddnstr(0, 0, "(no records)", COLS);
    if (v->detail)
        draw_detail(v, rows);
    char filters[512];
    filters_text(v, filters, sizeof filters);
    char where[80] = "-";
    if (v->nrows) {
        const char *text = v->rows[v->cursor].text;
        size_t len = strcspn(text, " ");
        snprintf(where, sizeof where, "%.*s", (int)(len < 60 ? len : 60), text);
    }
    char status[2048]; /* room for every part; the screen shows what fits */
    /* An error comes first, where a narrow terminal still shows it; a note after the rest. */
    const char *error = v->msg_error ? v->msg : "", *note = v->msg_error ? "" : v->msg;
    snprintf(status, sizeof status, " %s%s%s%.400s | filters:%s | follow %s%s%.200s%s%.400s", where,
             !v->has_next ? " [end]" : "", error[0] ? " | " : "", error, filters, v->follow ? "on" : "off",
             v->has_re ? " | /" : "", v->has_re ? v->re_text : "", note[0] ? " | " : "", note);
    attrset(v->msg_error ? A_REVERSE | A_BOLD : A_REVERSE);
    mvhline(LINES - 1, 0, ' ', COLS);
    mvaddnstr(LINES - 1, 0, status, COLS);
    attrset(A_NORMAL);
    move(LINES - 1, COLS - 1);
    refresh();
}

/* A line typed on the status line: 1 with it in v->prompt_buf, 0 when cancelled (Escape, or ^C/^G). */
static int prompt(struct view *v, const char *label)
{
    size_t n = 0;
    v->prompt_buf[0] = '\0';
    timeout(-1);
    for (;;) {
        attrset(A_NORMAL);
        mvhline(LINES - 1, 0, ' ', COLS);
        mvaddnstr(LINES - 1, 0, label, COLS);
        addnstr(v->prompt_buf, COLS - (int)strlen(label) > 0 ? COLS - (int)strlen(label) : 0);
        refresh();
        int c = getch();
        if (c == '\n' || c == '\r' || c == KEY_ENTER)
            break;
        if (c == 27 || c == 3 || c == 7 || view_stop) {
            timeout(VIEW_TICK_MS);
            return 0;
        }
        if ((c == KEY_BACKSPACE || c == 127 || c == 8) && n > 0)
            v->prompt_buf[--n] = '\0';
        else if (c >= 32 && c < 256 && c != 127 && n + 1 < sizeof v->prompt_buf) {
            v->prompt_buf[n++] = (char)c;
            v->prompt_buf[n] = '\0';
        }
    }
    timeout(VIEW_TICK_MS);
    return 1;
}

/* ==== Keys ==== */

static void set_search(struct view *v, const char *re)
{
    if (!re[0]) {
        if (v->has_re)
            return; /* an empty pattern searches again for the last one */
        view_message(v, 0, "no pattern");
        return;
    }
    regex_t next;
    int rc = regcomp(&next, re, REG_EXTENDED);
    if (rc != 0) {
        char why[256];
        regerror(rc, &next, why, sizeof why);
        view_message(v, 1, "bad pattern '%s': %s", re, why);
        return;
    }
    if (v->has_re)
        regfree(&v->re);
    v->re = next;
    v->has_re = 1;
    snprintf(v->re_text, sizeof v->re_text, "%s", re);
}

/* A filter changed: the screen again from the top's time; a reader that refuses it puts it back. */
static void refilter(struct view *v, const struct view *before)
{
    struct vpos from = {v->nrows ? v->top.ts : v->since_ns, 0};
    v->msg[0] = '\0';
    if (fill(v, from) != 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", v->msg);
        v->min_level = before->min_level;
        memcpy(v->category, before->category, sizeof v->category);
        memcpy(v->app, before->app, sizeof v->app);
        memcpy(v->thread, before->thread, sizeof v->thread);
        v->pid = before->pid;
        while (v->nwhere > before->nwhere)
            free(v->where[--v->nwhere]);
        fill(v, from);
        view_message(v, 1, "%s", why);
    }
    v->cursor = 0;
}

static void filter_key(struct view *v, int key)
{
    struct view before;
    memcpy(&before, v, sizeof before);
    switch (key) {
    case 'l':
        if (!prompt(v, "level (TRACE..FATAL, empty: any): "))
            return;
        if (!v->prompt_buf[0]) {
            v->min_level = -1;
        } else {
            int level = parse_level(v->prompt_buf, 0);
            if (level < 0) {
                view_message(v, 1, "not a level: '%s'", v->prompt_buf);
                return;
            }
            v->min_level = level;
        }
        break;
    case 'a':
    case 'c':
    case 'T': {
        char *dst = key == 'a' ? v->app : key == 'c' ? v->category : v->thread;
        if (!prompt(v, key == 'a' ? "app (empty: any): " : key == 'c' ? "category (empty: any): "
                                                                         : "thread, name or tid (empty: any): "))
            return;
        snprintf(dst, sizeof v->app, "%.63s", v->prompt_buf);
        break;
    }
    case 'p':
        if (!prompt(v, "pid (empty: any): "))
            return;
        v->pid = (uint32_t)strtoul(v->prompt_buf, NULL, 10);
        break;
    case 'w':
        if (!prompt(v, "where NAME=VALUE, NAME!=V, NAME<N ... (added; empty: clear them): "))
            return;
        if (!v->prompt_buf[0]) {
            while (v->nwhere)
                free(v->where[--v->nwhere]);
        } else if (v->nwhere == VIEW_WHERE_MAX) {
            view_message(v, 1, "at most %d where terms", VIEW_WHERE_MAX);
            return;
        } else if (!(v->where[v->nwhere++] = strdup(v->prompt_buf))) {
            dump_oom();
        }
        break;
    case 'x':
        v->min_level = -1;
        v->category[0] = v->app[0] = v->thread[0] = '\0';
        v->pid = 0;
        while (v->nwhere)
            free(v->where[--v->nwhere]);
        break;
    }
    refilter(v, &before);
}

static void jump_key(struct view *v)
{
    if (!prompt(v, "jump to time (as --since: 2026-11-26T08:00:00Z, 08:00, -5m, unix seconds): "))
        return;
    uint64_t ns;
    char err[512];
    if (shmlog_read_parse_time(v->prompt_buf, v->local_time, &ns, err, sizeof err) != 0) {
        view_message(v, 1, "%s", err);
        return;
    }
    v->follow = 0;
    go_to(v, (struct vpos){ns, 0});
    if (!v->nrows)
        go_end(v);
}

/* Follow: when the files changed, the screen again from its top; once a screen's worth is past it, the
 * last screen. */
static void follow_tick(struct view *v)
{
    uint64_t signature = inputs_signature(v);
    if (signature == v->follow_signature && !v->live) /* the rings change without the files */
        return;
    v->follow_signature = signature;
    v->ticked = 1;
    struct vpos top = v->top;
    if (v->nrows && v->rows[0].live)
        top = (struct vpos){top.ts > VIEW_LIVE_SLACK_NS ? top.ts - VIEW_LIVE_SLACK_NS : 0, 0};
    fill(v, top);
    if (v->has_next)
        go_end(v);
    v->cursor = v->nrows ? v->nrows - 1 : 0;
}

static void on_view_signal(int sig)
{
    (void)sig;
    view_stop = 1;
}

static void resize(struct view *v)
{
    int cap = list_rows(v);
    struct vrow *rows = realloc(v->rows, (size_t)cap * sizeof *rows);
    if (!rows)
        dump_oom();
    v->rows = rows;
    v->cap = cap;
    if (v->nrows > cap)
        v->nrows = cap;
    fill(v, v->nrows ? v->top : (struct vpos){v->since_ns, 0});
}

/* 0 to go on, 1 to quit. */
static int key(struct view *v, int c)
{
    if (c != ERR)
        v->msg[0] = '\0';
    switch (c) {
    case ERR:
        if (v->follow)
            follow_tick(v);
        return 0;
    case 'q':
    case 'Q':
        return 1;
    case KEY_RESIZE:
        resize(v);
        return 0;
    case KEY_DOWN:
    case 'j':
        line_down(v);
        break;
    case KEY_UP:
    case 'k':
        line_up(v);
        break;
    case KEY_NPAGE:
    case ' ':
    case 'f' & 0x1f:
        page_down(v);
        break;
    case KEY_PPAGE:
    case 'b':
    case 'b' & 0x1f:
        page_up(v, v->cap);
        break;
    case KEY_HOME:
    case 'g':
    case '<':
        go_start(v);
        break;
    case KEY_END:
    case 'G':
    case '>':
        go_end(v);
        return 0;
    case 'F':
        v->follow = !v->follow;
        if (v->follow) {
            v->follow_signature = inputs_signature(v); /* before: what changes while it reads is read next */
            go_end(v);
        }
        return 0;
    case ':':
        jump_key(v);
        return 0;
    case '/':
    case '?':
        if (prompt(v, c == '/' ? "/" : "?")) {
            set_search(v, v->prompt_buf);
            if (c == '/')
                search_forward(v);
            else
                search_backward(v);
        }
        break;
    case 'n':
        search_forward(v);
        break;
    case 'N':
        search_backward(v);
        break;
    case '\n':
    case '\r':
    case KEY_ENTER:
    case 'd':
        v->detail = !v->detail;
        resize(v);
        return 0;
    case 'l':
    case 'a':
    case 'c':
    case 'T':
    case 'p':
    case 'w':
    case 'x':
        filter_key(v, c);
        break;
    case 'r' & 0x1f:
        clearok(stdscr, TRUE);
        return 0;
    default:
        return 0;
    }
    v->follow = 0; /* a move of one's own ends following */
    return 0;
}

int cmd_view(struct cli *cli)
{
    int nargs;
    const char *const *args = input_args(cli, &nargs);
    const char **paths = calloc((size_t)nargs, sizeof *paths);
    if (!paths)
        dump_oom();
    size_t n = 0;
    for (int i = 0; i < nargs; i++) {
        struct stat st;
        if (shlog_is_kafka_url(args[i])) {
            char msg[4096 + 200];
            snprintf(msg, sizeof msg, "%s: view reads files; mirror the topic first (shmlog-dump mirror %s --out DIR)",
                     args[i], args[i]);
            dump_say(msg, 0);
            free(paths);
            return 1;
        }
        if (stat_input(cli, args[i], &st) != 0) {
            free(paths);
            return 1;
        }
        paths[n++] = args[i];
    }
    struct view *v = calloc(1, sizeof *v);
    if (!v || !(v->line = malloc(VIEW_LINE_BUF)))
        dump_oom();
    const struct read_filter *f = &cli->filter;
    v->paths = paths;
    v->npaths = n;
    v->local_time = cli->local_time;
    v->merge_bytes = cli->merge_bytes;
    v->since_ns = f->since_ns;
    v->until_ns = f->until_ns == UINT64_MAX ? 0 : f->until_ns;
    v->grep = cli->grep_arg;
    v->min_level = f->min_level;
    snprintf(v->category, sizeof v->category, "%s", f->category);
    snprintf(v->app, sizeof v->app, "%s", f->app ? f->app : "");
    snprintf(v->thread, sizeof v->thread, "%s", f->thread ? f->thread : "");
    v->pid = f->pid;
    for (size_t i = 0; i < cli->nwhere && i < VIEW_WHERE_MAX; i++)
        if (!(v->where[v->nwhere++] = strdup(cli->where_args[i])))
            dump_oom();
    v->follow = cli->follow;
    v->live = cli->live;
    v->cli = cli;

    /* The command line's filters are checked before the screen is taken. */
    struct shmlog_read *probe = pass_open(v, 0);
    if (!probe) {
        dump_say(v->msg, 0);
        return EXIT_USAGE;
    }
    shmlog_read_close(probe);

    setlocale(LC_ALL, "");
    if (!initscr()) {
        dump_say("view: cannot start the terminal (is TERM set?)", 0);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_view_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL); /* ^C quits through endwin(), which gives the terminal back */
    sigaction(SIGHUP, &sa, NULL);
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    timeout(VIEW_TICK_MS);
    curs_set(0);
    resize(v);
    if (v->follow) {
        v->follow_signature = inputs_signature(v);
        go_end(v);
    }
    /* A tick with nothing new draws nothing: the detail pane reads its record again at each draw. */
    int changed = 1;
    while (!view_stop) {
        if (changed)
            draw(v);
        int c = getch();
        if (key(v, c))
            break;
        changed = c != ERR || v->ticked;
        v->ticked = 0;
    }
    endwin();
    if (v->has_re)
        regfree(&v->re);
    while (v->nwhere)
        free(v->where[--v->nwhere]);
    free(v->rows);
    free(v->line);
    free(v);
    free(paths);
    return 0;
}
