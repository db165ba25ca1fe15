/*
 * shmlog-dump - inspect shmlog segments and decode collector files, as text
 * or JSON Lines.
 *
 *   shmlog-dump segments  [--dir D]... [--pid P] [--format text|json]
 *   shmlog-dump ring      [--dir D]... [filters] [--format text|json]
 *   shmlog-dump read      FILE|DIR... [filters] [--format text|json]
 *   shmlog-dump stats     FILE|DIR... [filters] [--format text|json]
 *   shmlog-dump follow    [--out O] [filters] [--format text|json]
 *   shmlog-dump verify    FILE|DIR...
 *   shmlog-dump status    [--dir D]... [--out O] [--watch S] [--metrics-file F] [--format text|json]
 *   shmlog-dump set-level (--pid P | --app A) LEVEL [--dir D]...
 *
 * Segments are mapped read-only and never modified, except the one word
 * set-level stores. Everything in them is validated by shm/reader.c, files by
 * the file format's decoder (collector/shlog_decode_*.c); rendering is tools/render.c. File commands are in
 * dump_files.c.
 *
 * Exit status: 0 done, 1 a runtime failure or damaged input, 2 usage,
 * 3 (status) drops grew during the sample.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "dump.h"
#include "shlog_file.h"

#ifndef SHMLOG_VERSION
#define SHMLOG_VERSION "unknown"
#endif

/* ==== Command line ==== */

enum opt_id {
    OPT_DIR, OPT_PID, OPT_FORMAT, OPT_HELP, OPT_LEVEL, OPT_CATEGORY, OPT_APP, OPT_SINCE, OPT_UNTIL,
    OPT_GREP, OPT_LIMIT, OPT_OUT, OPT_WATCH, OPT_METRICS, OPT_FORCE,
};

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
    {"level", 0, 1, OPT_LEVEL},
    {"category", 0, 1, OPT_CATEGORY},
    {"app", 0, 1, OPT_APP},
    {"since", 0, 1, OPT_SINCE},
    {"until", 0, 1, OPT_UNTIL},
    {"grep", 0, 1, OPT_GREP},
    {"limit", 'n', 1, OPT_LIMIT},
    {"out", 'o', 1, OPT_OUT},
    {"watch", 0, 1, OPT_WATCH},
    {"metrics-file", 0, 1, OPT_METRICS},
    {"force", 0, 0, OPT_FORCE},
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
static int cmd_status(struct cli *cli);
static int cmd_set_level(struct cli *cli);
static int cmd_clean(struct cli *cli);

#define BIT(o) (1u << (o))
#define BASE_OPTS (BIT(OPT_FORMAT) | BIT(OPT_HELP))
#define FILTER_OPTS (BIT(OPT_PID) | BIT(OPT_LEVEL) | BIT(OPT_CATEGORY) | BIT(OPT_APP) | BIT(OPT_SINCE) | \
                     BIT(OPT_UNTIL) | BIT(OPT_GREP) | BIT(OPT_LIMIT))
#define MAX_FILE_ARGS 65536

static const struct command commands[] = {
    {"segments", cmd_segments, BASE_OPTS | BIT(OPT_DIR) | BIT(OPT_PID), 0,
     "segments [--dir D]... [--pid P] [--format text|json]",
     "one line per process (meta segment) and per ring: state, level, sites, fill, drops"},
    {"ring", cmd_ring, BASE_OPTS | BIT(OPT_DIR) | FILTER_OPTS, 0,
     "ring [--dir D]... [filters] [--format text|json]",
     "decode every record still in the rings (also of a dead process), merged in time order"},
    {"read", cmd_read, BASE_OPTS | FILTER_OPTS, MAX_FILE_ARGS,
     "read FILE|DIR... [filters] [--format text|json]",
     "decode collector files (a DIR: its .shlog files and the open .part), merged in time order"},
    {"stats", cmd_stats, BASE_OPTS | FILTER_OPTS, MAX_FILE_ARGS,
     "stats FILE|DIR... [filters] [--format text|json]",
     "counts: records, losses, by level, category, app and site; bytes per record, time span, rate"},
    {"follow", cmd_follow, BASE_OPTS | FILTER_OPTS | BIT(OPT_OUT), 0,
     "follow [--out O] [filters] [--format text|json]",
     "print records as the collector writes them (the newest .part in O), across rotations"},
    {"verify", cmd_verify, BASE_OPTS, MAX_FILE_ARGS,
     "verify FILE|DIR...",
     "check every frame, checksum and ring-position run; one line per file; exit 1 unless all whole"},
    {"status", cmd_status, BASE_OPTS | BIT(OPT_DIR) | BIT(OPT_OUT) | BIT(OPT_WATCH) | BIT(OPT_METRICS), 0,
     "status [--dir D]... [--out O] [--watch SECS] [--metrics-file F] [--format text|json]",
     "health: processes, rings, fill, drops, lag; the collector's file and write rate; exit 3 on drops"},
    {"set-level", cmd_set_level, BIT(OPT_HELP) | BIT(OPT_DIR) | BIT(OPT_PID) | BIT(OPT_APP), 1,
     "set-level (--pid P | --app A) LEVEL [--dir D]...",
     "change the live level of running processes (TRACE DEBUG INFO WARN ERROR FATAL OFF)"},
    {"clean", cmd_clean, BIT(OPT_HELP) | BIT(OPT_DIR) | BIT(OPT_FORCE), 0,
     "clean [--dir D]... [--force]",
     "remove the segments of processes that are gone, when no collector runs; records never drained\n"
     "                  keep them unless --force, which says how many it discards"},
};

static void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void usage_error(const char *fmt, ...)
{
    /* One line, then exit 2: scripts see a clear reason and a usage failure. */
    va_list ap;
    out_flush();
    fprintf(stderr, "%s: ", dump_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see '%s --help')\n", dump_prog);
    exit(EXIT_USAGE);
}

static void print_help(FILE *f)
{
    fprintf(f,
            "usage: %s <command> [options]\n"
            "       %s --help | --version\n\n"
            "Inspect shmlog segments and decode records and files, as text or JSON Lines.\n\ncommands:\n",
            dump_prog, dump_prog);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n             %s %s\n", commands[i].name, commands[i].summary, dump_prog,
                commands[i].usage);
    fprintf(f,
            "\noptions:\n"
            "  -d, --dir D        a segment directory (repeatable); default: $SHMLOG_DIR, else\n"
            "                     <hugetlbfs>/shmlog and /dev/shm/shmlog\n"
            "  -f, --format F     text (default) or json (JSON Lines; keys in tools/render.h)\n"
            "  -o, --out O        the collector's output directory (default ./shmlog-out)\n"
            "  --watch SECS       status: sample length (default 1; fractions allowed)\n"
            "  --metrics-file F   status: the collector's Prometheus textfile, for its write rate\n"
            "  -h, --help         this help\n\n"
            "filters (a record is shown when it passes every one given):\n"
            "  -p, --pid P        only this process\n"
            "  --app A            only this application\n"
            "  --level L          this level or above: TRACE DEBUG INFO WARN ERROR FATAL\n"
            "  --category C       none trade order market_data risk portfolio\n"
            "  --since T          from T (inclusive); --until T: before T (exclusive). T is RFC 3339\n"
            "  --until T          (2026-11-22T07:39:36.5Z, offsets allowed) or Unix seconds or ns\n"
            "  --grep RE          the rendered message matches the extended regular expression RE\n"
            "  -n, --limit N      stop after N records\n\n"
            "Loss and exit markers pass the pid, app and time filters only.\n"
            "Segments are opened read-only, whoever owns them, and never modified (but by set-level).\n"
            "exit status: 0 ok, 1 runtime failure or damaged input, 2 bad usage, 3 status saw drops\n");
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
        if (all_opts[i].short_name && all_opts[i].short_name == c)
            return &all_opts[i];
    return NULL;
}

/* TRACE..FATAL, OFF when allow_off, or their numbers; any case. -1 if none. */
static int parse_level(const char *s, int allow_off)
{
    static const char *const names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF"};
    int max = allow_off ? SHMLOG_LEVEL_OFF : SHMLOG_LEVEL_FATAL;
    for (int i = 0; i <= max; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    if (strcasecmp(s, "WARNING") == 0)
        return SHMLOG_LEVEL_WARN;
    if (s[0] >= '0' && s[0] <= '0' + max && s[1] == '\0')
        return s[0] - '0';
    return -1;
}

static uint64_t parse_u64_opt(const char *flag, const char *value, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (errno || end == value || *end || value[0] == '-' || v < min || v > max)
        usage_error("%s wants a number from %llu to %llu, not '%s'", flag, (unsigned long long)min,
                    (unsigned long long)max, value);
    return v;
}

/* Days since 1970-01-01 of a civil date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int read_digits(const char **s, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++, (*s)++) {
        if (**s < '0' || **s > '9')
            return -1;
        v = v * 10 + (unsigned)(**s - '0');
    }
    *out = v;
    return 0;
}

/* RFC 3339 ("2026-11-22T07:39:36Z", a fraction and a +hh:mm offset allowed,
 * 't', ' ' and 'z' too), or a Unix time: seconds (up to 11 digits, a fraction
 * allowed) or nanoseconds. 0 and *ns, or -1. */
static int parse_time(const char *s, uint64_t *ns)
{
    const char *p = s;
    unsigned year, mon, day, hh, mm, ss;
    if (strlen(s) >= 10 && s[4] == '-') {
        if (read_digits(&p, 4, &year) || *p++ != '-' || read_digits(&p, 2, &mon) || *p++ != '-' ||
            read_digits(&p, 2, &day) || (*p != 'T' && *p != 't' && *p != ' '))
            return -1;
        p++;
        if (read_digits(&p, 2, &hh) || *p++ != ':' || read_digits(&p, 2, &mm) || *p++ != ':' ||
            read_digits(&p, 2, &ss))
            return -1;
        if (year < 1970 || mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
            return -1;
        uint64_t frac = 0;
        if (*p == '.') {
            p++;
            int digits = 0;
            while (*p >= '0' && *p <= '9') {
                if (digits < 9) {
                    frac = frac * 10 + (uint64_t)(*p - '0');
                    digits++;
                }
                p++;
            }
            if (digits == 0)
                return -1;
            while (digits++ < 9)
                frac *= 10;
        }
        int64_t offset = 0;
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1;
            unsigned oh, om;
            if (read_digits(&p, 2, &oh) || *p++ != ':' || read_digits(&p, 2, &om) || oh > 23 || om > 59)
                return -1;
            offset = sign * (int64_t)(oh * 3600 + om * 60);
        } else {
            return -1;
        }
        if (*p)
            return -1;
        int64_t secs = days_from_civil(year, mon, day) * 86400 + hh * 3600 + mm * 60 + ss - offset;
        if (secs < 0)
            return -1;
        *ns = (uint64_t)secs * 1000000000u + frac;
        return 0;
    }
    /* A number: seconds with an optional fraction, or nanoseconds. */
    char *end;
    errno = 0;
    unsigned long long whole = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-' || s[0] == '+')
        return -1;
    size_t ndigits = (size_t)(end - s);
    if (*end == '.' || ndigits <= 11) {
        if (whole > UINT64_MAX / 1000000000u)
            return -1;
        uint64_t frac = 0;
        if (*end == '.') {
            int digits = 0;
            for (p = end + 1; *p >= '0' && *p <= '9'; p++)
                if (digits < 9) {
                    frac = frac * 10 + (uint64_t)(*p - '0');
                    digits++;
                }
            if (digits == 0)
                return -1;
            while (digits++ < 9)
                frac *= 10;
            end = (char *)p;
        }
        if (*end)
            return -1;
        *ns = (uint64_t)whole * 1000000000u + frac;
        return 0;
    }
    if (*end)
        return -1;
    *ns = whole;
    return 0;
}

static void apply_opt(struct cli *cli, const struct opt_spec *o, const char *value)
{
    struct dump_filter *f = &cli->filter;
    switch (o->id) {
    case OPT_DIR:
        if (cli->ndirs >= DUMP_MAX_DIRS && cli->dirs_explicit)
            usage_error("too many --dir options (at most %d)", DUMP_MAX_DIRS);
        if (strlen(value) >= sizeof cli->dirs[0])
            usage_error("--dir path too long: %.64s", value);
        if (!cli->dirs_explicit)
            cli->ndirs = 0;
        cli->dirs_explicit = 1;
        strcpy(cli->dirs[cli->ndirs++], value);
        break;
    case OPT_PID:
        f->pid = (uint32_t)parse_u64_opt("--pid", value, 1, 0x7fffffff);
        break;
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
    case OPT_LEVEL:
        if ((f->min_level = parse_level(value, 0)) < 0)
            usage_error("--level wants TRACE, DEBUG, INFO, WARN, ERROR or FATAL, not '%s'", value);
        break;
    case OPT_CATEGORY:
        f->category = -1;
        for (unsigned c = 0; c < SHMLOG_CAT_COUNT; c++)
            if (strcasecmp(value, shmlog_category_name(c)) == 0)
                f->category = (int)c;
        if (f->category < 0)
            usage_error("--category wants none, trade, order, market_data, risk or portfolio, not '%s'", value);
        break;
    case OPT_APP:
        if (!*value || strlen(value) >= SHMLOG_APP_BYTES)
            usage_error("--app wants an application name (1 to %u bytes)", SHMLOG_APP_BYTES - 1);
        f->app = value;
        break;
    case OPT_SINCE:
        if (parse_time(value, &f->since_ns) != 0)
            usage_error("--since wants RFC 3339 time or Unix seconds or ns, not '%s'", value);
        break;
    case OPT_UNTIL:
        if (parse_time(value, &f->until_ns) != 0)
            usage_error("--until wants RFC 3339 time or Unix seconds or ns, not '%s'", value);
        break;
    case OPT_GREP: {
        if (f->has_grep)
            regfree(&f->grep);
        int rc = regcomp(&f->grep, value, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[256];
            regerror(rc, &f->grep, why, sizeof why);
            usage_error("--grep: bad regular expression '%s': %s", value, why);
        }
        f->has_grep = 1;
        break;
    }
    case OPT_LIMIT:
        f->limit = parse_u64_opt("--limit", value, 1, UINT64_MAX);
        break;
    case OPT_OUT:
        if (!*value || strlen(value) >= 4000)
            usage_error("--out wants a directory");
        cli->out_dir = value;
        break;
    case OPT_WATCH: {
        char *end;
        errno = 0;
        double secs = strtod(value, &end);
        if (errno || end == value || *end || !(secs >= 0.01) || secs > 3600)
            usage_error("--watch wants seconds from 0.01 to 3600, not '%s'", value);
        cli->watch_ns = (uint64_t)llround(secs * 1e9);
        break;
    }
    case OPT_METRICS:
        if (!*value)
            usage_error("--metrics-file wants a file");
        cli->metrics_file = value;
        break;
    case OPT_FORCE: cli->force = 1; break;
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
                fprintf(stderr, "%s: %s: %s\n", dump_prog, cli->dirs[d], strerror(errno));
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
            if (cli->filter.pid && e.pid != cli->filter.pid)
                continue;
            if ((size_t)snprintf(e.path, sizeof e.path, "%s/%s", cli->dirs[d], de->d_name) >= sizeof e.path)
                continue;
            e.dir = cli->dirs[d];
            if (list->n == list->cap) {
                size_t cap = list->cap ? list->cap * 2 : 64;
                struct seg_entry *v = realloc(list->v, cap * sizeof *v);
                if (!v) {
                    fprintf(stderr, "%s: out of memory listing %s\n", dump_prog, cli->dirs[d]);
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

/* The list is sorted by process: the end of the run of segments that starts at i. */
static size_t process_run_end(const struct seg_list *list, size_t i)
{
    size_t end = i + 1;
    while (end < list->n && same_process(&list->v[i], &list->v[end]))
        end++;
    return end;
}

/* Opens a segment read-only. The dump is an inspection tool: it accepts any
 * owner whose file it may read (the reader validates the contents anyway). */
static const struct shmlog_accept inspector = {.any_owner = 1};

static int open_segment(const struct seg_entry *e, struct shmlog_seg *seg, char *err, size_t errcap)
{
    return shmlog_seg_open(seg, e->path, 0, &inspector, err, errcap);
}

/* ==== Segment lines ==== */

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
    uint64_t fill = shmlog_ring_used(v, head, tail);
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

/* A segment shrunk under us (see shmlog_bus_guard): the reads of one process's
 * segments run guarded; on the fault the process is reported and the dump goes
 * on with the next one (its mappings are leaked until exit). */
/* Runs fn over the segments entries[0..n) of one process under shmlog_bus_guard;
 * release, when given, frees what fn holds if a fault cuts it short (fn keeps
 * it in static storage: its own frame is gone after the jump).
 * 0, or 1 when a segment shrank under the mapping. */
static int guarded(void (*fn)(const struct cli *, const struct seg_entry *, size_t), void (*release)(void),
                   const struct cli *cli, const struct seg_entry *entries, size_t n)
{
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0) != 0) {
        shmlog_bus_guard = NULL;
        if (release)
            release();
        out_flush();
        fprintf(stderr, "%s: %s[%u]: a segment shrank while being read (SIGBUS); the rest of it is skipped\n", dump_prog,
                entries[0].app, entries[0].pid);
        return 1;
    }
    shmlog_bus_guard = &jb;
    fn(cli, entries, n);
    shmlog_bus_guard = NULL;
    return 0;
}

/* One line per segment of one process. */
static void list_process(const struct cli *cli, const struct seg_entry *entries, size_t n)
{
    char err[4096 + 256];
    int alive = 0; /* of the run's meta segment (they come first): rings have no lock */
    for (size_t j = 0; j < n; j++) {
        const struct seg_entry *e = &entries[j];
        struct shmlog_seg seg;
        if (open_segment(e, &seg, err, sizeof err) != 0) {
            report_invalid(cli, e, err);
            continue;
        }
        if (e->kind == SHMLOG_SEG_META)
            alive = shmlog_meta_holder(&seg) >= 0;
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
}

static int cmd_segments(struct cli *cli)
{
    struct seg_list list = {0};
    int status = scan_dirs(cli, &list);
    shmlog_bus_guard_install();
    for (size_t i = 0; i < list.n;) {
        size_t end = process_run_end(&list, i);
        status |= guarded(list_process, NULL, cli, &list.v[i], end - i);
        i = end;
    }
    free(list.v);
    return status;
}

/* ==== ring ==== */

/* Call sites of one process, copied out of the meta segment and prepared for
 * rendering on first use. */
struct site_cache {
    const struct shmlog_seg *meta;
    const struct shmlog_proc_info *info;
    uint32_t capacity;
    struct shmlog_site_render **sites;
    uint8_t *state; /* 0 not looked up, 1 loaded, 2 missing or corrupt */
    struct shmlog_site_render *unknown;
};

/* The prepared site id, or the process's unknown-site renderer; NULL only
 * when out of memory. */
static const struct shmlog_site_render *site_lookup(struct site_cache *c, uint32_t id)
{
    if (id < c->capacity && c->state[id] == 0) {
        static struct shmlog_site_info site;
        c->state[id] = 2;
        if (shmlog_meta_site(c->meta, id, &site) == 0 &&
            (c->sites[id] = shmlog_site_render_new(&site, c->info->app, c->info->host, c->info->pid)) != NULL)
            c->state[id] = 1;
    }
    if (id < c->capacity && c->state[id] == 1)
        return c->sites[id];
    if (!c->unknown)
        c->unknown = shmlog_site_render_new(NULL, c->info->app, c->info->host, c->info->pid);
    return c->unknown;
}

static void site_cache_free(struct site_cache *c)
{
    for (uint32_t i = 0; c->sites && i < c->capacity; i++)
        shmlog_site_render_free(c->sites[i]);
    shmlog_site_render_free(c->unknown);
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

/* The dump's own anchor of the host's clock, taken once, at the first live
 * segment it reads: recent records map as well as the collector's anchors
 * map them (shm/clock.h), with no collector running. */
static const struct shmlog_clock_taker *live_clock(void)
{
    static struct shmlog_clock_taker taker;
    if (!taker.have_last) {
        struct shmlog_clock_anchor now;
        shmlog_clock_take(&taker, &now);
    }
    return &taker;
}

struct ring_ctx {
    const struct cli *cli;
    const struct shmlog_proc_info *info;
    struct shmlog_clock_map clock;
    struct site_cache *sites;
    int writer_dead;
    uint64_t last_ns; /* time of the last record shown: loss markers use it */
};

/* Records shown over every process: --limit ends the command. */
static uint64_t ring_shown;

static int ring_limit_reached(const struct cli *cli)
{
    return cli->filter.limit && ring_shown >= cli->filter.limit;
}

static void emit_loss(struct ring_ctx *ctx, const struct ring_cursor *c, const struct shmlog_loss *loss)
{
    const struct dump_filter *f = &ctx->cli->filter;
    if (ring_limit_reached(ctx->cli) || ctx->last_ns < f->since_ns || ctx->last_ns >= f->until_ns)
        return;
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
    const struct dump_filter *f = &ctx->cli->filter;
    uint64_t ts = shmlog_clock_map_ns(&ctx->clock, c->rec.tsc);
    const struct shmlog_site_render *sr = site_lookup(ctx->sites, c->rec.site);
    ctx->last_ns = ts;
    if (!sr) {
        fprintf(stderr, "%s: out of memory rendering a record of %s[%u]\n", dump_prog, ctx->info->app, ctx->info->pid);
        return;
    }
    if (ring_limit_reached(ctx->cli) || !filter_record(f, c->rec.level, c->rec.category, ts) ||
        !filter_grep(f, sr, &c->rec))
        return;
    struct shmlog_buf b = out_begin();
    shmlog_render_prepared(sr, &c->rec, c->view.cpu, ts, ctx->cli->json, &b);
    out_end(&b);
    ring_shown++;
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

/* The heap memory of the dump_process running, where dump_process_release
 * finds it after a SIGBUS too. */
static struct {
    struct site_cache sites;
    struct ring_cursor *cur;
    int *heap;
} dumping;

static void dump_process_release(void)
{
    free(dumping.heap);
    free(dumping.cur);
    site_cache_free(&dumping.sites);
    memset(&dumping, 0, sizeof dumping);
}

/* Opens the ring at e if it belongs to meta (shmlog_ring_belongs), with its
 * view. 0, or -1 with the reason in err. */
static int open_ring_of(const struct shmlog_seg *meta, const struct seg_entry *e, struct shmlog_seg *seg,
                        struct shmlog_ring_view *view, char *err, size_t errcap)
{
    if (open_segment(e, seg, err, errcap) != 0)
        return -1;
    if (shmlog_ring_belongs(meta, seg, err, errcap) != 0 || shmlog_ring_view_init(view, seg, err, errcap) != 0) {
        shmlog_seg_close(seg);
        return -1;
    }
    return 0;
}

/* Every record of the rings of one process, merged in TSC order. entries:
 * the segments of one pid in one directory, its meta segments first (more
 * than one when another user took a name first); claimed[i]: ring i
 * belonged to a meta. */
static void dump_one(const struct cli *cli, const struct seg_entry *meta_entry, const struct seg_entry *entries,
                     size_t n, char *claimed)
{
    char err[4096 + 256];
    struct shmlog_seg meta;
    struct shmlog_proc_info info;
    if (open_segment(meta_entry, &meta, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", dump_prog, err);
        return;
    }
    if (shmlog_meta_info(&meta, &info, err, sizeof err) != 0 ||
        shmlog_meta_attribution(&meta, &info, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", dump_prog, err);
        shmlog_seg_close(&meta);
        return;
    }

    if (!filter_process(&cli->filter, info.app, info.pid)) {
        shmlog_seg_close(&meta);
        return;
    }
    dumping.sites = (struct site_cache){&meta, &info, info.site_capacity,
                                        calloc(info.site_capacity ? info.site_capacity : 1,
                                               sizeof(struct shmlog_site_render *)),
                                        calloc(info.site_capacity ? info.site_capacity : 1, 1), NULL};
    struct ring_cursor *cur = dumping.cur = calloc(n, sizeof *cur);
    int *heap = dumping.heap = calloc(n, sizeof *heap);
    if (!dumping.sites.sites || !dumping.sites.state || !cur || !heap) {
        fprintf(stderr, "%s: out of memory for %s\n", dump_prog, meta_entry->path);
        goto out;
    }

    static struct ring_ctx ctx; /* its map is 6 KiB; one process at a time */
    ctx = (struct ring_ctx){.cli = cli, .info = &info, .sites = &dumping.sites,
                            .writer_dead = shmlog_meta_holder(&meta) < 0};
    const struct shmlog_clock_taker *now = live_clock();
    shmlog_clock_map_live(&ctx.clock, info.anchor_tsc, info.anchor_ns, &now->last, now->hz_q16);
    int nrings = 0;
    for (size_t i = 0; i < n; i++) {
        struct ring_cursor *c = &cur[nrings];
        if (entries[i].kind != SHMLOG_SEG_RING || claimed[i] ||
            open_ring_of(&meta, &entries[i], &c->seg, &c->view, err, sizeof err) != 0)
            continue;
        claimed[i] = 1;
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
    while (nheap > 0 && !ring_limit_reached(cli)) {
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
    dump_process_release();
    shmlog_seg_close(&meta);
}

static void dump_process(const struct cli *cli, const struct seg_entry *entries, size_t n)
{
    char *claimed = calloc(n, 1);
    if (!claimed) {
        fprintf(stderr, "%s: out of memory\n", dump_prog);
        return;
    }
    size_t metas = 0;
    for (; metas < n && entries[metas].kind == SHMLOG_SEG_META; metas++)
        dump_one(cli, &entries[metas], entries, n, claimed);
    for (size_t i = metas; i < n; i++)
        if (!claimed[i])
            fprintf(stderr, "%s: %s: belongs to no metadata segment of its directory, not decoded\n", dump_prog,
                    entries[i].path);
    free(claimed);
}

static int cmd_ring(struct cli *cli)
{
    struct seg_list list = {0};
    int status = scan_dirs(cli, &list);
    shmlog_bus_guard_install();
    for (size_t i = 0; i < list.n;) {
        size_t end = process_run_end(&list, i);
        if (ring_limit_reached(cli))
            break;
        status |= guarded(dump_process, dump_process_release, cli, &list.v[i], end - i);
        i = end;
    }
    free(list.v);
    return status;
}

/* ==== status ==== */

struct status_ring {
    struct shmlog_seg seg;
    struct shmlog_ring_view view;
    uint64_t dropped0, dropped1;
    uint64_t lag_ns; /* age of the oldest record not yet drained; 0 if none */
    int has_lag;
};

struct status_proc {
    struct shmlog_proc_info info;
    int alive;
    size_t first_ring, nrings;
};

/* Age of the record at the ring's tail: the oldest one the collector has not
 * released. Read the way `ring` reads it, without writing. */
static int ring_lag(const struct status_ring *r, int writer_dead,
                    uint64_t now, uint64_t *lag)
{
    static struct shmlog_rec rec;
    struct shmlog_loss loss;
    uint64_t pos = shmlog_ring_tail(&r->view);
    for (int tries = 0; tries < 4; tries++) {
        int st = shmlog_ring_next(&r->view, &pos, &rec, writer_dead, &loss);
        if (st == SHMLOG_READ_RECORD) {
            uint64_t ts = shmlog_clock_taker_ns(live_clock(), rec.tsc);
            *lag = now > ts ? now - ts : 0;
            return 1;
        }
        if (st != SHMLOG_READ_LOSS)
            return 0;
    }
    return 0;
}

/* Sum of the samples of metric name in a Prometheus text file; -1 if absent. */
static double metric_sum(const char *path, const char *name)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char line[4096];
    size_t n = strlen(name);
    double sum = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, name, n) != 0 || (line[n] != ' ' && line[n] != '{'))
            continue;
        const char *v = line + n;
        if (*v == '{') {
            v = strchr(v, '}');
            if (!v)
                continue;
            v++;
        }
        char *end;
        double x = strtod(v, &end);
        if (end != v && isfinite(x))
            sum = (sum < 0 ? 0 : sum) + x;
    }
    fclose(f);
    return sum;
}

struct collector_sample {
    char part[4096]; /* the open file, "" if none */
    uint64_t bytes;
    uint32_t pid;
    int alive;
    double metric_bytes, metric_records;
};

static void sample_collector(const struct cli *cli, struct collector_sample *s)
{
    memset(s, 0, sizeof *s);
    s->metric_bytes = s->metric_records = -1;
    uint64_t seq;
    struct shlog_file_header h;
    if (find_open_part(cli->out_dir, 0, s->part, sizeof s->part, &seq) == 0) {
        struct stat st;
        if (stat(s->part, &st) == 0)
            s->bytes = (uint64_t)st.st_size;
        if (read_file_header(s->part, &h) == 0) {
            s->pid = h.collector_pid;
            s->alive = s->pid && (kill((pid_t)s->pid, 0) == 0 || errno == EPERM);
        }
    }
    if (cli->metrics_file) {
        s->metric_bytes = metric_sum(cli->metrics_file, "shmlog_collector_written_bytes_total");
        s->metric_records = metric_sum(cli->metrics_file, "shmlog_collector_records_total");
    }
}

/* Bytes the collector wrote between two samples: the open file's growth,
 * across one rotation (the old file keeps its name without ".part"). */
static uint64_t collector_growth(const struct collector_sample *a, const struct collector_sample *b)
{
    if (!a->part[0] || !b->part[0])
        return 0;
    if (strcmp(a->part, b->part) == 0)
        return b->bytes > a->bytes ? b->bytes - a->bytes : 0;
    char closed[4096];
    size_t n = strlen(a->part) - strlen(SHLOG_PART_SUFFIX);
    memcpy(closed, a->part, n);
    closed[n] = '\0';
    struct stat st;
    uint64_t old_tail = stat(closed, &st) == 0 && (uint64_t)st.st_size > a->bytes ? (uint64_t)st.st_size - a->bytes : 0;
    return old_tail + b->bytes;
}

static void put_duration(struct shmlog_buf *b, uint64_t ns)
{
    char tmp[32];
    if (ns < 1000000u)
        snprintf(tmp, sizeof tmp, "%.1fus", (double)ns / 1e3);
    else if (ns < 1000000000u)
        snprintf(tmp, sizeof tmp, "%.1fms", (double)ns / 1e6);
    else
        snprintf(tmp, sizeof tmp, "%.1fs", (double)ns / 1e9);
    shmlog_buf_puts(b, tmp);
}

static void put_json_kv_double(struct shmlog_buf *b, const char *key, double v)
{
    shmlog_buf_puts(b, ",\"");
    shmlog_buf_puts(b, key);
    shmlog_buf_puts(b, "\":");
    shmlog_json_double(b, v, 0);
}

/* The host's clocks (status runs on the host it reports): one "clock:" line
 * and, when something is wrong, one "clock warning:" line; with json, a
 * ,"clock":{...} member. */
static void put_clock_state(struct shmlog_buf *b, int json)
{
    struct shmlog_clock_state cs;
    shmlog_clock_state_read(&cs);
    const char *warning = shmlog_clock_state_warning(&cs);
    if (json) {
        shmlog_buf_puts(b, ",\"clock\":{\"tsc_invariant\":");
        shmlog_buf_puts(b, cs.tsc_invariant < 0 ? "null" : cs.tsc_invariant ? "true" : "false");
        shmlog_buf_puts(b, ",\"clocksource\":");
        if (cs.clocksource[0])
            shmlog_json_string(b, cs.clocksource, strlen(cs.clocksource));
        else
            shmlog_buf_puts(b, "null");
        shmlog_buf_puts(b, ",\"synchronized\":");
        shmlog_buf_puts(b, cs.synchronized < 0 ? "null" : cs.synchronized ? "true" : "false");
        if (cs.synchronized >= 0) {
            put_json_kv_u64(b, "esterror_ns", cs.esterror_ns);
            put_json_kv_u64(b, "maxerror_ns", cs.maxerror_ns);
        } else {
            shmlog_buf_puts(b, ",\"esterror_ns\":null,\"maxerror_ns\":null");
        }
        shmlog_buf_puts(b, ",\"warning\":");
        if (warning)
            shmlog_json_string(b, warning, strlen(warning));
        else
            shmlog_buf_puts(b, "null");
        shmlog_buf_putc(b, '}');
        return;
    }
    shmlog_buf_puts(b, cs.tsc_invariant < 0  ? "clock: TSC invariance unknown"
                       : cs.tsc_invariant ? "clock: TSC invariant"
                                          : "clock: TSC NOT invariant");
    shmlog_buf_puts(b, ", clocksource ");
    put_text_safe(b, cs.clocksource[0] ? cs.clocksource : "unknown");
    if (cs.synchronized < 0) {
        shmlog_buf_puts(b, ", system clock synchronisation unknown (adjtimex failed)\n");
    } else {
        shmlog_buf_puts(b, cs.synchronized ? ", system clock synchronised (estimated error "
                                           : ", system clock not synchronised (estimated error ");
        put_duration(b, cs.esterror_ns);
        shmlog_buf_puts(b, ", maximum ");
        put_duration(b, cs.maxerror_ns);
        shmlog_buf_puts(b, ")\n");
    }
    if (warning) {
        shmlog_buf_puts(b, "clock warning: ");
        shmlog_buf_puts(b, warning);
        shmlog_buf_putc(b, '\n');
    }
}

static int cmd_status(struct cli *cli)
{
    struct seg_list list = {0};
    int status = scan_dirs(cli, &list);
    char err[4096 + 256];
    struct status_proc *procs = calloc(list.n ? list.n : 1, sizeof *procs);
    struct status_ring *rings = calloc(list.n ? list.n : 1, sizeof *rings);
    size_t nprocs = 0, nrings = 0;
    if (!procs || !rings) {
        fprintf(stderr, "%s: out of memory\n", dump_prog);
        free(procs);
        free(rings);
        free(list.v);
        return 1;
    }

    /* Open everything first, so the sample covers the same rings. */
    for (size_t i = 0; i < list.n; i++) {
        struct shmlog_seg meta;
        if (list.v[i].kind != SHMLOG_SEG_META || open_segment(&list.v[i], &meta, err, sizeof err) != 0)
            continue;
        struct status_proc *p = &procs[nprocs];
        if (shmlog_meta_info(&meta, &p->info, err, sizeof err) != 0 ||
            shmlog_meta_attribution(&meta, &p->info, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", dump_prog, err);
            shmlog_seg_close(&meta);
            continue;
        }
        p->alive = shmlog_meta_holder(&meta) >= 0;
        p->first_ring = nrings;
        for (size_t j = i + 1, end = process_run_end(&list, i); j < end; j++) {
            struct status_ring *r = &rings[nrings];
            if (list.v[j].kind == SHMLOG_SEG_RING && nrings < list.n && /* two metas of one owner may claim it */
                open_ring_of(&meta, &list.v[j], &r->seg, &r->view, err, sizeof err) == 0) {
                r->dropped0 = shmlog_ring_dropped(&r->view);
                nrings++;
            }
        }
        shmlog_seg_close(&meta);
        p->nrings = nrings - p->first_ring;
        nprocs++;
    }

    struct collector_sample c0, c1;
    sample_collector(cli, &c0);
    uint64_t t0 = now_ns();
    struct timespec ts = {(time_t)(cli->watch_ns / 1000000000u), (long)(cli->watch_ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    uint64_t t1 = now_ns();
    sample_collector(cli, &c1);
    double secs = (double)(t1 - t0) / 1e9;

    uint64_t drops_grew = 0;
    for (size_t k = 0; k < nprocs; k++) {
        struct status_proc *p = &procs[k];
        for (size_t j = p->first_ring; j < p->first_ring + p->nrings; j++) {
            struct status_ring *r = &rings[j];
            r->dropped1 = shmlog_ring_dropped(&r->view);
            drops_grew += r->dropped1 > r->dropped0 ? r->dropped1 - r->dropped0 : 0;
            r->has_lag = ring_lag(r, !p->alive, t1, &r->lag_ns);
        }
    }
    double rate_bytes = (double)collector_growth(&c0, &c1) / secs, rate_records = -1;
    if (c0.metric_bytes >= 0 && c1.metric_bytes >= c0.metric_bytes)
        rate_bytes = (c1.metric_bytes - c0.metric_bytes) / secs;
    if (c0.metric_records >= 0 && c1.metric_records >= c0.metric_records)
        rate_records = (c1.metric_records - c0.metric_records) / secs;

    struct shmlog_buf b = out_begin();
    if (cli->json) {
        shmlog_buf_puts(&b, "{\"sample_s\":");
        shmlog_json_double(&b, secs, 0);
        shmlog_buf_puts(&b, ",\"collector\":{\"file\":");
        if (c1.part[0])
            shmlog_json_string(&b, c1.part, strlen(c1.part));
        else
            shmlog_buf_puts(&b, "null");
        put_json_kv_u64(&b, "bytes", c1.bytes);
        put_json_kv_u64(&b, "pid", c1.pid);
        put_json_kv_bool(&b, "alive", c1.alive);
        put_json_kv_double(&b, "write_bytes_per_s", rate_bytes);
        if (rate_records >= 0)
            put_json_kv_double(&b, "records_per_s", rate_records);
        shmlog_buf_putc(&b, '}');
        put_clock_state(&b, 1);
        shmlog_buf_puts(&b, ",\"processes\":[");
        for (size_t k = 0; k < nprocs; k++) {
            struct status_proc *p = &procs[k];
            if (k)
                shmlog_buf_putc(&b, ',');
            shmlog_buf_puts(&b, "{\"app\":");
            shmlog_json_string(&b, p->info.app, strlen(p->info.app));
            put_json_kv_u64(&b, "pid", p->info.pid);
            put_json_kv_bool(&b, "alive", p->alive);
            put_json_kv_str(&b, "level", level_text(p->info.level));
            shmlog_buf_puts(&b, ",\"rings\":[");
            for (size_t j = p->first_ring; j < p->first_ring + p->nrings; j++) {
                struct status_ring *r = &rings[j];
                uint64_t head = shmlog_ring_head(&r->view), tail = shmlog_ring_tail(&r->view);
                uint64_t fill = head - tail > r->view.cap ? r->view.cap : head - tail;
                if (j > p->first_ring)
                    shmlog_buf_putc(&b, ',');
                shmlog_buf_puts(&b, "{\"cpu\":");
                shmlog_buf_u64(&b, r->view.cpu);
                put_json_kv_u64(&b, "capacity", r->view.cap);
                put_json_kv_u64(&b, "fill", fill);
                put_json_kv_u64(&b, "dropped", r->dropped1);
                put_json_kv_u64(&b, "dropped_during_sample", r->dropped1 - r->dropped0);
                put_json_kv_u64(&b, "lost", shmlog__load_relaxed(&r->view.hdr->lost));
                put_json_kv_u64(&b, "collector_pid", shmlog__load_relaxed(&r->view.hdr->collector_pid));
                shmlog_buf_puts(&b, ",\"lag_ns\":");
                if (r->has_lag)
                    shmlog_buf_u64(&b, r->lag_ns);
                else
                    shmlog_buf_putc(&b, '0');
                shmlog_buf_putc(&b, '}');
            }
            shmlog_buf_puts(&b, "]}");
        }
        shmlog_buf_puts(&b, "]");
        put_json_kv_bool(&b, "drops_grew", drops_grew != 0);
        shmlog_buf_puts(&b, "}\n");
    } else {
        char line[512];
        if (c1.part[0]) {
            snprintf(line, sizeof line, "collector: pid %u %s, writing ", c1.pid, c1.alive ? "alive" : "NOT RUNNING");
            shmlog_buf_puts(&b, line);
            put_text_safe(&b, c1.part);
            snprintf(line, sizeof line, " (%.1f MiB) at %.1f KiB/s", (double)c1.bytes / 1048576.0, rate_bytes / 1024.0);
            shmlog_buf_puts(&b, line);
            if (rate_records >= 0) {
                snprintf(line, sizeof line, ", %.0f records/s", rate_records);
                shmlog_buf_puts(&b, line);
            }
        } else {
            shmlog_buf_puts(&b, "collector: no open file in ");
            put_text_safe(&b, cli->out_dir);
        }
        snprintf(line, sizeof line, " (sampled %.2f s)\n", secs);
        shmlog_buf_puts(&b, line);
        put_clock_state(&b, 0);
        for (size_t k = 0; k < nprocs; k++) {
            struct status_proc *p = &procs[k];
            put_text_safe(&b, p->info.app);
            snprintf(line, sizeof line, "[%u] %s level=%s rings=%zu\n", p->info.pid, p->alive ? "alive" : "dead",
                     level_text(p->info.level), p->nrings);
            shmlog_buf_puts(&b, line);
            for (size_t j = p->first_ring; j < p->first_ring + p->nrings; j++) {
                struct status_ring *r = &rings[j];
                uint64_t head = shmlog_ring_head(&r->view), tail = shmlog_ring_tail(&r->view);
                uint64_t fill = head - tail > r->view.cap ? r->view.cap : head - tail;
                int drained = shmlog__load_relaxed(&r->view.hdr->collector_pid) != 0;
                snprintf(line, sizeof line, "  cpu%u fill=%llu/%llu (%.1f%%) dropped=%llu (+%llu) lag=", r->view.cpu,
                         (unsigned long long)fill, (unsigned long long)r->view.cap,
                         100.0 * (double)fill / (double)r->view.cap, (unsigned long long)r->dropped1,
                         (unsigned long long)(r->dropped1 - r->dropped0));
                shmlog_buf_puts(&b, line);
                if (r->has_lag)
                    put_duration(&b, r->lag_ns);
                else
                    shmlog_buf_putc(&b, '0');
                shmlog_buf_puts(&b, drained ? "\n" : " (no collector)\n");
            }
            out_end(&b);
            b = out_begin();
        }
        if (!nprocs)
            shmlog_buf_puts(&b, "no processes\n");
        if (drops_grew)
            snprintf(line, sizeof line, "status: %llu records dropped during the sample\n",
                     (unsigned long long)drops_grew);
        else
            snprintf(line, sizeof line, "status: ok, no drops during the sample\n");
        shmlog_buf_puts(&b, line);
    }
    out_end(&b);

    for (size_t j = 0; j < nrings; j++)
        shmlog_seg_close(&rings[j].seg);
    free(procs);
    free(rings);
    free(list.v);
    if (drops_grew)
        return EXIT_DROPS;
    return status;
}

/* ==== set-level ==== */

static int cmd_set_level(struct cli *cli)
{
    if (cli->npositional != 1)
        usage_error("set-level wants a LEVEL");
    int level = parse_level(cli->positional[0], 1);
    if (level < 0)
        usage_error("set-level wants TRACE, DEBUG, INFO, WARN, ERROR, FATAL or OFF, not '%s'", cli->positional[0]);
    if (!cli->filter.pid && !cli->filter.app)
        usage_error("set-level wants --pid P or --app A");

    struct seg_list list = {0};
    int status = scan_dirs(cli, &list);
    char err[4096 + 256];
    int changed = 0;
    for (size_t i = 0; i < list.n; i++) {
        const struct seg_entry *e = &list.v[i];
        if (e->kind != SHMLOG_SEG_META || (cli->filter.app && strcmp(e->app, cli->filter.app) != 0))
            continue;
        struct shmlog_seg seg;
        struct shmlog_proc_info info;
        if (shmlog_seg_open(&seg, e->path, 1, &inspector, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", dump_prog, err);
            status = 1;
            continue;
        }
        /* Validated before the one store: a segment that is not a sound
         * meta segment is left alone. */
        err[0] = '\0';
        if (shmlog_meta_info(&seg, &info, err, sizeof err) != 0 || !filter_process(&cli->filter, info.app, info.pid)) {
            if (err[0])
                fprintf(stderr, "%s: %s\n", dump_prog, err);
            shmlog_seg_close(&seg);
            continue;
        }
        struct shmlog_meta *meta = seg.addr;
        /* The producer reads the level on every call (relaxed): one atomic
         * store, nothing else in the segment is written. */
        uint32_t old = shmlog__load_relaxed(&meta->level);
        shmlog__store_release(&meta->level, (uint32_t)level);
        int alive = shmlog_meta_holder(&seg) >= 0;
        struct shmlog_buf b = out_begin();
        put_text_safe(&b, info.app);
        shmlog_buf_putc(&b, '[');
        shmlog_buf_u64(&b, info.pid);
        shmlog_buf_puts(&b, "]: ");
        shmlog_buf_puts(&b, level_text(old));
        shmlog_buf_puts(&b, " -> ");
        shmlog_buf_puts(&b, level_text((uint32_t)level));
        shmlog_buf_puts(&b, alive ? "\n" : " (the process is not running)\n");
        out_end(&b);
        shmlog_seg_close(&seg);
        changed++;
    }
    free(list.v);
    if (!changed) {
        fprintf(stderr, "%s: set-level: no process matches\n", dump_prog);
        return 1;
    }
    return status;
}

/* ==== main ==== */

/* ==== clean: the segments of processes that are gone ==== */

/* Records in a ring that no collector released: read as a collector would
 * read a dead writer's ring (at most one lap). *slots: positions in use. */
static uint64_t records_not_drained(const struct shmlog_ring_view *v, uint64_t *slots)
{
    uint64_t pos = shmlog_ring_tail(v), head = shmlog_ring_head(v), n = 0;
    *slots = shmlog_ring_used(v, head, pos);
    if (head - pos > v->cap)
        pos = head - v->cap;
    struct shmlog_rec rec;
    struct shmlog_loss loss;
    for (uint64_t steps = 0; steps <= v->cap; steps++) {
        int st = shmlog_ring_next(v, &pos, &rec, 1, &loss);
        if (st == SHMLOG_READ_RECORD)
            n++;
        else if (st == SHMLOG_READ_LOSS)
            n += loss.records;
        else
            break;
    }
    return n;
}

/* 1 if a collector that runs claims the ring: it will finish the job. */
static int ring_claimed(const struct shmlog_ring_view *v)
{
    uint64_t pid = shmlog__load_relaxed(&v->hdr->collector_pid);
    return pid && pid <= INT32_MAX && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* The rings of one gone process (entries of its run that belong to meta), or
 * of none (meta NULL: rings whose meta segment is missing, which nothing can
 * decode): counted, then removed with meta when nothing would be lost or
 * --force. Returns 0, or 1 when something was kept or could not go. */
static int clean_process(const struct cli *cli, const struct shmlog_seg *meta, const char *what,
                         const struct seg_entry *entries, size_t n, char *claimed)
{
    char err[4096 + 256];
    uint64_t records = 0, slots = 0;
    size_t rings = 0;
    int busy = 0;
    for (size_t i = 0; i < n; i++) {
        struct shmlog_seg seg;
        struct shmlog_ring_view v;
        if (entries[i].kind != SHMLOG_SEG_RING || claimed[i])
            continue;
        if (meta && open_ring_of(meta, &entries[i], &seg, &v, err, sizeof err) != 0)
            continue;
        if (!meta && open_segment(&entries[i], &seg, err, sizeof err) != 0)
            continue;
        if (!meta && shmlog_ring_view_init(&v, &seg, err, sizeof err) != 0) {
            shmlog_seg_close(&seg);
            continue;
        }
        claimed[i] = 2; /* ours: removed below if the process goes */
        uint64_t used;
        records += records_not_drained(&v, &used);
        slots += used;
        busy |= ring_claimed(&v);
        rings++;
        shmlog_seg_close(&seg);
    }
    if (busy) {
        printf("%s: kept: a running collector drains it\n", what);
        return 0;
    }
    if (records && !cli->force) {
        printf("%s: kept: %llu record(s) never drained; start shmlog-collector, or discard them with clean --force\n",
               what, (unsigned long long)records);
        return 1;
    }
    int status = 0;
    for (size_t i = 0; i < n; i++)
        if (claimed[i] == 2) {
            claimed[i] = 1;
            if (unlink(entries[i].path) != 0) {
                fprintf(stderr, "%s: cannot remove %s: %s\n", dump_prog, entries[i].path, strerror(errno));
                status = 1;
            }
        }
    if (meta && unlink(meta->path) != 0) {
        fprintf(stderr, "%s: cannot remove %s: %s\n", dump_prog, meta->path, strerror(errno));
        status = 1;
    }
    if (records)
        printf("%s: removed %zu ring(s); discarded %llu record(s) never drained (%llu slots)\n", what, rings,
               (unsigned long long)records, (unsigned long long)slots);
    else
        printf("%s: removed (%zu ring(s), nothing left to drain)\n", what, rings);
    return status;
}

/* What clean found, kept where a fault cutting clean_run short leaves it. */
static struct {
    int status;
    size_t gone;   /* processes found gone */
    char *claimed; /* of the run being cleaned */
} cleaning;

static void clean_release(void)
{
    free(cleaning.claimed);
    cleaning.claimed = NULL;
    cleaning.status = 1;
}

/* The segments of one pid in one directory (a run of scan_dirs). */
static void clean_run(const struct cli *cli, const struct seg_entry *entries, size_t n)
{
    char err[4096 + 256], what[4096 + 128];
    char *claimed = cleaning.claimed = calloc(n, 1);
    if (!claimed) {
        fprintf(stderr, "%s: out of memory\n", dump_prog);
        cleaning.status = 1;
        return;
    }
    for (size_t m = 0; m < n && entries[m].kind == SHMLOG_SEG_META; m++) {
        struct shmlog_seg meta;
        struct shmlog_proc_info info;
        if (open_segment(&entries[m], &meta, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s (left alone)\n", dump_prog, err);
            continue;
        }
        if (shmlog_meta_info(&meta, &info, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s (left alone)\n", dump_prog, err);
            shmlog_seg_close(&meta);
            continue;
        }
        if (shmlog_meta_holder(&meta) < 0) {
            snprintf(what, sizeof what, "%s (%s[%u], gone)", entries[m].path, info.app, info.pid);
            cleaning.status |= clean_process(cli, &meta, what, entries, n, claimed);
            cleaning.gone++;
        }
        shmlog_seg_close(&meta);
    }
    /* Rings of a pid whose directory holds no meta segment of it. */
    if (entries[0].kind == SHMLOG_SEG_RING) {
        snprintf(what, sizeof what, "%s/%s-%u-cpu*.ring (no metadata segment)", entries[0].dir, entries[0].app,
                 entries[0].pid);
        cleaning.status |= clean_process(cli, NULL, what, entries, n, claimed);
        cleaning.gone++;
    }
    free(claimed);
    cleaning.claimed = NULL;
}

static int cmd_clean(struct cli *cli)
{
    struct seg_list list = {0};
    int status = scan_dirs(cli, &list);
    shmlog_bus_guard_install();
    for (size_t i = 0; i < list.n;) {
        size_t end = process_run_end(&list, i);
        status |= guarded(clean_run, clean_release, cli, &list.v[i], end - i);
        i = end;
    }
    if (!cleaning.gone)
        printf("no segments of processes that are gone\n");
    free(list.v);
    return status | cleaning.status;
}

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
        printf("%s %s\n", dump_prog, SHMLOG_VERSION);
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
    cli.ndirs = shmlog_default_dirs(cli.dirs, DUMP_MAX_DIRS);
    cli.filter.min_level = -1;
    cli.filter.category = -1;
    cli.filter.until_ns = UINT64_MAX;
    cli.out_dir = "./shmlog-out";
    cli.watch_ns = 1000000000u;
    parse_options(&cli, cmd, argc - 2, argv + 2);
    if (cli.help) {
        printf("usage: %s %s\n  %s\n", dump_prog, cmd->usage, cmd->summary);
        return 0;
    }
    int status = cmd->run(&cli);
    if (out_finish() != 0) {
        fprintf(stderr, "%s: writing output: %s\n", dump_prog, strerror(errno));
        return 1;
    }
    return status;
}
