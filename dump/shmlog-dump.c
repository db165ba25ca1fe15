/*
 * shmlog-dump - inspect shmlog segments and decode collector files, as text
 * or JSON Lines.
 *
 *   shmlog-dump segments  [--dir D]... [--pid P] [--format text|json]
 *   shmlog-dump ring      [--dir D]... [filters] [--format text|json]
 *   shmlog-dump read      [FILE|DIR|kafka://BROKERS/TOPIC...] [filters] [--format text|json]
 *   shmlog-dump stats     [FILE|DIR|kafka://BROKERS/TOPIC...] [filters] [--format text|json]
 *   shmlog-dump follow    [--out O | kafka://BROKERS/TOPIC] [filters] [--format text|json]
 *   shmlog-dump verify    [FILE|DIR...]
 *   shmlog-dump index     [FILE|DIR...] [--check]
 *   shmlog-dump status    [--dir D]... [--out O] [--watch S] [--metrics-file F] [--format text|json]
 *   shmlog-dump set-level (--pid P | --app A) [--category C] LEVEL [--dir D]...
 *   shmlog-dump backtrace (--pid P | --app A) [--dir D]...
 *   shmlog-dump mirror    kafka://BROKERS/TOPIC --out DIR [--since T] [--follow]
 *   shmlog-dump view      [FILE|DIR...] [filters] [--follow] [--live [--dir D]...]
 *   shmlog-dump serve     [DIR...] [--dir D]... [--listen ADDR:PORT] [--auth FILE] [--tls-cert F --tls-key F [--tls-client-ca F]]
 *
 * Segments are mapped read-only and never modified, except the one word
 * set-level stores. Everything in them is validated by shm/reader_*.c, files by
 * the file format's decoder (format/shlog_decode_*.c); rendering is render/render*.c. This file holds
 * main, the command line and the command table; the commands are in the files dump.h lists,
 * what they share in the files below them.
 *
 * Exit status: 0 done, 1 a runtime failure or damaged input, 2 usage,
 * 3 (status) drops grew during the sample, 4 (status) no collector drains.
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
    OPT_GREP, OPT_LIMIT, OPT_OUT, OPT_WATCH, OPT_METRICS, OPT_FORCE, OPT_UTC, OPT_FOLLOW, OPT_SHIP_STATE,
    OPT_THREAD, OPT_MERGE_MEMORY, OPT_MAX_HOSTS, OPT_WHERE, OPT_CHECK, OPT_LIVE,
    OPT_LISTEN, OPT_AUTH, OPT_TLS_CERT, OPT_TLS_KEY, OPT_TLS_CLIENT_CA, OPT_HOST, OPT_TRACE, OPT_STATS, OPT_EXPORT, OPT_JOBS,
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
    {"host", 0, 1, OPT_HOST},
    {"since", 0, 1, OPT_SINCE},
    {"until", 0, 1, OPT_UNTIL},
    {"grep", 0, 1, OPT_GREP},
    {"where", 0, 1, OPT_WHERE},
    {"limit", 'n', 1, OPT_LIMIT},
    {"out", 'o', 1, OPT_OUT},
    {"watch", 0, 1, OPT_WATCH},
    {"metrics-file", 0, 1, OPT_METRICS},
    {"force", 0, 0, OPT_FORCE},
    {"utc", 0, 0, OPT_UTC},
    {"follow", 'F', 0, OPT_FOLLOW},
    {"ship-state", 0, 1, OPT_SHIP_STATE},
    {"thread", 0, 1, OPT_THREAD},
    {"trace", 0, 1, OPT_TRACE},
    {"stats", 0, 0, OPT_STATS},
    {"export", 0, 1, OPT_EXPORT},
    {"merge-memory", 0, 1, OPT_MERGE_MEMORY},
    {"jobs", 'j', 1, OPT_JOBS},
    {"max-hosts", 0, 1, OPT_MAX_HOSTS},
    {"check", 0, 0, OPT_CHECK},
    {"live", 0, 0, OPT_LIVE},
    {"listen", 0, 1, OPT_LISTEN},
    {"auth", 0, 1, OPT_AUTH},
    {"tls-cert", 0, 1, OPT_TLS_CERT},
    {"tls-key", 0, 1, OPT_TLS_KEY},
    {"tls-client-ca", 0, 1, OPT_TLS_CLIENT_CA},
};

struct command {
    const char *name;
    int (*run)(struct cli *cli);
    uint64_t opts;       /* bit (1 << OPT_*) per accepted option */
    int max_positional;
    const char *usage;
    const char *summary;
};

#define BIT(o) (UINT64_C(1) << (o))
#define BASE_OPTS (BIT(OPT_FORMAT) | BIT(OPT_HELP) | BIT(OPT_UTC))
#define FILTER_OPTS (BIT(OPT_PID) | BIT(OPT_LEVEL) | BIT(OPT_CATEGORY) | BIT(OPT_APP) | BIT(OPT_SINCE) | \
                     BIT(OPT_UNTIL) | BIT(OPT_GREP) | BIT(OPT_LIMIT) | BIT(OPT_THREAD) | \
                     BIT(OPT_WHERE))
/* The filters of what reads files: also the files' host. */
#define FILE_FILTER_OPTS (FILTER_OPTS | BIT(OPT_HOST) | BIT(OPT_TRACE))
#define MAX_FILE_ARGS 65536

static const struct command commands[] = {
    {"segments", cmd_segments, BASE_OPTS | BIT(OPT_DIR) | BIT(OPT_PID), 0,
     "segments [--dir D]... [--pid P] [--format text|json]",
     "one line per process (meta segment) and per ring: state, level, sites, fill, drops"},
    {"ring", cmd_ring, BASE_OPTS | BIT(OPT_DIR) | FILTER_OPTS | BIT(OPT_FOLLOW), 0,
     "ring [--dir D]... [--follow] [filters] [--format text|json]",
     "decode every record still in the rings (also of a dead process), merged in time order;\n"
     "                  --follow: then each record as it is committed, with no collector (development)"},
    {"read", cmd_read, BASE_OPTS | FILE_FILTER_OPTS | BIT(OPT_MERGE_MEMORY) | BIT(OPT_JOBS), MAX_FILE_ARGS,
     "read [FILE|DIR|kafka://HOST:PORT[,...]/TOPIC...] [filters] [--merge-memory MIB] [--jobs N]\n"
     "                  [--format text|json]",
     "decode collector files (a DIR: its .shlog files and the open .part; none: the --out default;\n"
     "                  a topic shmlog-ship fills: every host's frames in it), merged in time order"},
    {"trace", cmd_trace, BASE_OPTS | FILE_FILTER_OPTS | BIT(OPT_STATS) | BIT(OPT_EXPORT) | BIT(OPT_MERGE_MEMORY),
     MAX_FILE_ARGS + 1,
     "trace ID [FILE|DIR|kafka://...] [filters] | trace --stats [FILE|DIR|kafka://...] [--since T] [--until T]\n"
     "                  | trace --export chrome|otlp [ID] [FILE|DIR|kafka://...] [filters]",
     "one trace's records across processes in time order, with the time since its first record and\n"
     "                  since the one before; --stats: per-hop latency (p50 p99 p99.9 max) between the\n"
     "                  steps (spans) of every trace in the range; --export: the spans (of trace ID, else of\n"
     "                  every trace in the range) as Chrome trace event JSON or OTLP JSON"},
    {"stats", cmd_stats, BASE_OPTS | FILE_FILTER_OPTS | BIT(OPT_JOBS), MAX_FILE_ARGS,
     "stats [FILE|DIR|kafka://HOST:PORT[,...]/TOPIC...] [filters] [--format text|json] [--jobs N]",
     "counts: records, losses, by level, category, app and site; bytes per record, time span, rate"},
    {"follow", cmd_follow, BASE_OPTS | FILE_FILTER_OPTS | BIT(OPT_OUT) | BIT(OPT_MERGE_MEMORY), 1,
     "follow [--out O | kafka://HOST:PORT[,...]/TOPIC] [filters] [--merge-memory MIB] [--format text|json]",
     "print records as the collector writes them (the newest .part in O), across rotations; or as\n"
     "                  the topic's hosts ship them (from the end, or --since T)"},
    {"verify", cmd_verify, BASE_OPTS, MAX_FILE_ARGS,
     "verify [FILE|DIR...]",
     "check every frame, checksum and ring-position run; one line per file; exit 1 unless all whole"},
    {"index", cmd_index, BIT(OPT_HELP) | BIT(OPT_CHECK), MAX_FILE_ARGS,
     "index [FILE|DIR...] [--check]",
     "give closed files without an index (older ones, a damaged index) one: a copy with an index is\n"
     "                  written beside each, synced, read back and renamed over it; --check: only say which\n"
     "                  lack one (exit 1 if any does)"},
    {"status", cmd_status, BASE_OPTS | BIT(OPT_DIR) | BIT(OPT_OUT) | BIT(OPT_WATCH) | BIT(OPT_METRICS) |
     BIT(OPT_SHIP_STATE), 0,
     "status [--dir D]... [--out O] [--watch SECS] [--metrics-file F] [--ship-state F] [--format text|json]",
     "health: processes, rings, fill, drops, lag; the collector's file and write rate; shmlog-ship's\n"
     "                  lag; exit 4 when no collector drains (none runs, a ring is not drained, or\n"
     "                  stuck), else 3 on drops, else 5 when the collector runs a replaced binary"},
    {"set-level", cmd_set_level, BIT(OPT_HELP) | BIT(OPT_DIR) | BIT(OPT_PID) | BIT(OPT_APP) | BIT(OPT_CATEGORY), 1,
     "set-level (--pid P | --app A) [--category C] LEVEL [--dir D]...",
     "change the live level of running processes (TRACE DEBUG INFO WARN ERROR FATAL OFF)"},
    {"backtrace", cmd_backtrace, BIT(OPT_HELP) | BIT(OPT_DIR) | BIT(OPT_PID) | BIT(OPT_APP), 0,
     "backtrace (--pid P | --app A) [--dir D]...",
     "have the collector write the records running processes keep as backtrace, without a trigger"},
    {"mirror", cmd_mirror, BIT(OPT_HELP) | BIT(OPT_OUT) | BIT(OPT_FOLLOW) | BIT(OPT_SINCE) | BIT(OPT_MAX_HOSTS), 1,
     "mirror kafka://HOST:PORT[,...]/TOPIC --out DIR [--since T] [--follow] [--max-hosts N]",
     "write the hosts' frames shmlog-ship sent as each host's files in DIR, byte for byte (read,\n"
     "                  stats, Python and DuckDB read them as a host's); --follow: keep going;\n"
     "                  --max-hosts: hosts DIR takes, at most (default 4096), new ones past it refused"},
    {"view", cmd_view,
     BIT(OPT_HELP) | BIT(OPT_UTC) | (FILE_FILTER_OPTS & ~BIT(OPT_LIMIT) & ~BIT(OPT_TRACE)) | BIT(OPT_FOLLOW) |
         BIT(OPT_MERGE_MEMORY) | BIT(OPT_LIVE) | BIT(OPT_DIR),
     MAX_FILE_ARGS,
     "view [FILE|DIR...] [filters] [--follow] [--live [--dir D]...] [--merge-memory MIB]",
     "a terminal viewer: scroll through time, jump to a time, follow, filter, search (keys: shmlog-dump(1));\n"
     "                  --live: after the files' records, the rings' that the collector has not written yet"},
    {"serve", cmd_serve, BIT(OPT_HELP) | BIT(OPT_LISTEN) | BIT(OPT_AUTH) | BIT(OPT_TLS_CERT) | BIT(OPT_TLS_KEY) |
     BIT(OPT_TLS_CLIENT_CA) | BIT(OPT_DIR), MAX_FILE_ARGS,
     "serve [DIR...] [--listen ADDR:PORT] [--auth FILE] [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]\n"
     "                  [--dir D]... (the segment directories live=1 reads)",
     "answer queries over HTTP, read-only: /api/query /api/tail /api/stats /api/fields /health\n"
     "                  /metrics (default 127.0.0.1:8020; another address needs --auth, a bearer token file,\n"
     "                  or --tls-client-ca, client certificates)"},
    {"clean", cmd_clean, BIT(OPT_HELP) | BIT(OPT_DIR) | BIT(OPT_FORCE), 0,
     "clean [--dir D]... [--force]",
     "remove the segments of processes that are gone, when no collector runs; records never drained\n"
     "                  keep them unless --force, which says how many it discards"},
};

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
            "  -f, --format F     text (default) or json (JSON Lines; keys in render/include/render.h)\n"
            "  -o, --out O        the collector's output directory; read, stats and verify read it\n"
            "                     when given no FILE|DIR. Default: $SHMLOG_OUT, else " DUMP_SERVICE_OUT "\n"
            "                     (the service's) when readable, else ./shmlog-out\n"
            "  --utc              times in UTC (...Z); the default when TZ is not set, else\n"
            "                     local time in TZ's zone with its offset (...+01:00)\n"
            "  --watch SECS       status: sample length (default 1; fractions allowed)\n"
            "  --metrics-file F   status: the collector's Prometheus textfile, for its write rate\n"
            "  --ship-state F     status: shmlog-ship's --state file, for the shipping lag (default:\n"
            "                     " DUMP_SERVICE_SHIP_STATE " when it is there)\n"
            "  --merge-memory MIB read, follow: memory in which records wait to be merged in time order\n"
            "                     (default 64); beyond it the earliest go on, in best-effort order\n"
            "  -j, --jobs N       read: threads that write the lines; stats: threads that count, each its\n"
            "                     share of the frames (at most 8); 1 to 64 (default: the cpus it may run\n"
            "                     on); the output is the same on any number\n"
            "  --listen ADDR:PORT serve: where to answer (default 127.0.0.1:8020; port 0: any, said on\n"
            "                     standard error); beyond loopback only with --auth\n"
            "  --auth FILE        serve: the bearer token requests must send (a file others may not read)\n"
            "  --tls-cert FILE    serve: HTTPS with this certificate (PEM, the chain), and --tls-key FILE its\n"
            "                     key (a file others may not read)\n"
            "  --tls-client-ca FILE  serve: requests need a client certificate this CA (PEM) signed\n"
            "  -h, --help         this help\n\n"
            "filters (a record is shown when it passes every one given):\n"
            "  -p, --pid P        only this process\n"
            "  --app A            only this application\n"
            "  --host H           read, stats, follow, view: only the files of host H (the collector's\n"
            "                     --host, which names them; a topic's hosts too)\n"
            "  --level L          this level or above: TRACE DEBUG INFO WARN ERROR FATAL\n"
            "  --category C       none trade order md (market_data) risk portfolio, or the program's own\n"
            "  --since T          from T (inclusive); --until T: before T (exclusive). T is\n"
            "  --until T          2026-11-22T07:39:36.5Z or +01:00 (a zone), 2026-11-22[T07:39[:36]]\n"
            "                     or 07:39[:36[.5]] (today) in the zone times are shown in,\n"
            "                     -30s -5m -2h -1d (before now), or Unix seconds[.frac] or ns\n"
            "  --thread T         records of the thread named T, or of tid T\n"
            "  --trace ID         read, stats, follow: records written while their thread worked for\n"
            "                     trace ID (hex, up to 32 digits: shmlog_trace_set)\n"
            "  --grep RE          the rendered message matches the extended regular expression RE\n"
            "  --where F=V        the record's field F (as JSON \"fields\" names it) is V (a string, or a\n"
            "                     number); F!=V; F<N F<=N F>N F>=N compare numbers. Repeatable: all hold\n"
            "  -n, --limit N      stop after N records\n\n"
            "Loss and exit markers pass the pid, app, host and time filters only. The files' indexes skip the\n"
            "frames the filters rule out (SHMLOG_NO_INDEX=1: read every frame; the output is the same).\n"
            "Segments are opened read-only, whoever owns them, and never modified (but by set-level and\n"
            "backtrace).\n"
            "exit status: 0 ok, 1 runtime failure or damaged input, 2 bad usage, 3 status saw drops,\n"
            "             4 status found no collector draining\n");
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

static void apply_opt(struct cli *cli, const struct opt_spec *o, const char *value)
{
    struct read_filter *f = &cli->filter;
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
        if (shm_category_spelled(value, f->category) != 0)
            usage_error("--category wants a category's name: none, trade, order, md (market_data), risk, "
                        "portfolio or one the program defined (a-z, 0-9, _), not '%s'", value);
        break;
    case OPT_THREAD:
        if (!*value || strlen(value) > SHMLOG_THREAD_NAME_BYTES)
            usage_error("--thread wants a thread's name (1 to %u bytes) or its tid, not '%s'", SHMLOG_THREAD_NAME_BYTES,
                        value);
        f->thread = value;
        break;
    case OPT_TRACE:
        if (read_trace_id_parse(value, &f->trace_hi, &f->trace_lo) != 0)
            usage_error("--trace wants a trace id of 1 to 32 hex digits, not 0, not '%s'", value);
        f->trace = 1;
        cli->trace_arg = value;
        break;
    case OPT_APP:
        if (!*value || strlen(value) >= SHMLOG_APP_BYTES)
            usage_error("--app wants an application name (1 to %u bytes)", SHMLOG_APP_BYTES - 1);
        f->app = value;
        break;
    case OPT_HOST:
        if (strlen(value) >= SHMLOG_HOST_BYTES || !shlog_host_name_ok(value))
            usage_error("--host wants a host's name as the collector's --host gives it (1 to %u bytes of "
                        "[A-Za-z0-9._-]), not '%s'", SHMLOG_HOST_BYTES - 1, value);
        f->host = value;
        break;
    case OPT_SINCE:
        /* Read once every option is known: --utc decides the zone of a time without one. */
        cli->since_arg = value;
        break;
    case OPT_UNTIL:
        cli->until_arg = value;
        break;
    case OPT_GREP: {
        char why[256];
        int rc = read_filter_grep_set(f, value, why, sizeof why);
        if (rc == -ENOMEM)
            dump_oom();
        if (rc != 0)
            usage_error("--grep: bad regular expression '%s': %s", value, why);
        cli->grep_arg = value;
        break;
    }
    case OPT_WHERE: {
        char why[512];
        int rc = read_filter_where_add(f, value, why, sizeof why);
        const char **v = rc == 0 ? realloc(cli->where_args, (cli->nwhere + 1) * sizeof *v) : NULL;
        if (rc == -ENOMEM || (rc == 0 && !v))
            dump_oom();
        if (rc != 0)
            usage_error("--%s", why);
        cli->where_args = v;
        cli->where_args[cli->nwhere++] = value;
        break;
    }
    case OPT_LIMIT:
        f->limit = parse_u64_opt("--limit", value, 1, UINT64_MAX);
        break;
    case OPT_MAX_HOSTS:
        cli->max_hosts = (size_t)parse_u64_opt("--max-hosts", value, 1, 1u << 20);
        break;
    case OPT_MERGE_MEMORY:
        cli->merge_bytes = parse_u64_opt("--merge-memory", value, 1, 1u << 20) << 20;
        break;
    case OPT_JOBS:
        cli->jobs = (unsigned)parse_u64_opt("--jobs", value, 1, 64);
        break;
    case OPT_OUT:
        if (!*value || strlen(value) >= 4000)
            usage_error("--out wants a directory");
        cli->out_dir = value;
        cli->out_dir_from = "--out";
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
    case OPT_SHIP_STATE:
        if (!*value)
            usage_error("--ship-state wants a file");
        cli->ship_state = value;
        break;
    case OPT_FORCE: cli->force = 1; break;
    case OPT_UTC: cli->utc = 1; break;
    case OPT_FOLLOW: cli->follow = 1; break;
    case OPT_CHECK: cli->check = 1; break;
    case OPT_LIVE: cli->live = 1; break;
    case OPT_STATS: cli->trace_stats = 1; break;
    case OPT_EXPORT: cli->trace_export = value; break;
    case OPT_LISTEN: cli->listen = value; break;
    case OPT_AUTH: cli->auth_file = value; break;
    case OPT_TLS_CERT: cli->tls_cert = value; break;
    case OPT_TLS_KEY: cli->tls_key = value; break;
    case OPT_TLS_CLIENT_CA: cli->tls_client_ca = value; break;
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
        if (!o || !(cmd->opts & BIT(o->id)))
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

/* The collector's output directory when --out (or, for read, stats and
 * verify, a FILE|DIR) does not say: the one a user points to, else the
 * installed service's when it is there to read, else the collector's own
 * default. */
static void default_out_dir(struct cli *cli)
{
    const char *env = getenv("SHMLOG_OUT");
    if (env && *env) {
        cli->out_dir = env;
        cli->out_dir_from = "$SHMLOG_OUT";
    } else if (access(DUMP_SERVICE_OUT, R_OK | X_OK) == 0) {
        cli->out_dir = DUMP_SERVICE_OUT;
        cli->out_dir_from = "the service's directory";
    } else {
        cli->out_dir = "./shmlog-out";
        cli->out_dir_from = "the default without $SHMLOG_OUT or " DUMP_SERVICE_OUT;
    }
}

static void time_option(const struct cli *cli, const char *flag, const char *value, uint64_t *ns)
{
    if (value && read_parse_time(value, cli->local_time, read_now_ns(), ns) != 0)
        usage_error("%s: '%s' is not a time; give one of %s", flag, value, read_time_forms);
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
    cli.ndirs = shm_default_dirs(cli.dirs, DUMP_MAX_DIRS);
    read_filter_init(&cli.filter);
    default_out_dir(&cli);
    cli.watch_ns = 1000000000u;
    parse_options(&cli, cmd, argc - 2, argv + 2);
    /* TZ set says which zone a person wants; scripts that set none keep UTC. */
    const char *tz = getenv("TZ");
    cli.local_time = tz && !cli.utc;
    out_zone(cli.local_time);
    time_option(&cli, "--since", cli.since_arg, &cli.filter.since_ns);
    time_option(&cli, "--until", cli.until_arg, &cli.filter.until_ns);
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
