/*
 * options.c - shmlog-collector's command line: --help, and the options parsed
 * and checked into opt (one clear line on stderr and exit 2 when one is bad).
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "options.h"

static const struct options defaults = {
    .out = "./shmlog-out",
    .sqpoll_cpu = -1,
    .rotate_bytes = 256ull << 20,
    .zstd_level = 1,
    .zstd_fast_level = -50,
    .fsync = FSYNC_ROTATE,
    .metrics_interval_s = 10,
    .max_delay_ns = 100000000ull,
};

static void usage(FILE *f)
{
    fprintf(f,
        "usage: " PROG " [options]\n"
        "Drains shmlog shared-memory rings into zstd-compressed, rotated files.\n"
        "\n"
        "  --dir D            segment directory to watch (repeatable; default: $SHMLOG_DIR,\n"
        "                     else <hugetlbfs>/shmlog and /dev/shm/shmlog)\n"
        "  --out O            output directory (default $SHMLOG_OUT, else ./shmlog-out; created\n"
        "                     0700 if missing)\n"
        "  --group G          output readable by group G (a name or gid): the directory gets\n"
        "                     group G, set-group-ID and g+rx, each file mode 0640 (default: 0600)\n"
        "  --cpu N[,M...]     pin the collector to these cpus (warns if not isolated)\n"
        "  --sqpoll-cpu N     io_uring kernel submission thread (SQPOLL) pinned to cpu N\n"
        "  --poll busy|adaptive  busy: spin when idle; adaptive (default): short sleeps (up to\n"
        "                     1 ms; without --cpu up to 10 ms, never past what comes due)\n"
        "  --max-delay-ms N   a committed record waits at most N ms in its ring before it is\n"
        "                     read (default 100; then at most 50 ms in its frame): a slow\n"
        "                     producer's ring is read this often, a busy one whenever it\n"
        "                     passes a sixteenth of the ring (at most 1000)\n"
        "  --rotate-size B    start a new file at B bytes (k/M/G suffixes; default 256M; 0 off)\n"
        "  --rotate-time S    start a new file every S seconds (default 0: off)\n"
        "  --keep N           keep at most N closed files (default 0: no limit)\n"
        "  --max-bytes B      keep at most B bytes of closed files (default 0: no limit)\n"
        "  --ship-state F     shmlog-ship's --state file: --keep keeps the files it has not shipped;\n"
        "                     --max-bytes removes them when it must, and says and counts it\n"
        "  --host NAME        the host name in the files and their names (default: the system's)\n"
        "  --zstd-level L     zstd level, negative for faster (default 1)\n"
        "  --zstd-fast-level L  zstd level while a ring is over half full, until every\n"
        "                     ring is under a quarter (default -50; L = --zstd-level: never)\n"
        "  --fsync never|rotate|batch  when to fsync: never; when a file is closed (default);\n"
        "                     after every frame, before its ring space is released\n"
        "  --allow-uid U      also accept the segments of user U, a name or a uid\n"
        "                     (repeatable; the collector's own uid is always accepted)\n"
        "  --allow-group G    also accept the segments of every member of group G\n"
        "  --once             drain what is there now, close the file, exit\n"
        "  --metrics-listen ADDR:PORT  serve Prometheus metrics at http://ADDR:PORT/metrics\n"
        "                     (loopback only unless --metrics-allow-remote; port 0: any free port)\n"
        "  --metrics-allow-remote  accept a non-loopback --metrics-listen address\n"
#if !SHMLOG_HAVE_MICROHTTPD
        "                     (both not built in: this build has no libmicrohttpd)\n"
#endif
        "  --metrics-file P   write the metrics to P for node_exporter's textfile collector\n"
        "                     (atomically: P.tmp, fsync, rename)\n"
        "  --metrics-interval S  seconds between --metrics-file writes (default 10)\n"
        "  --alert RULE       run a command when records at or above a level come too often\n"
        "                     (repeatable), e.g. 'level>=ERROR count>=10 window=60s exec=/path/cmd';\n"
        "                     also category=NAME; window in s, m or h; exec takes the rest of the rule;\n"
        "                     the command's environment has SHMLOG_ALERT_RULE, _COUNT, _LEVEL, _APP,\n"
        "                     _PID and _MSG_SITE; it runs at most once per window per rule\n"
        "  --alert-min-interval S  at least S seconds between two alert commands (default 0)\n"
        "  --help, --version\n"
        "\n"
        "Signals: SIGTERM/SIGINT drain every ring, close the file and exit 0; SIGHUP rotates.\n"
        "Files are written as <host>-<date>-<seq>.shlog.part and renamed to .shlog when closed.\n");
}

__attribute__((noreturn, format(printf, 1, 2)))
static void bad_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see --help)\n", stderr);
    va_end(ap);
    exit(2);
}

/* "123", "64k", "256M", "2G" (powers of 1024). */
static uint64_t parse_size(const char *flag, const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        bad_usage("%s: not a size: '%s'", flag, s);
    unsigned shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: bad_usage("%s: not a size: '%s'", flag, s);
    }
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        bad_usage("%s: not a size: '%s'", flag, s);
    return (uint64_t)v << shift;
}

static long parse_long(const char *flag, const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        bad_usage("%s: expected an integer in [%ld, %ld], got '%s'", flag, lo, hi, s);
    return v;
}

/* A user (group: a group) as an operator writes it: a name, or a number. */
static uint32_t parse_owner(const char *flag, const char *s, int group)
{
    struct passwd *pw = group ? NULL : getpwnam(s);
    struct group *gr = group ? getgrnam(s) : NULL;
    if (pw || gr)
        return pw ? pw->pw_uid : gr->gr_gid;
    const char *what = group ? "group" : "user";
    if (!*s || strspn(s, "0123456789") != strlen(s))
        bad_usage("%s: no %s '%s' (give a %s name or number)", flag, what, s, what);
    return (uint32_t)parse_long(flag, s, 0, UINT32_MAX - 1);
}

void parse_options(int argc, char **argv, struct options *o, struct alert_set *alerts)
{
    *o = defaults;
    enum { OPT_DIR = 256, OPT_OUT, OPT_CPU, OPT_SQPOLL, OPT_POLL, OPT_RSIZE, OPT_RTIME, OPT_KEEP, OPT_MAXB, OPT_ZSTD, OPT_ZSTD_FAST, OPT_FSYNC,
           OPT_UID, OPT_GID, OPT_ONCE, OPT_HELP, OPT_VERSION, OPT_MLISTEN, OPT_MREMOTE, OPT_MFILE, OPT_MINTERVAL, OPT_ALERT,
           OPT_ALERT_GAP, OPT_MAX_DELAY, OPT_GROUP, OPT_HOST, OPT_SHIP_STATE };
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, OPT_DIR},        {"out", required_argument, NULL, OPT_OUT},
        {"cpu", required_argument, NULL, OPT_CPU},        {"sqpoll-cpu", required_argument, NULL, OPT_SQPOLL},
        {"poll", required_argument, NULL, OPT_POLL},      {"rotate-size", required_argument, NULL, OPT_RSIZE},
        {"rotate-time", required_argument, NULL, OPT_RTIME}, {"keep", required_argument, NULL, OPT_KEEP},
        {"max-bytes", required_argument, NULL, OPT_MAXB}, {"zstd-level", required_argument, NULL, OPT_ZSTD},
        {"zstd-fast-level", required_argument, NULL, OPT_ZSTD_FAST},
        {"fsync", required_argument, NULL, OPT_FSYNC},    {"allow-uid", required_argument, NULL, OPT_UID},
        {"allow-group", required_argument, NULL, OPT_GID},
        {"once", no_argument, NULL, OPT_ONCE},            {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {"metrics-listen", required_argument, NULL, OPT_MLISTEN},
        {"metrics-allow-remote", no_argument, NULL, OPT_MREMOTE},
        {"metrics-file", required_argument, NULL, OPT_MFILE},
        {"metrics-interval", required_argument, NULL, OPT_MINTERVAL},
        {"alert", required_argument, NULL, OPT_ALERT},
        {"max-delay-ms", required_argument, NULL, OPT_MAX_DELAY},
        {"alert-min-interval", required_argument, NULL, OPT_ALERT_GAP},
        {"group", required_argument, NULL, OPT_GROUP},
        {"host", required_argument, NULL, OPT_HOST},
        {"ship-state", required_argument, NULL, OPT_SHIP_STATE},
        {NULL, 0, NULL, 0},
    };
    char err[8192];
    /* The same default as shmlog-dump's, so both agree without flags. */
    const char *out_env = getenv("SHMLOG_OUT");
    if (out_env && *out_env && strlen(out_env) < sizeof(o->out) - 300)
        snprintf(o->out, sizeof(o->out), "%s", out_env);
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_DIR:
            if (o->ndirs == MAX_DIRS)
                bad_usage("--dir: at most %d directories", MAX_DIRS);
            if (!*optarg || strlen(optarg) >= sizeof(o->dirs[0]))
                bad_usage("--dir: bad directory '%s'", optarg);
            snprintf(o->dirs[o->ndirs++], sizeof(o->dirs[0]), "%s", optarg);
            break;
        case OPT_OUT:
            if (!*optarg || strlen(optarg) >= sizeof(o->out) - 300)
                bad_usage("--out: bad directory '%s'", optarg);
            snprintf(o->out, sizeof(o->out), "%s", optarg);
            break;
        case OPT_CPU: {
            char *copy = strdup(optarg), *save = NULL;
            CPU_ZERO(&o->cpus);
            for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
                CPU_SET((int)parse_long("--cpu", t, 0, CPU_SETSIZE - 1), &o->cpus);
            free(copy);
            if (!CPU_COUNT(&o->cpus))
                bad_usage("--cpu: no cpu in '%s'", optarg);
            o->have_cpus = 1;
            break;
        }
        case OPT_SQPOLL: o->sqpoll_cpu = (int)parse_long("--sqpoll-cpu", optarg, 0, CPU_SETSIZE - 1); break;
        case OPT_POLL:
            if (strcmp(optarg, "busy") == 0)
                o->busy_poll = 1;
            else if (strcmp(optarg, "adaptive") == 0)
                o->busy_poll = 0;
            else
                bad_usage("--poll: expected busy or adaptive, got '%s'", optarg);
            break;
        case OPT_RSIZE: o->rotate_bytes = parse_size("--rotate-size", optarg); break;
        case OPT_RTIME:
            o->rotate_ns = (uint64_t)parse_long("--rotate-time", optarg, 0, 366L * 86400) * 1000000000ull;
            break;
        case OPT_KEEP: o->keep = (uint64_t)parse_long("--keep", optarg, 0, LONG_MAX); break;
        case OPT_MAXB: o->max_bytes = parse_size("--max-bytes", optarg); break;
        case OPT_ZSTD: o->zstd_level = (int)parse_long("--zstd-level", optarg, -131072, 22); break;
        case OPT_ZSTD_FAST: o->zstd_fast_level = (int)parse_long("--zstd-fast-level", optarg, -131072, 22); break;
        case OPT_FSYNC:
            if (strcmp(optarg, "never") == 0)
                o->fsync = FSYNC_NEVER;
            else if (strcmp(optarg, "rotate") == 0)
                o->fsync = FSYNC_ROTATE;
            else if (strcmp(optarg, "batch") == 0)
                o->fsync = FSYNC_BATCH;
            else
                bad_usage("--fsync: expected never, rotate or batch, got '%s'", optarg);
            break;
        case OPT_UID:
            if (o->nuids == MAX_UIDS - 1) /* one place is kept for our own uid */
                bad_usage("--allow-uid: at most %d users", MAX_UIDS - 1);
            o->uids[o->nuids++] = parse_owner("--allow-uid", optarg, 0);
            break;
        case OPT_GID:
            if (o->ngids == MAX_UIDS)
                bad_usage("--allow-group: at most %d groups", MAX_UIDS);
            o->gids[o->ngids++] = parse_owner("--allow-group", optarg, 1);
            break;
        case OPT_ONCE: o->once = 1; break;
        case OPT_HOST:
            if (!shlog_host_name_ok(optarg))
                bad_usage("--host: '%s' is not a host name of 1 to %u letters, digits, '.', '_' or '-' "
                          "(not starting with '.')", optarg, SHMLOG_HOST_BYTES - 1);
            snprintf(o->host, sizeof(o->host), "%s", optarg);
            break;
        case OPT_SHIP_STATE:
            if (!*optarg || strlen(optarg) >= 4096)
                bad_usage("--ship-state: bad path '%s'", optarg);
            o->ship_state = optarg;
            break;
        case OPT_GROUP:
            o->out_gid = parse_owner("--group", optarg, 1);
            o->have_group = 1;
            break;
#if SHMLOG_HAVE_MICROHTTPD
        case OPT_MLISTEN: o->metrics_listen = optarg; break;
        case OPT_MREMOTE: o->metrics_allow_remote = 1; break;
#else
        case OPT_MLISTEN:
        case OPT_MREMOTE:
            bad_usage("--metrics-listen, --metrics-allow-remote: metrics over HTTP are not built in (this build has "
                      "no libmicrohttpd: meson -Dmetrics=enabled); --metrics-file works");
#endif
        case OPT_MFILE:
            if (!*optarg || strlen(optarg) >= 4096)
                bad_usage("--metrics-file: bad path '%s'", optarg);
            o->metrics_file = optarg;
            break;
        case OPT_MINTERVAL: o->metrics_interval_s = (unsigned)parse_long("--metrics-interval", optarg, 1, 86400); break;
        case OPT_ALERT:
            if (alert_add(alerts, optarg, err, sizeof(err)) != 0)
                bad_usage("%s", err);
            break;
        case OPT_MAX_DELAY:
            o->max_delay_ns = (uint64_t)parse_long("--max-delay-ms", optarg, 1, MAX_DELAY_MS_MAX) * 1000000ull;
            break;
        case OPT_ALERT_GAP:
            alerts->min_interval_ns = (uint64_t)parse_long("--alert-min-interval", optarg, 0, 86400) * 1000000000ull;
            break;
        case OPT_HELP: usage(stdout); exit(0);
        case OPT_VERSION: printf(PROG " %s (file format %u)\n", SHMLOG_COLLECTOR_VERSION, SHLOG_FILE_VERSION); exit(0);
        case ':': bad_usage("%s needs a value", argv[optind - 1]);
        default:
            if (optopt > 0 && optopt < 128)
                bad_usage("unknown option '-%c'", optopt);
            bad_usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        bad_usage("unexpected argument '%s'", argv[optind]);
    struct sockaddr_storage listen_addr;
    if (o->metrics_listen &&
        metrics_parse_listen(o->metrics_listen, o->metrics_allow_remote, &listen_addr, err, sizeof(err)) != 0)
        bad_usage("%s", err);
    o->uids[o->nuids++] = getuid();
    o->accept = (struct shm_accept){.uids = o->uids, .n_uids = o->nuids, .gids = o->gids, .n_gids = o->ngids};
    if (!o->ndirs)
        o->ndirs = shm_default_dirs(o->dirs, MAX_DIRS);
}
