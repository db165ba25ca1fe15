/*
 * shmlog-dump - inspect shmlog segments: list them, and decode what is still in
 * the rings of a live or dead process, as text or JSON Lines.
 *
 *   shmlog-dump segments [--dir D]... [--pid P] [--format text|json]
 *   shmlog-dump ring     [--dir D]... [--pid P] [--format text|json]
 *
 * Segments are mapped read-only and never modified. Everything in them is
 * validated by shm/reader.c; rendering is tools/render.c.
 *
 * Exit status: 0 done, 1 a runtime failure (e.g. an unreadable --dir), 2 usage.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reader.h"
#include "render.h"

#ifndef SHMLOG_VERSION
#define SHMLOG_VERSION "unknown"
#endif

#define MAX_DIRS 16
#define EXIT_USAGE 2

static const char *prog = "shmlog-dump";

/* ==== Output: one large buffer, written in big chunks ==== */

static char out_mem[4u << 20];
static size_t out_len;
static int out_failed;

static void out_flush(void)
{
    if (out_len && !out_failed && fwrite(out_mem, 1, out_len, stdout) != out_len)
        out_failed = 1;
    out_len = 0;
}

/* A buffer over the free end of the output, with room for any one line. */
static struct shmlog_buf out_begin(void)
{
    struct shmlog_buf b;
    if (sizeof out_mem - out_len < SHMLOG_RENDER_LINE_MAX)
        out_flush();
    shmlog_buf_init(&b, out_mem + out_len, sizeof out_mem - out_len);
    return b;
}

static void out_end(const struct shmlog_buf *b)
{
    out_len += b->len;
}

/* ==== Command line ==== */

enum opt_id { OPT_DIR, OPT_PID, OPT_FORMAT, OPT_HELP };

struct opt_spec {
    const char *name; /* long name, without "--" */
    char short_name;
    int has_value;
    enum opt_id id;
};

static const struct opt_spec all_opts[] = {
    {"dir", 'd', 1, OPT_DIR},
    {"pid", 'p', 1, OPT_PID},
    {"format", 'f', 1, OPT_FORMAT},
    {"help", 'h', 0, OPT_HELP},
};

/* What any subcommand may be given. Subcommands say which options they take. */
struct cli {
    const char *command;
    char dirs[MAX_DIRS][4096];
    int ndirs;
    int dirs_explicit;
    uint32_t pid; /* 0: every process */
    int json;
    int help;
    int npositional;
    char **positional;
};

struct command {
    const char *name;
    int (*run)(struct cli *cli);
    unsigned opts;       /* bit (1 << OPT_*) per accepted option */
    int max_positional;
    const char *usage;
    const char *summary;
};

static int cmd_segments(struct cli *cli);
static int cmd_ring(struct cli *cli);

#define SEGMENT_OPTS ((1u << OPT_DIR) | (1u << OPT_PID) | (1u << OPT_FORMAT) | (1u << OPT_HELP))

static const struct command commands[] = {
    {"segments", cmd_segments, SEGMENT_OPTS, 0,
     "segments [--dir D]... [--pid P] [--format text|json]",
     "one line per process (meta segment) and per ring: state, level, sites, fill, drops"},
    {"ring", cmd_ring, SEGMENT_OPTS, 0,
     "ring [--dir D]... [--pid P] [--format text|json]",
     "decode every record still in the rings (also of a dead process), merged in time order"},
};

static void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void usage_error(const char *fmt, ...)
{
    /* One line, then exit 2: scripts see a clear reason and a usage failure. */
    va_list ap;
    out_flush();
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see '%s --help')\n", prog);
    exit(EXIT_USAGE);
}

static void print_help(FILE *f)
{
    fprintf(f,
            "usage: %s <command> [options]\n"
            "       %s --help | --version\n\n"
            "Inspect shmlog segments and decode records, as text or JSON Lines.\n\ncommands:\n",
            prog, prog);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n             %s %s\n", commands[i].name, commands[i].summary, prog,
                commands[i].usage);
    fprintf(f,
            "\noptions:\n"
            "  -d, --dir D        a segment directory (repeatable); default: $SHMLOG_DIR, else\n"
            "                     <hugetlbfs>/shmlog and /dev/shm/shmlog\n"
            "  -p, --pid P        only the process with this pid\n"
            "  -f, --format F     text (default) or json (JSON Lines; keys in tools/render.h)\n"
            "  -h, --help         this help\n\n"
            "Segments are opened read-only, whoever owns them, and never modified.\n"
            "exit status: 0 ok, 1 runtime failure, 2 bad usage\n");
}

static const struct opt_spec *find_long(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof all_opts / sizeof all_opts[0]; i++)
        if (strlen(all_opts[i].name) == len && memcmp(all_opts[i].name, name, len) == 0)
            return &all_opts[i];
    return NULL;
}

static const struct opt_spec *find_short(char c)
{
    for (size_t i = 0; i < sizeof all_opts / sizeof all_opts[0]; i++)
        if (all_opts[i].short_name == c)
            return &all_opts[i];
    return NULL;
}

static void apply_opt(struct cli *cli, const struct opt_spec *o, const char *value)
{
    switch (o->id) {
    case OPT_DIR:
        if (cli->ndirs >= MAX_DIRS)
            usage_error("too many --dir options (at most %d)", MAX_DIRS);
        if (strlen(value) >= sizeof cli->dirs[0])
            usage_error("--dir path too long: %.64s", value);
        if (!cli->dirs_explicit)
            cli->ndirs = 0;
        cli->dirs_explicit = 1;
        strcpy(cli->dirs[cli->ndirs++], value);
        break;
    case OPT_PID: {
        char *end;
        errno = 0;
        unsigned long v = strtoul(value, &end, 10);
        if (errno || end == value || *end || v == 0 || v > 0x7fffffffUL || value[0] == '-')
            usage_error("--pid wants a process id, not '%s'", value);
        cli->pid = (uint32_t)v;
        break;
    }
    case OPT_FORMAT:
        if (strcmp(value, "text") == 0)
            cli->json = 0;
        else if (strcmp(value, "json") == 0)
            cli->json = 1;
        else
            usage_error("--format wants text or json, not '%s'", value);
        break;
    case OPT_HELP:
        cli->help = 1;
        break;
    }
}

/* Parses the options of one subcommand: --name value, --name=value, -x value,
 * "--" ends options. Positional arguments are collected in order. */
static void parse_options(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
    cli->positional = argv;
    cli->npositional = 0;
    int only_positional = 0;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        const struct opt_spec *o = NULL;
        const char *value = NULL;
        if (only_positional || a[0] != '-' || a[1] == '\0') {
            if (cli->npositional >= cmd->max_positional)
                usage_error("unexpected argument '%s'", a);
            cli->positional[cli->npositional++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_positional = 1;
            continue;
        }
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
            o = find_long(a + 2, len);
            if (eq)
                value = eq + 1;
        } else if (a[2] == '\0') {
            o = find_short(a[1]);
        }
        if (!o || !(cmd->opts & (1u << o->id)))
            usage_error("%s: unknown option '%s'", cmd->name, a);
        if (o->has_value && !value) {
            if (i + 1 >= argc)
                usage_error("option '%s' needs a value", a);
            value = argv[++i];
        } else if (!o->has_value && value) {
            usage_error("option '%s' takes no value", a);
        }
        apply_opt(cli, o, value);
    }
}

/* ==== Segment discovery ==== */

struct seg_entry {
    char path[4096];
    const char *dir;
    unsigned kind;
    char app[SHMLOG_APP_BYTES];
    uint32_t pid;
    uint32_t cpu;
};

struct seg_list {
    struct seg_entry *v;
    size_t n, cap;
};

static int seg_entry_cmp(const void *a, const void *b)
{
    const struct seg_entry *x = a, *y = b;
    int c = strcmp(x->dir, y->dir);
    if (c)
        return c;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    c = strcmp(x->app, y->app);
    if (c)
        return c;
    if (x->kind != y->kind) /* the meta segment first */
        return x->kind == SHMLOG_SEG_META ? -1 : 1;
    return x->cpu < y->cpu ? -1 : x->cpu > y->cpu;
}

/* Collects the segment files of every directory, sorted by directory, process
 * and cpu. Returns 0, or 1 when an explicitly named directory is unreadable. */
static int scan_dirs(const struct cli *cli, struct seg_list *list)
{
    int status = 0;
    for (int d = 0; d < cli->ndirs; d++) {
        DIR *dir = opendir(cli->dirs[d]);
        if (!dir) {
            if (cli->dirs_explicit) {
                fprintf(stderr, "%s: %s: %s\n", prog, cli->dirs[d], strerror(errno));
                status = 1;
            }
            continue;
        }
        struct dirent *de;
        while ((de = readdir(dir)) != NULL) {
            struct seg_entry e;
            memset(&e, 0, sizeof e);
            if (shmlog_parse_seg_name(de->d_name, &e.kind, e.app, sizeof e.app, &e.pid, &e.cpu) != 0)
                continue;
            if (cli->pid && e.pid != cli->pid)
                continue;
            if ((size_t)snprintf(e.path, sizeof e.path, "%s/%s", cli->dirs[d], de->d_name) >= sizeof e.path)
                continue;
            e.dir = cli->dirs[d];
            if (list->n == list->cap) {
                size_t cap = list->cap ? list->cap * 2 : 64;
                struct seg_entry *v = realloc(list->v, cap * sizeof *v);
                if (!v) {
                    fprintf(stderr, "%s: out of memory listing %s\n", prog, cli->dirs[d]);
                    closedir(dir);
                    return 1;
                }
                list->v = v;
                list->cap = cap;
            }
            list->v[list->n++] = e;
        }
        closedir(dir);
    }
    if (list->n)
        qsort(list->v, list->n, sizeof list->v[0], seg_entry_cmp);
    return status;
}

static int same_process(const struct seg_entry *a, const struct seg_entry *b)
{
    return a->dir == b->dir && a->pid == b->pid && strcmp(a->app, b->app) == 0;
}

/* Opens a segment read-only. The dump is an inspection tool: it accepts any
 * owner whose file it may read (the reader validates the contents anyway). */
static int open_segment(const struct seg_entry *e, struct shmlog_seg *seg, char *err, size_t errcap)
{
    struct stat st;
    if (lstat(e->path, &st) != 0) {
        snprintf(err, errcap, "%s: %s", e->path, strerror(errno));
        return -errno;
    }
    uid_t owner = st.st_uid;
    return shmlog_seg_open(seg, e->path, 0, &owner, 1, err, errcap);
}

/* ==== Output pieces ==== */

static void put_json_kv_str(struct shmlog_buf *b, const char *key, const char *value)
{
    shmlog_buf_putc(b, ',');
    shmlog_buf_putc(b, '"');
    shmlog_buf_puts(b, key);
    shmlog_buf_puts(b, "\":");
    shmlog_json_string(b, value, strlen(value));
}

static void put_json_kv_u64(struct shmlog_buf *b, const char *key, uint64_t v)
{
    shmlog_buf_putc(b, ',');
    shmlog_buf_putc(b, '"');
    shmlog_buf_puts(b, key);
    shmlog_buf_puts(b, "\":");
    shmlog_buf_u64(b, v);
}

static void put_json_kv_bool(struct shmlog_buf *b, const char *key, int v)
{
    shmlog_buf_putc(b, ',');
    shmlog_buf_putc(b, '"');
    shmlog_buf_puts(b, key);
    shmlog_buf_puts(b, v ? "\":true" : "\":false");
}

/* Text values from shared memory may hold anything: show them through the
 * JSON escaper without the quotes, so a hostile name cannot break the line. */
static void put_text_safe(struct shmlog_buf *b, const char *s)
{
    size_t start = b->len;
    shmlog_json_string(b, s, strlen(s));
    if (b->overflow || b->len - start < 2)
        return;
    memmove(b->data + start, b->data + start + 1, b->len - start - 2);
    b->len -= 2;
}

static const char *level_text(uint32_t level)
{
    const char *name = shmlog_level_name(level);
    return name ? name : level == SHMLOG_LEVEL_OFF ? "OFF" : "?";
}

static const char *policy_name(uint32_t policy)
{
    switch (policy) {
    case SHMLOG_DROP: return "drop";
    case SHMLOG_OVERWRITE: return "overwrite";
    case SHMLOG_SPIN: return "spin";
    default: return "?";
    }
}

static void report_invalid(const struct cli *cli, const struct seg_entry *e, const char *err)
{
    struct shmlog_buf b = out_begin();
    if (cli->json) {
        shmlog_buf_puts(&b, "{\"kind\":\"invalid\"");
        put_json_kv_str(&b, "path", e->path);
        put_json_kv_str(&b, "error", err);
        shmlog_buf_puts(&b, "}\n");
    } else {
        shmlog_buf_puts(&b, "invalid ");
        put_text_safe(&b, err);
        shmlog_buf_putc(&b, '\n');
    }
    out_end(&b);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ==== segments ==== */

static void print_process(const struct cli *cli, const struct seg_entry *e, const struct shmlog_seg *seg,
                          const struct shmlog_proc_info *info, int alive)
{
    struct shmlog_buf b = out_begin();
    int huge = (seg->hdr.flags & SHMLOG_SEG_HUGEPAGES) != 0;
    int closed = (info->flags & SHMLOG_SEG_CLOSED) != 0;
    if (cli->json) {
        shmlog_buf_puts(&b, "{\"kind\":\"process\"");
        put_json_kv_str(&b, "path", e->path);
        put_json_kv_str(&b, "app", info->app);
        put_json_kv_u64(&b, "pid", info->pid);
        put_json_kv_str(&b, "host", info->host);
        put_json_kv_bool(&b, "alive", alive);
        put_json_kv_bool(&b, "closed", closed);
        put_json_kv_str(&b, "level", level_text(info->level));
        put_json_kv_u64(&b, "sites", info->site_count);
        put_json_kv_u64(&b, "site_capacity", info->site_capacity);
        put_json_kv_u64(&b, "unregistered", info->unregistered);
        put_json_kv_bool(&b, "hugepages", huge);
        put_json_kv_u64(&b, "uid", info->uid);
        put_json_kv_u64(&b, "tsc_hz", info->tsc_hz);
        put_json_kv_u64(&b, "created_ns", info->created_ns);
        shmlog_buf_puts(&b, "}\n");
    } else {
        put_text_safe(&b, info->app);
        shmlog_buf_putc(&b, '[');
        shmlog_buf_u64(&b, info->pid);
        shmlog_buf_puts(&b, alive ? "] alive" : "] dead");
        if (closed)
            shmlog_buf_puts(&b, " (closed)");
        shmlog_buf_puts(&b, " level=");
        shmlog_buf_puts(&b, level_text(info->level));
        shmlog_buf_puts(&b, " sites=");
        shmlog_buf_u64(&b, info->site_count);
        shmlog_buf_putc(&b, '/');
        shmlog_buf_u64(&b, info->site_capacity);
        shmlog_buf_puts(&b, " unregistered=");
        shmlog_buf_u64(&b, info->unregistered);
        shmlog_buf_puts(&b, huge ? " hugepages=yes" : " hugepages=no");
        shmlog_buf_puts(&b, " host=");
        put_text_safe(&b, info->host);
        shmlog_buf_puts(&b, " uid=");
        shmlog_buf_u64(&b, info->uid);
        shmlog_buf_puts(&b, " created=");
        shmlog_buf_rfc3339(&b, info->created_ns);
        shmlog_buf_puts(&b, " path=");
        put_text_safe(&b, e->path);
        shmlog_buf_putc(&b, '\n');
    }
    out_end(&b);
}

static void print_ring(const struct cli *cli, const struct seg_entry *e, const struct shmlog_seg *seg,
                       const struct shmlog_ring_view *v, int alive)
{
    uint64_t head = shmlog_ring_head(v);
    uint64_t tail = shmlog_ring_tail(v);
    uint64_t fill = head - tail > v->cap ? v->cap : head - tail;
    uint64_t dropped = shmlog_ring_dropped(v);
    uint64_t lost = shmlog__load_relaxed(&v->hdr->lost);
    int huge = (seg->hdr.flags & SHMLOG_SEG_HUGEPAGES) != 0;
    /* Tenths of a percent, in integers. */
    uint64_t permille = v->cap ? fill * 1000 / v->cap : 0;

    struct shmlog_buf b = out_begin();
    if (cli->json) {
        shmlog_buf_puts(&b, "{\"kind\":\"ring\"");
        put_json_kv_str(&b, "path", e->path);
        put_json_kv_str(&b, "app", e->app);
        put_json_kv_u64(&b, "pid", seg->hdr.pid);
        put_json_kv_bool(&b, "alive", alive);
        put_json_kv_u64(&b, "cpu", v->cpu);
        shmlog_buf_puts(&b, ",\"node\":");
        shmlog_buf_i64(&b, v->numa_node);
        put_json_kv_bool(&b, "hugepages", huge);
        put_json_kv_str(&b, "policy", policy_name(v->policy));
        put_json_kv_u64(&b, "capacity", v->cap);
        put_json_kv_u64(&b, "fill", fill);
        shmlog_buf_puts(&b, ",\"fill_pct\":");
        shmlog_buf_u64(&b, permille / 10);
        shmlog_buf_putc(&b, '.');
        shmlog_buf_u64(&b, permille % 10);
        put_json_kv_u64(&b, "head", head);
        put_json_kv_u64(&b, "tail", tail);
        put_json_kv_u64(&b, "dropped", dropped);
        put_json_kv_u64(&b, "lost", lost);
        shmlog_buf_puts(&b, "}\n");
    } else {
        shmlog_buf_puts(&b, "  cpu");
        shmlog_buf_u64(&b, v->cpu);
        shmlog_buf_puts(&b, " node=");
        shmlog_buf_i64(&b, v->numa_node);
        shmlog_buf_puts(&b, huge ? " hugepages=yes" : " hugepages=no");
        shmlog_buf_puts(&b, " policy=");
        shmlog_buf_puts(&b, policy_name(v->policy));
        shmlog_buf_puts(&b, " capacity=");
        shmlog_buf_u64(&b, v->cap);
        shmlog_buf_puts(&b, " fill=");
        shmlog_buf_u64(&b, fill);
        shmlog_buf_puts(&b, " (");
        shmlog_buf_u64(&b, permille / 10);
        shmlog_buf_putc(&b, '.');
        shmlog_buf_u64(&b, permille % 10);
        shmlog_buf_puts(&b, "%) head=");
        shmlog_buf_u64(&b, head);
        shmlog_buf_puts(&b, " tail=");
        shmlog_buf_u64(&b, tail);
        shmlog_buf_puts(&b, " dropped=");
        shmlog_buf_u64(&b, dropped);
        shmlog_buf_puts(&b, " lost=");
        shmlog_buf_u64(&b, lost);
        if (!alive)
            shmlog_buf_puts(&b, " (writer dead)");
        shmlog_buf_putc(&b, '\n');
    }
    out_end(&b);
}

static int cmd_segments(struct cli *cli)
{
    struct seg_list list = {0};
    int status = scan_dirs(cli, &list);
    char err[4096 + 256];

    for (size_t i = 0; i < list.n;) {
        size_t end = i + 1;
        while (end < list.n && same_process(&list.v[i], &list.v[end]))
            end++;
        for (size_t j = i; j < end; j++) {
            const struct seg_entry *e = &list.v[j];
            struct shmlog_seg seg;
            if (open_segment(e, &seg, err, sizeof err) != 0) {
                report_invalid(cli, e, err);
                continue;
            }
            int alive = shmlog_proc_alive(seg.hdr.pid, seg.hdr.proc_start);
            if (e->kind == SHMLOG_SEG_META) {
                struct shmlog_proc_info info;
                if (shmlog_meta_info(&seg, &info, err, sizeof err) != 0)
                    report_invalid(cli, e, err);
                else
                    print_process(cli, e, &seg, &info, alive);
            } else {
                struct shmlog_ring_view v;
                if (shmlog_ring_view_init(&v, &seg, err, sizeof err) != 0)
                    report_invalid(cli, e, err);
                else
                    print_ring(cli, e, &seg, &v, alive);
            }
            shmlog_seg_close(&seg);
        }
        i = end;
    }
    free(list.v);
    return status;
}

/* ==== ring ==== */

/* Call sites of one process, copied out of the meta segment on first use. */
struct site_cache {
    const struct shmlog_seg *meta;
    uint32_t capacity;
    struct shmlog_site_info **sites;
    uint8_t *state; /* 0 not looked up, 1 loaded, 2 missing or corrupt */
};

static const struct shmlog_site_info *site_lookup(struct site_cache *c, uint32_t id)
{
    if (id >= c->capacity)
        return NULL;
    if (c->state[id] == 0) {
        struct shmlog_site_info *s = malloc(sizeof *s);
        if (s && shmlog_meta_site(c->meta, id, s) == 0) {
            c->sites[id] = s;
            c->state[id] = 1;
        } else {
            free(s);
            c->state[id] = 2;
        }
    }
    return c->state[id] == 1 ? c->sites[id] : NULL;
}

static void site_cache_free(struct site_cache *c)
{
    for (uint32_t i = 0; c->sites && i < c->capacity; i++)
        free(c->sites[i]);
    free(c->sites);
    free(c->state);
}

/* One ring being read from its tail to the head seen at open. */
struct ring_cursor {
    struct shmlog_seg seg;
    struct shmlog_ring_view view;
    uint64_t pos;
    uint64_t end;
    struct shmlog_rec rec; /* the pending record when has_rec */
    int has_rec;
};

struct ring_ctx {
    const struct cli *cli;
    const struct shmlog_proc_info *info;
    struct site_cache *sites;
    int writer_dead;
    uint64_t last_ns; /* time of the last record shown: loss markers use it */
};

static void emit_loss(struct ring_ctx *ctx, const struct ring_cursor *c, const struct shmlog_loss *loss)
{
    struct shmlog_render_input in = {ctx->info->app, ctx->info->host, ctx->info->pid, c->view.cpu,
                                     ctx->last_ns, NULL, NULL};
    struct shmlog_buf b = out_begin();
    shmlog_render_loss(&in, loss, ctx->cli->json, &b);
    out_end(&b);
}

/* Advances c to its next record; loss results met on the way are shown now. */
static void cursor_fill(struct ring_ctx *ctx, struct ring_cursor *c)
{
    c->has_rec = 0;
    while (c->pos < c->end) {
        struct shmlog_loss loss;
        int r = shmlog_ring_next(&c->view, &c->pos, &c->rec, ctx->writer_dead, &loss);
        if (r == SHMLOG_READ_RECORD) {
            /* A live writer may have added records past the snapshot: not ours. */
            c->has_rec = c->rec.pos < c->end;
            return;
        }
        if (r == SHMLOG_READ_LOSS) {
            emit_loss(ctx, c, &loss);
            continue;
        }
        return; /* EMPTY, or PENDING: a live writer is still writing that record */
    }
}

static void emit_record(struct ring_ctx *ctx, const struct ring_cursor *c)
{
    uint64_t ts = shmlog_tsc_to_ns(ctx->info, c->rec.tsc);
    struct shmlog_render_input in = {ctx->info->app, ctx->info->host, ctx->info->pid, c->view.cpu, ts,
                                     site_lookup(ctx->sites, c->rec.site), &c->rec};
    struct shmlog_buf b = out_begin();
    shmlog_render_record(&in, ctx->cli->json, &b);
    out_end(&b);
    ctx->last_ns = ts;
}

/* Min-heap of cursor indices by the TSC of their pending record. */
static int heap_less(struct ring_cursor *cur, int a, int b)
{
    if (cur[a].rec.tsc != cur[b].rec.tsc)
        return cur[a].rec.tsc < cur[b].rec.tsc;
    return a < b;
}

static void heap_down(struct ring_cursor *cur, int *heap, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && heap_less(cur, heap[l], heap[m]))
            m = l;
        if (r < n && heap_less(cur, heap[r], heap[m]))
            m = r;
        if (m == i)
            return;
        int t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
}

/* Every record of one process's rings, merged in TSC order. */
static void dump_process(const struct cli *cli, const struct seg_entry *entries, size_t n)
{
    char err[4096 + 256];
    struct shmlog_seg meta;
    struct shmlog_proc_info info;
    const struct seg_entry *meta_entry = entries[0].kind == SHMLOG_SEG_META ? &entries[0] : NULL;

    if (!meta_entry) {
        fprintf(stderr, "%s: %s[%u]: no metadata segment, its %zu ring(s) cannot be decoded\n", prog,
                entries[0].app, entries[0].pid, n);
        return;
    }
    if (open_segment(meta_entry, &meta, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return;
    }
    if (shmlog_meta_info(&meta, &info, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        shmlog_seg_close(&meta);
        return;
    }

    struct site_cache sites = {&meta, info.site_capacity, calloc(info.site_capacity ? info.site_capacity : 1,
                                                                 sizeof(struct shmlog_site_info *)),
                               calloc(info.site_capacity ? info.site_capacity : 1, 1)};
    struct ring_cursor *cur = calloc(n, sizeof *cur);
    int *heap = calloc(n, sizeof *heap);
    if (!sites.sites || !sites.state || !cur || !heap) {
        fprintf(stderr, "%s: out of memory for %s\n", prog, meta_entry->path);
        goto out;
    }

    struct ring_ctx ctx = {cli, &info, &sites, !shmlog_proc_alive(info.pid, info.proc_start), 0};
    int nrings = 0;
    for (size_t i = 1; i < n; i++) {
        struct ring_cursor *c = &cur[nrings];
        if (open_segment(&entries[i], &c->seg, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", prog, err);
            continue;
        }
        if (shmlog_ring_view_init(&c->view, &c->seg, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", prog, err);
            shmlog_seg_close(&c->seg);
            continue;
        }
        c->pos = shmlog_ring_tail(&c->view);
        c->end = shmlog_ring_head(&c->view);
        nrings++;
    }
    ctx.last_ns = info.created_ns;

    int nheap = 0;
    for (int i = 0; i < nrings; i++) {
        cursor_fill(&ctx, &cur[i]);
        if (cur[i].has_rec)
            heap[nheap++] = i;
    }
    for (int i = nheap / 2 - 1; i >= 0; i--)
        heap_down(cur, heap, nheap, i);
    while (nheap > 0) {
        struct ring_cursor *c = &cur[heap[0]];
        emit_record(&ctx, c);
        cursor_fill(&ctx, c);
        if (!c->has_rec)
            heap[0] = heap[--nheap];
        heap_down(cur, heap, nheap, 0);
    }

    /* Drops never reached a ring: one marker per ring with its total. */
    for (int i = 0; i < nrings; i++) {
        uint64_t dropped = shmlog_ring_dropped(&cur[i].view);
        if (dropped) {
            struct shmlog_loss loss = {cur[i].end, 0, dropped, SHMLOG_LOSS_DROPPED};
            ctx.last_ns = ctx.last_ns ? ctx.last_ns : now_ns();
            emit_loss(&ctx, &cur[i], &loss);
        }
        shmlog_seg_close(&cur[i].seg);
    }
out:
    free(heap);
    free(cur);
    site_cache_free(&sites);
    shmlog_seg_close(&meta);
}

static int cmd_ring(struct cli *cli)
{
    struct seg_list list = {0};
    int status = scan_dirs(cli, &list);
    for (size_t i = 0; i < list.n;) {
        size_t end = i + 1;
        while (end < list.n && same_process(&list.v[i], &list.v[end]))
            end++;
        dump_process(cli, &list.v[i], end - i);
        i = end;
    }
    free(list.v);
    return status;
}

/* ==== main ==== */

int main(int argc, char **argv)
{
    static struct cli cli;

    if (argc < 2)
        usage_error("no command given");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        print_help(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("%s %s\n", prog, SHMLOG_VERSION);
        return 0;
    }
    const struct command *cmd = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            cmd = &commands[i];
    if (!cmd) {
        if (argv[1][0] == '-')
            usage_error("unknown option '%s' (a command comes first)", argv[1]);
        usage_error("unknown command '%s'", argv[1]);
    }

    cli.command = cmd->name;
    cli.ndirs = shmlog_default_dirs(cli.dirs, MAX_DIRS);
    parse_options(&cli, cmd, argc - 2, argv + 2);
    if (cli.help) {
        printf("usage: %s %s\n  %s\n", prog, cmd->usage, cmd->summary);
        return 0;
    }
    int status = cmd->run(&cli);
    out_flush();
    if (fflush(stdout) != 0 || out_failed) {
        fprintf(stderr, "%s: writing output: %s\n", prog, strerror(errno));
        return 1;
    }
    return status;
}
