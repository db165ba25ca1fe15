/*
 * collector.c - shmlog-collector: finds the segments of producer processes,
 * drains their rings, compacts and compresses records into frames
 * (collector/FORMAT.md) and writes them with io_uring into rotated files.
 *
 * The invariant everything here serves (README.md, "Guarantees"): ring space is
 * released only after the frame holding its records was written (and, with
 * --fsync batch, synced). Frames complete out of order, so releases are applied
 * from a FIFO of frames in submission order, never from a completion directly.
 *
 *   rings --drain--> encoder (open frame) --flush--> frame FIFO --io_uring-->
 *   file; FIFO head done --> shmlog_ring_release(), exits --> unlink segments
 *
 * One thread. Signal handlers only set flags; the loop does the work.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <liburing.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "alert.h"
#include "anchors.h"
#include "metrics.h"
#include "shlog_file.h"

#define PROG "shmlog-collector"
#define MAX_DIRS 8
#define MAX_UIDS 32
#define MAX_INFLIGHT 8              /* frames submitted and not yet done */
#define FRAME_MAX_RECORDS 65536u    /* flush a frame at this many records ... */
#define FRAME_MAX_RAW (16u << 20)   /* ... or this many uncompressed bytes ... */
#define FRAME_MAX_AGE_NS 50000000ull /* ... or when its first record is this old */
/* A pass adds to a frame until this, which leaves room below SHLOG_MAX_FRAME_RAW
 * for two rings' passes of the largest records (DRAIN_BUDGET x 8 slots). */
#define FRAME_RAW_STOP (SHLOG_MAX_FRAME_RAW - 2u * DRAIN_BUDGET * SHMLOG_MAX_SLOTS * SHMLOG_RECORD_BYTES)
#define DRAIN_BUDGET 16384u         /* records per ring per pass: fairness */
#define TAKE_SLOTS 64u              /* slots copied out of a ring at a time */
#define WARM_HEAP_BYTES (16u << 20) /* heap faulted in at start: see prepare_memory */
#define WARM_UP_RECORDS 32768u      /* a frame's worth: see prepare_memory */
#define MAX_PASS_WAIT_NS 1000000ull /* longest wait between drain passes (see pass_wait_ns) */
#define PEAK_RECORDS_PER_US 100u    /* the fastest a producer core can fill a ring */
#define RESCAN_NS 1000000000ull
#define LIVENESS_NS 10000000ull
#define NOTIFY_NS 2000000ull
#define SITE_CACHE_MAX (1u << 20)   /* site ids cached per process */
#define WRITE_RETRY_NS 1000000000ull

/* ==== Options ==== */

enum fsync_mode { FSYNC_NEVER, FSYNC_ROTATE, FSYNC_BATCH };

static struct options {
    char dirs[MAX_DIRS][4096];
    int ndirs;
    char out[4096];
    cpu_set_t cpus;
    int have_cpus;
    int sqpoll_cpu;
    int busy_poll;
    uint64_t rotate_bytes;
    uint64_t rotate_ns;
    uint64_t keep;
    uint64_t max_bytes;
    int zstd_level;
    int zstd_fast_level; /* while a ring fills: see set_frame_level */
    enum fsync_mode fsync;
    uid_t uids[MAX_UIDS];
    size_t nuids;
    gid_t gids[MAX_UIDS];
    size_t ngids;
    struct shmlog_accept accept; /* the two lists above, and always our own uid */
    int once;
    const char *metrics_listen;
    int metrics_allow_remote;
    const char *metrics_file;
    unsigned metrics_interval_s;
} opt = {
    .out = "./shmlog-out",
    .sqpoll_cpu = -1,
    .rotate_bytes = 256ull << 20,
    .zstd_level = 1,
    .zstd_fast_level = -50,
    .fsync = FSYNC_ROTATE,
    .metrics_interval_s = 10,
};

/* --alert rules: counted on the drain path, run from the loop. */
static struct alert_set alerts;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: " PROG " [options]\n"
        "Drains shmlog shared-memory rings into zstd-compressed, rotated files.\n"
        "\n"
        "  --dir D            segment directory to watch (repeatable; default: $SHMLOG_DIR,\n"
        "                     else <hugetlbfs>/shmlog and /dev/shm/shmlog)\n"
        "  --out O            output directory (default ./shmlog-out; created 0700 if missing)\n"
        "  --cpu N[,M...]     pin the collector to these cpus (warns if not isolated)\n"
        "  --sqpoll-cpu N     io_uring kernel submission thread (SQPOLL) pinned to cpu N\n"
        "  --poll busy|adaptive  busy: spin when idle; adaptive (default): short sleeps\n"
        "  --rotate-size B    start a new file at B bytes (k/M/G suffixes; default 256M; 0 off)\n"
        "  --rotate-time S    start a new file every S seconds (default 0: off)\n"
        "  --keep N           keep at most N closed files (default 0: no limit)\n"
        "  --max-bytes B      keep at most B bytes of closed files (default 0: no limit)\n"
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

static void parse_options(int argc, char **argv)
{
    enum { OPT_DIR = 256, OPT_OUT, OPT_CPU, OPT_SQPOLL, OPT_POLL, OPT_RSIZE, OPT_RTIME, OPT_KEEP, OPT_MAXB, OPT_ZSTD, OPT_ZSTD_FAST, OPT_FSYNC,
           OPT_UID, OPT_GID, OPT_ONCE, OPT_HELP, OPT_VERSION, OPT_MLISTEN, OPT_MREMOTE, OPT_MFILE, OPT_MINTERVAL, OPT_ALERT,
           OPT_ALERT_GAP };
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
        {"alert-min-interval", required_argument, NULL, OPT_ALERT_GAP},
        {NULL, 0, NULL, 0},
    };
    char err[8192];
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_DIR:
            if (opt.ndirs == MAX_DIRS)
                bad_usage("--dir: at most %d directories", MAX_DIRS);
            if (!*optarg || strlen(optarg) >= sizeof(opt.dirs[0]))
                bad_usage("--dir: bad directory '%s'", optarg);
            snprintf(opt.dirs[opt.ndirs++], sizeof(opt.dirs[0]), "%s", optarg);
            break;
        case OPT_OUT:
            if (!*optarg || strlen(optarg) >= sizeof(opt.out) - 300)
                bad_usage("--out: bad directory '%s'", optarg);
            snprintf(opt.out, sizeof(opt.out), "%s", optarg);
            break;
        case OPT_CPU: {
            char *copy = strdup(optarg), *save = NULL;
            CPU_ZERO(&opt.cpus);
            for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
                CPU_SET((int)parse_long("--cpu", t, 0, CPU_SETSIZE - 1), &opt.cpus);
            free(copy);
            if (!CPU_COUNT(&opt.cpus))
                bad_usage("--cpu: no cpu in '%s'", optarg);
            opt.have_cpus = 1;
            break;
        }
        case OPT_SQPOLL: opt.sqpoll_cpu = (int)parse_long("--sqpoll-cpu", optarg, 0, CPU_SETSIZE - 1); break;
        case OPT_POLL:
            if (strcmp(optarg, "busy") == 0)
                opt.busy_poll = 1;
            else if (strcmp(optarg, "adaptive") == 0)
                opt.busy_poll = 0;
            else
                bad_usage("--poll: expected busy or adaptive, got '%s'", optarg);
            break;
        case OPT_RSIZE: opt.rotate_bytes = parse_size("--rotate-size", optarg); break;
        case OPT_RTIME:
            opt.rotate_ns = (uint64_t)parse_long("--rotate-time", optarg, 0, 366L * 86400) * 1000000000ull;
            break;
        case OPT_KEEP: opt.keep = (uint64_t)parse_long("--keep", optarg, 0, LONG_MAX); break;
        case OPT_MAXB: opt.max_bytes = parse_size("--max-bytes", optarg); break;
        case OPT_ZSTD: opt.zstd_level = (int)parse_long("--zstd-level", optarg, -131072, 22); break;
        case OPT_ZSTD_FAST: opt.zstd_fast_level = (int)parse_long("--zstd-fast-level", optarg, -131072, 22); break;
        case OPT_FSYNC:
            if (strcmp(optarg, "never") == 0)
                opt.fsync = FSYNC_NEVER;
            else if (strcmp(optarg, "rotate") == 0)
                opt.fsync = FSYNC_ROTATE;
            else if (strcmp(optarg, "batch") == 0)
                opt.fsync = FSYNC_BATCH;
            else
                bad_usage("--fsync: expected never, rotate or batch, got '%s'", optarg);
            break;
        case OPT_UID:
            if (opt.nuids == MAX_UIDS - 1) /* one place is kept for our own uid */
                bad_usage("--allow-uid: at most %d users", MAX_UIDS - 1);
            opt.uids[opt.nuids++] = parse_owner("--allow-uid", optarg, 0);
            break;
        case OPT_GID:
            if (opt.ngids == MAX_UIDS)
                bad_usage("--allow-group: at most %d groups", MAX_UIDS);
            opt.gids[opt.ngids++] = parse_owner("--allow-group", optarg, 1);
            break;
        case OPT_ONCE: opt.once = 1; break;
#if SHMLOG_HAVE_MICROHTTPD
        case OPT_MLISTEN: opt.metrics_listen = optarg; break;
        case OPT_MREMOTE: opt.metrics_allow_remote = 1; break;
#else
        case OPT_MLISTEN:
        case OPT_MREMOTE:
            bad_usage("--metrics-listen, --metrics-allow-remote: metrics over HTTP are not built in (this build has "
                      "no libmicrohttpd: meson -Dmetrics=enabled); --metrics-file works");
#endif
        case OPT_MFILE:
            if (!*optarg || strlen(optarg) >= 4096)
                bad_usage("--metrics-file: bad path '%s'", optarg);
            opt.metrics_file = optarg;
            break;
        case OPT_MINTERVAL: opt.metrics_interval_s = (unsigned)parse_long("--metrics-interval", optarg, 1, 86400); break;
        case OPT_ALERT:
            if (alert_add(&alerts, optarg, err, sizeof(err)) != 0)
                bad_usage("%s", err);
            break;
        case OPT_ALERT_GAP:
            alerts.min_interval_ns = (uint64_t)parse_long("--alert-min-interval", optarg, 0, 86400) * 1000000000ull;
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
    if (opt.metrics_listen &&
        metrics_parse_listen(opt.metrics_listen, opt.metrics_allow_remote, &listen_addr, err, sizeof(err)) != 0)
        bad_usage("%s", err);
    opt.uids[opt.nuids++] = getuid();
    opt.accept = (struct shmlog_accept){.uids = opt.uids, .n_uids = opt.nuids, .gids = opt.gids, .n_gids = opt.ngids};
    if (!opt.ndirs)
        opt.ndirs = shmlog_default_dirs(opt.dirs, MAX_DIRS);
}

/* ==== Time, signals ==== */

static volatile sig_atomic_t got_term, got_hup;

static void on_term(int sig) { (void)sig; got_term = 1; }
static void on_hup(int sig) { (void)sig; got_hup = 1; }

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((format(printf, 1, 2)))
/* One line on stderr. File names in it come from directories other users
 * write: a control character is shown as \xNN, so no name can forge a line
 * of the log. */
static void warnx(const char *fmt, ...)
{
    char line[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fputs(PROG ": ", stderr);
    for (const unsigned char *c = (const unsigned char *)line; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            fprintf(stderr, "\\x%02x", *c);
        else
            fputc(*c, stderr);
    fputc('\n', stderr);
}

/* ==== State ==== */

struct proc;

struct ring {
    struct proc *proc;
    struct shmlog_seg seg;
    struct shmlog_ring_view view;
    dev_t dev;
    ino_t ino;
    uint32_t cpu;
    uint64_t read_pos;      /* next position to read */
    uint64_t stop_at;       /* shutdown: drain up to here */
    uint64_t dropped_seen;  /* the ring's dropped counter as last reported */
    uint64_t records;       /* drained: metrics */
    uint64_t payload_bytes;
    uint64_t waiting_since; /* mono ns a pass first left its few records waiting: 0 when none */
    uint64_t build_gen;     /* frame being built that holds a release of it */
    size_t build_rel;       /* its index in that frame's release list */
    int broken;             /* the mapping faulted, or quarantined: never read again */
    uint64_t corrupt_seen;  /* records that failed validation: the first is reported */
    int quarantined;        /* broken by what its writers wrote: its head is still read ... */
    uint64_t abandoned_to;  /* ... and positions up to here were written as lost */
    struct ring *next;
};

struct site_slot {
    struct shmlog_site_info *info;
    uint64_t file_gen; /* file it was emitted into */
};

struct proc {
    uint32_t key;
    int dir;            /* index in opt.dirs: its rings are in the same directory */
    struct shmlog_seg meta;
    dev_t dev;
    ino_t ino;
    struct shmlog_proc_info info;
    struct site_slot *sites;
    uint32_t nsites;
    struct ring *rings;
    int pidfd;
    int gone;           /* exited: rings are read with writer_dead */
    int exit_queued;    /* its EXIT section is in a frame */
    uint64_t no_ring_seen, unregistered_seen; /* the meta's loss counters as last written */
    uint64_t records, lost;
    struct proc *next;
};

struct outfile {
    int fd;                 /* -1 until the first frame */
    uint64_t gen;           /* tells files apart for site emission */
    uint64_t seq;
    char final_path[4400];
    char part_path[4400 + sizeof(SHLOG_PART_SUFFIX)];
    uint64_t size;          /* bytes submitted: the next frame's offset */
    uint64_t opened_ns;
    struct shlog_enc *enc;
    unsigned inflight;      /* frames not yet done */
    int closing;
    struct outfile *next;   /* closing files */
};

struct release {
    struct ring *ring;
    uint64_t pos;
};

enum frame_state { FR_WRITING, FR_SYNCING, FR_RETRY, FR_DONE };

struct frame {
    struct outfile *file;
    uint8_t *buf;
    size_t len, done;
    uint64_t off;
    enum frame_state state;
    enum frame_state retry_state; /* what to redo when state is FR_RETRY */
    int need_sync;
    uint64_t retry_at;
    struct release *rel;
    size_t nrel;
    struct proc **exits;
    size_t nexits;
    struct frame *next;
};

static struct {
    struct io_uring uring;
    int inotify_fd;
    int watch[MAX_DIRS];
    /* While opt.dirs[i] does not exist: a watch on its nearest existing
     * ancestor, and the name that appears there on the way to it. */
    int ancestor_watch[MAX_DIRS];
    char ancestor_child[MAX_DIRS][256];
    char host[SHMLOG_HOST_BYTES];
    struct proc *procs;
    uint32_t next_key;
    struct outfile *cur;
    struct outfile *closing;
    uint64_t next_seq;
    uint64_t file_gen;
    /* the frame being built */
    struct ring *batch_ring;   /* ring of the open batch, or NULL */
    struct release *rel;
    size_t nrel, rel_cap;
    struct proc **exits;
    size_t nexits, exits_cap;
    uint64_t build_gen;
    uint64_t build_first_ns;   /* when it got its first content, 0 if empty */
    int flush_soon;
    /* frames submitted, in order */
    struct frame *fifo_head, *fifo_tail;
    unsigned inflight;
    /* output trouble (a full disk, an I/O error): one line when it starts, one when it ends */
    int out_error;             /* errno of the failure going on, 0 if none */
    uint64_t out_error_since;  /* mono_ns when it started */
    /* counters */
    uint64_t records, frames, fast_frames, bytes;
    unsigned fill_quarters;     /* the fullest ring at the last drain_all: quarters of it in use */
    int filling;                /* frames go at opt.zstd_fast_level: see set_frame_level */
    uint64_t record_slots;      /* ring slots of the records encoded */
    int backlog;                /* the last pass left records behind (budget spent, frame full) */
    uint64_t files, rotations, write_errors, written_bytes, rejected;
    uint64_t losses[SHMLOG_LOSS_REASON_MAX + 1]; /* records, by enum shmlog_loss_reason */
    /* segments that failed to open: reported once */
    struct bad_seg { char path[4400]; ino_t ino; int final; struct bad_seg *next; } *bad;
    struct shmlog_rec rec;
    struct frame_anchors clock;
    _Alignas(64) struct shmlog_record take[TAKE_SLOTS];
} S;

/* ==== Output files ==== */

static int ensure_dir(const char *dir)
{
    if (mkdir(dir, 0700) == 0 || errno == EEXIST)
        return 0;
    return -errno;
}

/* 0 with *seq for a name outfile_open gives, "<host>-<YYYYmmdd>-<HHMMSS>-<seq>.shlog[.part]"
 * with seq printed "%06" PRIu64, else -1: a name spelled otherwise (a number past UINT64_MAX,
 * a leading zero past six digits) is never one the collector writes, so numbering and
 * retention leave it alone. */
static int file_seq_of(const char *name, uint64_t *seq, int *part)
{
    size_t n = strlen(name), pl = strlen(SHLOG_PART_SUFFIX), sl = strlen(SHLOG_FILE_SUFFIX);
    *part = n > pl && strcmp(name + n - pl, SHLOG_PART_SUFFIX) == 0;
    if (*part)
        n -= pl;
    if (n <= sl || strncmp(name + n - sl, SHLOG_FILE_SUFFIX, sl) != 0)
        return -1;
    n -= sl;
    size_t d = n;
    while (d > 0 && isdigit((unsigned char)name[d - 1]))
        d--;
    if (n - d < 6 || (n - d > 6 && name[d] == '0'))
        return -1;
    /* "-YYYYmmdd-HHMMSS-" before the number, a host name before that */
    if (d < 18 || name[d - 1] != '-' || name[d - 8] != '-' || name[d - 17] != '-')
        return -1;
    for (size_t i = d - 16; i < d - 1; i++)
        if (i != d - 8 && !isdigit((unsigned char)name[i]))
            return -1;
    uint64_t v = 0;
    for (size_t i = d; i < n; i++) {
        unsigned c = (unsigned)(name[i] - '0');
        if (v > (UINT64_MAX - c) / 10)
            return -1;
        v = v * 10 + c;
    }
    *seq = v;
    return 0;
}

/* Set once UINT64_MAX is taken: wrapping around to 0 would reuse names. */
static int seq_spent;

/* The next file number, or -EOVERFLOW when none is left. */
static int take_seq(uint64_t *seq)
{
    if (seq_spent)
        return -EOVERFLOW;
    *seq = S.next_seq++;
    seq_spent = S.next_seq == 0;
    return 0;
}

/* path with its number replaced: "<stem>-<seq>.shlog", the stem (directory,
 * host, date) kept. 0, or -ENAMETOOLONG. */
static int renumbered(char *out, size_t cap, const char *path, uint64_t seq)
{
    const char *dash = strrchr(path, '-');
    if (!dash)
        return -EINVAL;
    size_t n = (size_t)snprintf(out, cap, "%.*s-%06" PRIu64 SHLOG_FILE_SUFFIX, (int)(dash - path), path, seq);
    return n < cap ? 0 : -ENAMETOOLONG;
}

/* rename(2) that never replaces what is at to: -EEXIST if anything is. */
static int rename_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -errno;
    /* A file system without RENAME_NOREPLACE: link(2) refuses a taken name too. */
    if (link(from, to) != 0)
        return -errno;
    if (unlink(from) != 0)
        warnx("cannot remove %s (it is also %s now): %s", from, to, strerror(errno));
    return 0;
}

/* Renames the closed file at from to to, or under the next free number (to
 * is updated) when something already has that name. 0, or -errno. */
static int close_as(const char *from, char *to, size_t cap)
{
    int rc;
    while ((rc = rename_noreplace(from, to)) == -EEXIST) {
        uint64_t seq;
        char next[4400];
        if ((rc = take_seq(&seq)) != 0 || (rc = renumbered(next, sizeof(next), to, seq)) != 0)
            return rc;
        warnx("%s exists: left alone, %s becomes %s", to, from, next);
        snprintf(to, cap, "%s", next);
    }
    return rc;
}

static int collector_alive(uint64_t pid);

/* Is this .part file still being written by a running collector? */
static int part_file_in_use(const char *path)
{
    /* O_NONBLOCK: a FIFO swapped in under the name must not hang the start. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    uint8_t hb[SHLOG_FILE_HEADER_BYTES];
    struct shlog_file_header h;
    int in_use = pread(fd, hb, sizeof(hb), 0) == (ssize_t)sizeof(hb) &&
                 !shlog_file_header_decode(hb, sizeof(hb), &h) && h.collector_pid != (uint32_t)getpid() &&
                 collector_alive(h.collector_pid);
    close(fd);
    return in_use;
}

/* Numbers new files after every name present, then renames the .part files a
 * crashed run left (their whole frames are valid); exits 2, renaming nothing,
 * when a file has the last number, since wrapping around would reuse names. */
static void recover_out_dir(void)
{
    DIR *d = opendir(opt.out);
    if (!d)
        return;
    struct dirent *de;
    int any = 0;
    uint64_t top = 0;
    char top_name[256] = "";
    while ((de = readdir(d))) {
        int part;
        uint64_t seq;
        if (file_seq_of(de->d_name, &seq, &part) == 0 && (!any || seq > top)) {
            any = 1;
            top = seq;
            snprintf(top_name, sizeof(top_name), "%s", de->d_name);
        }
    }
    if (any && top == UINT64_MAX) {
        fprintf(stderr, PROG ": --out %s: %s has the last file number, %" PRIu64 ": none is left for a new file "
                "(move the files elsewhere)\n", opt.out, top_name, top);
        exit(2);
    }
    S.next_seq = any ? top + 1 : 0;
    /* A second pass: a .part renamed because its name is taken gets a number
     * above every file, so all of them must have been seen. */
    rewinddir(d);
    while ((de = readdir(d))) {
        int part;
        uint64_t seq;
        if (file_seq_of(de->d_name, &seq, &part) != 0 || !part)
            continue;
        char from[4400], to[4400];
        snprintf(from, sizeof(from), "%s/%s", opt.out, de->d_name);
        struct stat st;
        /* Only regular files: a symlink planted under a .part name is neither
         * followed nor given a .shlog name that readers would follow. */
        if (lstat(from, &st) != 0 || !S_ISREG(st.st_mode) || part_file_in_use(from))
            continue;
        if (st.st_size < SHLOG_FILE_HEADER_BYTES) {
            /* Killed between creating it and writing its header: frames are
             * written only after the header, so it holds nothing. */
            if (unlink(from) == 0)
                warnx("removed %s: an earlier run left it without a header (nothing in it)", from);
            continue;
        }
        snprintf(to, sizeof(to), "%s", from);
        to[strlen(to) - strlen(SHLOG_PART_SUFFIX)] = '\0';
        int rc = close_as(from, to, sizeof(to));
        if (rc == 0)
            warnx("recovered %s from an earlier run (its last frame may be torn)", to);
        else
            warnx("cannot rename %s: %s", from, strerror(-rc));
    }
    closedir(d);
}

struct kept { uint64_t seq; uint64_t bytes; char name[256]; };

static int kept_cmp(const void *a, const void *b)
{
    const struct kept *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* --keep / --max-bytes: deletes the oldest closed files. */
static void apply_retention(void)
{
    if (!opt.keep && !opt.max_bytes)
        return;
    DIR *d = opendir(opt.out);
    if (!d)
        return;
    struct kept *v = NULL;
    size_t n = 0, cap = 0;
    uint64_t total = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        int part;
        uint64_t seq;
        struct stat st;
        if (file_seq_of(de->d_name, &seq, &part) != 0 || part || strlen(de->d_name) >= sizeof(v->name) ||
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct kept *nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                /* Without every file, the oldest ones are not known: delete none this time. */
                warnx("retention: out of memory, nothing deleted");
                n = 0;
                break;
            }
            v = nv;
        }
        v[n].seq = seq;
        v[n].bytes = (uint64_t)st.st_size;
        snprintf(v[n].name, sizeof(v[n].name), "%s", de->d_name);
        total += v[n++].bytes;
    }
    if (n)
        qsort(v, n, sizeof(*v), kept_cmp);
    for (size_t i = 0; i < n && ((opt.keep && n - i > opt.keep) || (opt.max_bytes && total > opt.max_bytes)); i++) {
        if (unlinkat(dirfd(d), v[i].name, 0) != 0)
            warnx("retention: cannot delete %s/%s: %s", opt.out, v[i].name, strerror(errno));
        total -= v[i].bytes;
    }
    free(v);
    closedir(d);
}

/* The drain loop must not fault: a page fault takes microseconds, in which a
 * producer at full rate fills a good part of its ring (bench/compare.sh
 * --workloads args3_str40 loses records to the first frames' faults without
 * this). glibc
 * would hand frame buffers and compression workspaces back to the kernel
 * when freed (mmap above 128 KiB, heap trimming) and fault them in again on
 * the next frame or file; kept, they are reused. Buffers still grow past
 * what they had (the columns and frames of longer records, more frames in
 * flight), so the heap is faulted in first, WARM_HEAP_BYTES of it (more than
 * the collector's peak under the benchmarks), and freed:
 * growth is carved from pages already there. Then one throwaway frame of the
 * size real frames have makes zstd allocate and touch its workspace now,
 * before the first producer, instead of at its first frame (and the freed
 * memory serves every encoder after: rotations too). */
static void prepare_memory(void)
{
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    void *heap = malloc(WARM_HEAP_BYTES);
    if (heap) {
        shmlog_prefault(heap, WARM_HEAP_BYTES, 1);
        free(heap);
    }
    struct shlog_enc *enc;
    if (shlog_enc_new(&enc, opt.zstd_level) != 0)
        return;
    struct shmlog_proc_info pi = {.app = "warm-up", .tsc_hz = 1000000000};
    static struct shmlog_rec rec;
    int rc = shlog_enc_process(enc, 0, &pi);
    rc = rc ? rc : shlog_enc_batch_begin(enc, 0, 0);
    for (uint64_t i = 0; !rc && i < WARM_UP_RECORDS; i++) {
        rec = (struct shmlog_rec){.pos = i, .tsc = i * 37, .nslots = 1, .payload_len = SHMLOG_HEAD_PAYLOAD};
        memcpy(rec.payload, &rec.tsc, sizeof rec.tsc); /* something to compress, not all zeros */
        rc = shlog_enc_record(enc, &rec);
        if (rc == -ENOSPC) { /* a full batch: the next one */
            rc = shlog_enc_batch_end(enc);
            rc = rc ? rc : shlog_enc_batch_begin(enc, 0, 0);
            rc = rc ? rc : shlog_enc_record(enc, &rec);
        }
    }
    rc = rc ? rc : shlog_enc_batch_end(enc);
    size_t cap = shlog_enc_frame_bound(enc);
    void *buf = rc ? NULL : malloc(cap);
    if (buf)
        shlog_enc_frame(enc, buf, cap);
    free(buf);
    shlog_enc_free(enc);
}

static struct outfile *outfile_new(void)
{
    struct outfile *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->fd = -1;
    f->gen = ++S.file_gen;
    if (shlog_enc_new(&f->enc, opt.zstd_level)) {
        free(f);
        return NULL;
    }
    return f;
}

/* A full disk fails every write and every retry: one line when the trouble
 * starts and one when it ends, not one per frame or per second. Nothing is
 * released meanwhile, so producers drop and count once their rings fill. */
static void output_failed(const char *what, const char *path, int err)
{
    if (S.out_error)
        return;
    S.out_error = err;
    S.out_error_since = mono_ns();
    warnx("%s %s: %s; retrying every %llu ms, the records stay in their rings until written "
          "(producers drop and count when a ring is full)",
          what, path, strerror(err), WRITE_RETRY_NS / 1000000ull);
}

static void output_ok(void)
{
    if (!S.out_error)
        return;
    warnx("output works again after %.1f s", (double)(mono_ns() - S.out_error_since) / 1e9);
    S.out_error = 0;
}

/* Creates the file on disk and writes its header (once, before any frame). */
static int outfile_open(struct outfile *f)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char date[32];
    strftime(date, sizeof(date), "%Y%m%d-%H%M%S", &tm);
    if (take_seq(&f->seq) != 0) {
        output_failed("no file number is left after 18446744073709551615 in", opt.out, EOVERFLOW);
        return -EOVERFLOW;
    }
    snprintf(f->final_path, sizeof(f->final_path), "%s/%s-%s-%06" PRIu64 SHLOG_FILE_SUFFIX, opt.out, S.host,
             date, f->seq);
    snprintf(f->part_path, sizeof(f->part_path), "%s" SHLOG_PART_SUFFIX, f->final_path);
    /* A closed file under the name is skipped now; outfile_finish still never
     * replaces one that appears meanwhile. */
    struct stat st;
    if (lstat(f->final_path, &st) == 0) {
        warnx("%s exists and is not ours: left alone, taking the next file number", f->final_path);
        return -EEXIST;
    }
    /* O_EXCL | O_NOFOLLOW: whatever is planted under the name (a symlink to
     * a file elsewhere) is neither followed nor reused; the caller moves on
     * to the next sequence number. */
    f->fd = open(f->part_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (f->fd < 0) {
        int e = errno;
        if (e == EEXIST)
            warnx("%s exists and is not ours: left alone, taking the next file number", f->part_path);
        else
            output_failed("cannot create", f->part_path, e);
        return -e;
    }
    struct shlog_file_header h = {.version = SHLOG_FILE_VERSION, .file_seq = f->seq, .created_ns = real_ns(),
                                  .collector_pid = (uint32_t)getpid()};
    snprintf(h.host, sizeof(h.host), "%s", S.host);
    uint8_t hb[SHLOG_FILE_HEADER_BYTES];
    shlog_file_header_encode(hb, &h);
    errno = 0;
    if (pwrite(f->fd, hb, sizeof(hb), 0) != (ssize_t)sizeof(hb)) {
        int e = errno ? errno : ENOSPC; /* a short write: the disk filled */
        output_failed("cannot write the header of", f->part_path, e);
        close(f->fd);
        unlink(f->part_path);
        f->fd = -1;
        S.next_seq = f->seq; /* the number is free again */
        seq_spent = 0;
        return -e;
    }
    f->size = sizeof(hb);
    f->opened_ns = mono_ns();
    S.files++;
    return 0;
}

/* The last frame of a closing file is done: sync, close, rename, retention. */
static void outfile_finish(struct outfile *f)
{
    if (f->fd >= 0) {
        if (opt.fsync != FSYNC_NEVER && fsync(f->fd) != 0)
            warnx("fsync %s: %s", f->part_path, strerror(errno));
        close(f->fd);
        int rc = close_as(f->part_path, f->final_path, sizeof(f->final_path));
        if (rc != 0)
            warnx("cannot rename %s: %s (the next start recovers it)", f->part_path, strerror(-rc));
    }
    shlog_enc_free(f->enc);
    free(f);
    apply_retention();
}

/* ==== io_uring: frame writes ==== */

static int uring_setup(void)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    if (opt.sqpoll_cpu >= 0) {
        p.flags = IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF;
        p.sq_thread_cpu = (unsigned)opt.sqpoll_cpu;
        p.sq_thread_idle = 100; /* ms before the kernel thread sleeps */
    }
    int rc = io_uring_queue_init_params(64, &S.uring, &p);
    if (rc < 0)
        warnx("io_uring_queue_init: %s", strerror(-rc));
    return rc;
}

static struct io_uring_sqe *get_sqe(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&S.uring);
    if (!sqe) {
        io_uring_submit(&S.uring);
        sqe = io_uring_get_sqe(&S.uring);
    }
    return sqe;
}

static void frame_submit(struct frame *f)
{
    struct io_uring_sqe *sqe = get_sqe();
    if (!sqe) { /* cannot happen with MAX_INFLIGHT far below the queue depth */
        f->retry_state = f->state;
        f->state = FR_RETRY;
        f->retry_at = mono_ns();
        return;
    }
    if (f->state == FR_SYNCING)
        io_uring_prep_fsync(sqe, f->file->fd, IORING_FSYNC_DATASYNC);
    else
        io_uring_prep_write(sqe, f->file->fd, f->buf + f->done, (unsigned)(f->len - f->done), f->off + f->done);
    io_uring_sqe_set_data(sqe, f);
    io_uring_submit(&S.uring);
}

static void frame_failed(struct frame *f, int err)
{
    output_failed(f->state == FR_SYNCING ? "fsync" : "write", f->file->part_path, err);
    S.write_errors++;
    f->retry_state = f->state;
    f->state = FR_RETRY;
    f->retry_at = mono_ns() + WRITE_RETRY_NS;
}

static void proc_finalize(struct proc *p);

static void ring_release(struct ring *r, uint64_t pos)
{
    if (r->broken)
        return;
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0) == 0) {
        shmlog_bus_guard = &jb;
        shmlog_ring_release(&r->view, pos);
    } else {
        r->broken = 1;
    }
    shmlog_bus_guard = NULL;
}

/* Applies what the frames at the head of the FIFO made durable. */
static void fifo_advance(void)
{
    struct frame *f;
    while ((f = S.fifo_head) && f->state == FR_DONE) {
        S.fifo_head = f->next;
        if (!S.fifo_head)
            S.fifo_tail = NULL;
        for (size_t i = 0; i < f->nrel; i++)
            ring_release(f->rel[i].ring, f->rel[i].pos);
        for (size_t i = 0; i < f->nexits; i++)
            proc_finalize(f->exits[i]);
        struct outfile *file = f->file;
        if (file && --file->inflight == 0 && file->closing) {
            struct outfile **pp = &S.closing;
            while (*pp && *pp != file)
                pp = &(*pp)->next;
            if (*pp)
                *pp = file->next;
            outfile_finish(file);
        }
        S.inflight--;
        free(f->buf);
        free(f->rel);
        free(f->exits);
        free(f);
    }
}

static void handle_cqe(struct io_uring_cqe *cqe)
{
    struct frame *f = io_uring_cqe_get_data(cqe);
    int res = cqe->res;
    io_uring_cqe_seen(&S.uring, cqe);
    if (!f)
        return;
    if (res == -EINTR || res == -EAGAIN) {
        frame_submit(f);
        return;
    }
    if (res < 0) {
        frame_failed(f, -res);
        return;
    }
    if (f->state == FR_WRITING) {
        if (res == 0) {
            frame_failed(f, EIO);
            return;
        }
        f->done += (size_t)res;
        S.written_bytes += (uint64_t)res;
        if (f->done < f->len) { /* short write: the rest at its offset */
            frame_submit(f);
            return;
        }
        if (f->need_sync) {
            f->state = FR_SYNCING;
            frame_submit(f);
            return;
        }
    }
    output_ok();
    f->state = FR_DONE;
    fifo_advance();
}

static void reap(int wait, uint64_t timeout_ns)
{
    struct io_uring_cqe *cqe;
    if (wait && S.inflight) {
        struct __kernel_timespec ts = {(long long)(timeout_ns / 1000000000ull), (long long)(timeout_ns % 1000000000ull)};
        if (io_uring_wait_cqe_timeout(&S.uring, &cqe, &ts) == 0)
            handle_cqe(cqe);
    }
    while (io_uring_peek_cqe(&S.uring, &cqe) == 0)
        handle_cqe(cqe);
}

static void retry_frames(void)
{
    uint64_t now = mono_ns();
    for (struct frame *f = S.fifo_head; f; f = f->next)
        if (f->state == FR_RETRY && now >= f->retry_at) {
            f->state = f->retry_state;
            frame_submit(f);
        }
}

/* Waits up to 100 ms for a write to complete, then retries what is due. A
 * collector told to stop while its output keeps failing would wait here for
 * ever: after two more retries it exits instead. It released nothing it did
 * not write, so the next run finds every unwritten record in its ring. */
static void wait_output(void)
{
    static uint64_t term_seen_ns;
    if (got_term && S.out_error) {
        uint64_t now = mono_ns();
        if (!term_seen_ns)
            term_seen_ns = now;
        if (now - term_seen_ns > 2 * WRITE_RETRY_NS + WRITE_RETRY_NS / 2) {
            warnx("exiting on SIGTERM while the output fails (%s): %u frame(s) not written, their records "
                  "stay in the rings for the next run", strerror(S.out_error), S.inflight);
            exit(1);
        }
    }
    if (S.inflight) {
        reap(1, 100000000ull);
    } else {
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
    retry_frames();
}

/* ==== Building frames ==== */

static int end_batch(void)
{
    if (!S.batch_ring)
        return 0;
    S.batch_ring = NULL;
    return shlog_enc_batch_end(S.cur->enc);
}

static void mark_content(void)
{
    if (!S.build_first_ns) {
        S.build_first_ns = mono_ns();
        anchors_frame_opened(&S.clock);
    }
}

/* Remembers that ring r may be released up to pos once this frame is done. */
static void note_release(struct ring *r, uint64_t pos)
{
    if (r->build_gen == S.build_gen) {
        S.rel[r->build_rel].pos = pos;
        return;
    }
    if (S.nrel == S.rel_cap) {
        size_t cap = S.rel_cap ? S.rel_cap * 2 : 64;
        struct release *nv = realloc(S.rel, cap * sizeof(*nv));
        if (!nv) {
            warnx("out of memory");
            exit(1);
        }
        S.rel = nv;
        S.rel_cap = cap;
    }
    r->build_gen = S.build_gen;
    r->build_rel = S.nrel;
    S.rel[S.nrel++] = (struct release){r, pos};
    mark_content();
}

static int ensure_process(struct proc *p)
{
    if (shlog_enc_has_process(S.cur->enc, p->key))
        return 0;
    int rc = end_batch();
    return rc ? rc : shlog_enc_process(S.cur->enc, p->key, &p->info);
}

static void check_enc(int rc, const char *what)
{
    if (rc) { /* only out of memory or a misuse of the encoder */
        warnx("encoding %s failed: %s", what, strerror(-rc));
        exit(1);
    }
}

/* The site a record names, read from the meta segment once; NULL if the
 * process never published a valid one (then its records are stored raw). */
static const struct shmlog_site_info *site_of(struct proc *p, uint32_t id, struct site_slot **slot_out)
{
    static struct shmlog_site_info scratch;
    *slot_out = NULL;
    if (id < p->nsites) {
        struct site_slot *s = &p->sites[id];
        *slot_out = s;
        if (s->info)
            return s->info;
        struct shmlog_site_info *info = malloc(sizeof(*info));
        if (info && shmlog_meta_site(&p->meta, id, info) == 0) {
            s->info = info;
            return info;
        }
        free(info);
        return NULL;
    }
    return shmlog_meta_site(&p->meta, id, &scratch) == 0 ? &scratch : NULL;
}

static void emit_proc_loss(struct proc *p, uint32_t cpu, const struct shmlog_loss *l, uint64_t total)
{
    check_enc(end_batch(), "a batch");
    check_enc(ensure_process(p), "a process");
    check_enc(shlog_enc_loss(S.cur->enc, p->key, cpu, l, total), "a loss");
    p->lost += l->records;
    if (l->reason <= SHMLOG_LOSS_REASON_MAX)
        S.losses[l->reason] += l->records;
    mark_content();
}

static void emit_loss(struct ring *r, const struct shmlog_loss *l, uint64_t total)
{
    emit_proc_loss(r->proc, r->cpu, l, total);
}

/* The producer's own loss counters in its meta segment (records of cpus
 * without a ring, of sites without a place in the table) into loss markers. */
static void proc_losses(struct proc *p)
{
    volatile uint64_t no_ring = p->no_ring_seen, unregistered = p->unregistered_seen;
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0) == 0) {
        shmlog_bus_guard = &jb;
        const struct shmlog_meta *m = p->meta.addr;
        no_ring = shmlog__load_relaxed(&m->no_ring);
        unregistered = shmlog__load_relaxed(&m->unregistered);
    }
    shmlog_bus_guard = NULL;
    const struct { uint64_t now, *seen; uint32_t reason; } counters[] = {
        {no_ring, &p->no_ring_seen, SHMLOG_LOSS_NO_RING},
        {unregistered, &p->unregistered_seen, SHMLOG_LOSS_UNREGISTERED},
    };
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
        if (counters[i].now > *counters[i].seen) { /* one that goes backwards is not believed */
            struct shmlog_loss l = {.records = counters[i].now - *counters[i].seen, .reason = counters[i].reason};
            emit_proc_loss(p, SHLOG_CPU_NONE, &l, counters[i].now);
            *counters[i].seen = counters[i].now;
        }
}

/* What a quarantined ring holds past what was read is lost: written as
 * CORRUPT positions, each counted as a record since record boundaries there
 * cannot be trusted (an upper bound), at most a ring's worth at a time. */
static void lose_abandoned(struct ring *r)
{
    volatile uint64_t head = r->abandoned_to;
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0) == 0) {
        shmlog_bus_guard = &jb;
        head = shmlog_ring_head(&r->view);
    }
    shmlog_bus_guard = NULL;
    uint64_t n = head - r->abandoned_to;
    if ((int64_t)n <= 0)
        return;
    if (n > r->view.cap)
        n = r->view.cap;
    struct shmlog_loss l = {.first_pos = r->abandoned_to, .positions = n, .records = n, .reason = SHMLOG_LOSS_CORRUPT};
    emit_loss(r, &l, 0);
    r->abandoned_to = head;
}

/* What one pass over a ring found. */
struct drain_pass {
    uint64_t pos;          /* next position to read */
    unsigned records, losses;
    uint64_t payload_bytes, slots;
    const char *hostile;   /* why the ring is quarantined, or NULL */
    int more;              /* stopped before the head: budget spent or frame full */
};

/* The open batch is of ring r, its process in the file. */
static void batch_of(struct ring *r)
{
    if (S.batch_ring == r)
        return;
    check_enc(end_batch(), "a batch");
    check_enc(ensure_process(r->proc), "a process");
    check_enc(shlog_enc_batch_begin(S.cur->enc, r->proc->key, r->cpu), "a batch");
    S.batch_ring = r;
}

/* The site a record names is in the file before the record is (in a batch of
 * its process: the process is in the file). */
static inline void site_in_file(struct proc *p, uint32_t id)
{
    if (id < p->nsites && p->sites[id].file_gen == S.cur->gen)
        return;
    struct site_slot *slot;
    const struct shmlog_site_info *site = site_of(p, id, &slot);
    if (site && !shlog_enc_has_site(S.cur->enc, p->key, id))
        check_enc(shlog_enc_site(S.cur->enc, p->key, site), "a site");
    if (site && slot)
        slot->file_gen = S.cur->gen;
}

/* A record as the alert rules see it. */
static inline void count_record(struct proc *p, unsigned level, unsigned category, uint32_t site)
{
    if (level >= alerts.min_level) /* no rule: never true */
        alert_count(&alerts, level, category, site, p->key, p->info.pid, p->info.app);
}

/* Encodes the records in the n slots shmlog_ring_take copied from positions
 * pos...; returns how many records they were. */
static unsigned encode_taken(struct ring *r, size_t n, uint64_t pos)
{
    struct proc *p = r->proc;
    uint32_t known = UINT32_MAX; /* runs of one site are the common case */
    unsigned records = 0;
    batch_of(r);
    /* Slot by slot, continuation slots passed over: stepping by each head's
     * slot count would chain every step to a load. */
    for (size_t i = 0; i < n; i++) {
        const struct shmlog_record *t = &S.take[i];
        if (t->commit & SHMLOG_COMMIT_CONT)
            continue;
        records++;
        if (t->site != known) {
            site_in_file(p, t->site);
            known = t->site;
        }
        count_record(p, t->level, t->category, t->site);
    }
    for (size_t done = 0; done < n;) {
        long rc = shlog_enc_slots(S.cur->enc, S.take + done, n - done, pos + done);
        if (rc == -ENOSPC) {
            check_enc(end_batch(), "a batch");
            batch_of(r);
            continue;
        }
        check_enc(rc < 0 ? (int)rc : 0, "a record");
        done += (size_t)rc;
    }
    return records;
}

/* The record loop of drain_ring, apart so its locals live in registers:
 * drain_ring's sigsetjmp would otherwise make each of them a memory access
 * per record. head: the producers' head read at the start of the pass. */
__attribute__((noinline)) static void drain_records(struct ring *r, uint64_t head, unsigned budget,
                                                    struct drain_pass *dp)
{
    struct proc *p = r->proc;
    struct shlog_enc *enc = S.cur->enc;
    uint64_t pos = dp->pos, payload_bytes = 0, slots = 0;
    unsigned n = 0, losses = 0;
    const char *hostile = NULL;
    int more = 1; /* unless the loop finds the ring empty */
    while (n + losses < budget) { /* losses count too: a scribbled ring must not keep us here */
        unsigned before = n;
        uint64_t from = pos;
        unsigned want = budget - n - losses < TAKE_SLOTS ? budget - n - losses : TAKE_SLOTS;
        size_t took = shmlog_ring_take(&r->view, &pos, head, S.take, want);
        if (took) {
            unsigned records = encode_taken(r, took, from);
            n += records;
            /* a head slot's payload, and a continuation slot's for the others */
            payload_bytes += records * SHMLOG_HEAD_PAYLOAD + (took - records) * SHMLOG_CONT_PAYLOAD;
            slots += took;
        } else {
            /* Anything else: pads, records not committed yet, losses. */
            struct shmlog_loss loss;
            uint64_t at = pos;
            shmlog_ring_prefetch(&r->view, pos, head);
            int st = shmlog_ring_next(&r->view, &at, &S.rec, p->gone, &loss);
            if (st == SHMLOG_READ_EMPTY || st == SHMLOG_READ_PENDING) {
                more = 0;
                break;
            }
            if (st == SHMLOG_READ_LOSS && loss.reason == SHMLOG_LOSS_OVERWRITTEN &&
                r->view.policy != SHMLOG_OVERWRITE) {
                /* Producers never reserve past what we released: a head more
                 * than a ring ahead was written by something else. Its numbers
                 * are not worth a loss marker. */
                hostile = "its head ran more than a ring ahead of what was released";
                break;
            }
            pos = at;
            if (st == SHMLOG_READ_LOSS) {
                /* A record that fails validation (the reader skipped to the
                 * next record head) costs only itself: the ring stays read. */
                emit_loss(r, &loss, 0);
                losses++;
                if (loss.reason == SHMLOG_LOSS_CORRUPT && !r->corrupt_seen++)
                    warnx("%s: a committed record failed validation at position %" PRIu64
                          ": skipped and counted as lost (so are later ones, without another line)",
                          r->seg.path, loss.first_pos);
                continue;
            }
            batch_of(r);
            site_in_file(p, S.rec.site);
            int rc = shlog_enc_record(enc, &S.rec);
            if (rc == -ENOSPC) {
                check_enc(end_batch(), "a batch");
                batch_of(r);
                rc = shlog_enc_record(enc, &S.rec);
            }
            check_enc(rc, "a record");
            n++;
            payload_bytes += S.rec.payload_len;
            slots += S.rec.nslots;
            count_record(p, S.rec.level, S.rec.category, S.rec.site);
        }
        if (before == 0)
            mark_content();
        if (n / 1024 != before / 1024 && (shlog_enc_frame_records(enc) >= FRAME_MAX_RECORDS ||
                                          shlog_enc_raw_bytes(enc) >= FRAME_MAX_RAW)) {
            S.flush_soon = 1;
            break;
        }
    }
    *dp = (struct drain_pass){pos, n, losses, payload_bytes, slots, hostile, more && !hostile};
}

static uint64_t longest_wait_ns(uint64_t smallest);

/* Whether a pass leaves the `waiting` records of live ring r for a later one.
 * A collector that catches up with a producer reads, from then on, the lines
 * its core has just written, each a cross-core transfer, so a record costs
 * more to drain than while the collector stays a little behind (the
 * zero-loss rate of bench/compare.sh shows it). So a
 * pass waits for a thirty-second of the ring, but never longer than the
 * longest wait between passes, which bounds the ring's fill meanwhile. Only
 * with cpus of our own: a producer that shares our cpu fills its ring while
 * we are off it, and what we left there would wait a time slice more. */
static int ring_waits(struct ring *r, uint64_t waiting)
{
    if (!waiting || waiting >= r->view.cap / 32 || r->proc->gone || r->view.policy == SHMLOG_OVERWRITE ||
        !opt.have_cpus || CPU_ISSET(r->cpu, &opt.cpus)) {
        r->waiting_since = 0;
        return 0;
    }
    uint64_t now = mono_ns();
    if (!r->waiting_since)
        r->waiting_since = now;
    if (now - r->waiting_since < longest_wait_ns(r->view.cap))
        return 1;
    r->waiting_since = 0;
    return 0;
}

/* Reads up to budget records of ring r into the open frame; a patient pass
 * leaves a few records for a later one (ring_waits). Returns how many
 * positions it advanced (0: nothing new). */
static uint64_t drain_ring(struct ring *r, unsigned budget, int patient)
{
    if (r->broken)
        return 0;
    struct proc *p = r->proc;
    uint64_t start = r->read_pos;
    struct drain_pass dp = {.pos = start};
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0) != 0) {
        shmlog_bus_guard = NULL;
        r->broken = 1;
        warnx("%s: the segment shrank under its mapping (SIGBUS); ring abandoned after position %" PRIu64,
              r->seg.path, start);
        end_batch();
        return 0;
    }
    shmlog_bus_guard = &jb;
    /* The producers' line is read once per pass, never per record: each read
     * takes it away from the core that writes it on every call. */
    uint64_t head = shmlog_ring_head(&r->view);
    /* Nothing reserved since: the slot at pos is the next a producer writes. */
    if ((head != start || p->gone || r->view.policy == SHMLOG_OVERWRITE) && !(patient && ring_waits(r, head - start)))
        drain_records(r, head, budget, &dp);
    if (dp.more)
        S.backlog = 1; /* more is waiting: the next pass comes at once */
    uint64_t dropped = shmlog_ring_dropped(&r->view);
    uint64_t tail = shmlog_ring_tail(&r->view);
    shmlog_bus_guard = NULL;
    /* In use at the pass's start. */
    unsigned quarters = (unsigned)(shmlog_ring_used(&r->view, head, tail) * 4 / r->view.cap);
    if (quarters > S.fill_quarters)
        S.fill_quarters = quarters;
    uint64_t pos = dp.pos;
    const char *hostile = dp.hostile;
    p->records += dp.records;
    S.records += dp.records;
    r->records += dp.records;
    r->payload_bytes += dp.payload_bytes;
    S.record_slots += dp.slots;
    if (dropped < r->dropped_seen && !hostile)
        hostile = "its drop counter went backwards";
    if (dropped > r->dropped_seen && !hostile) {
        struct shmlog_loss l = {.first_pos = pos, .records = dropped - r->dropped_seen, .reason = SHMLOG_LOSS_DROPPED};
        emit_loss(r, &l, dropped);
        r->dropped_seen = dropped;
    }
    if (hostile) {
        /* Not what a producer writes: a hostile process, or one scribbling
         * on its own ring. Reported once, then left alone; the records read
         * before stay in the frame, what the ring holds from here is lost. */
        r->broken = r->quarantined = 1;
        r->abandoned_to = pos;
        S.rejected++;
        warnx("%s: quarantined, never read again: %s (position %" PRIu64 ")", r->seg.path, hostile, pos);
        lose_abandoned(r);
    }
    r->read_pos = pos;
    if (pos != start) {
        note_release(r, pos);
        /* Ring space comes back only when the frame is written, so what the
         * frame being built holds is lost to a producer while the collector
         * is stopped: a frame of an eighth of the ring, not more, keeps what
         * a stop costs small at no cost in bytes per record (bench/stops.sh
         * shows it). */
        if (pos - tail >= r->view.cap / 8)
            S.flush_soon = 1;
    }
    return pos - start;
}

/* A collector that falls behind compresses at opt.zstd_fast_level, from a
 * pass that finds a ring over half full until one finds every ring under a
 * quarter: losing records to a full ring costs more than bytes on disk, and
 * the fastest level lets the most records through an overload
 * (shmlog-bench-encode --level L prints each level's cost and bytes a
 * record; bench/compare.sh --workloads overload shows what lands). */
static void set_frame_level(struct outfile *file)
{
    int level = S.filling ? opt.zstd_fast_level : opt.zstd_level;
    check_enc(shlog_enc_set_level(file->enc, level), "a frame (its zstd level)");
    if (level != opt.zstd_level)
        S.fast_frames++;
}

/* Compresses the open frame and submits its write. Frames with nothing to
 * write still go through the FIFO so their releases keep their order. */
static void flush_frame(void)
{
    check_enc(end_batch(), "a batch");
    struct outfile *file = S.cur;
    size_t raw = shlog_enc_raw_bytes(file->enc);
    if (!raw && !S.nrel && !S.nexits)
        return;
    while (S.inflight >= MAX_INFLIGHT)
        wait_output();
    struct frame *f = calloc(1, sizeof(*f));
    if (!f) {
        warnx("out of memory");
        exit(1);
    }
    if (raw) {
        /* A file that cannot be made yet (a full disk) is retried like a
         * failed write, with nothing released meanwhile; a name taken by
         * something else is skipped at once. */
        int rc;
        while (file->fd < 0 && (rc = outfile_open(file)) != 0)
            if (rc != -EEXIST)
                wait_output();
        set_frame_level(file);
        /* After the frame's last record and right before it is sealed. */
        check_enc(anchors_seal(&S.clock, file->enc), "the clock's anchors");
        size_t cap = shlog_enc_frame_bound(file->enc);
        f->buf = malloc(cap);
        long n = f->buf ? shlog_enc_frame(file->enc, f->buf, cap) : -ENOMEM;
        check_enc(n < 0 ? (int)n : 0, "a frame");
        f->len = (size_t)n;
        f->off = file->size;
        file->size += f->len;
        S.frames++;
        S.bytes += f->len;
    }
    f->file = file;
    file->inflight++;
    f->rel = S.rel;
    f->nrel = S.nrel;
    f->exits = S.exits;
    f->nexits = S.nexits;
    /* Segments are unlinked after an exit: the records must be on disk first. */
    f->need_sync = f->len && (opt.fsync == FSYNC_BATCH || S.nexits);
    S.rel = NULL;
    S.nrel = S.rel_cap = 0;
    S.exits = NULL;
    S.nexits = S.exits_cap = 0;
    S.build_gen++;
    S.build_first_ns = 0;
    S.flush_soon = 0;
    if (S.fifo_tail)
        S.fifo_tail->next = f;
    else
        S.fifo_head = f;
    S.fifo_tail = f;
    S.inflight++;
    if (f->len) {
        f->state = FR_WRITING;
        frame_submit(f);
    } else {
        f->state = FR_DONE;
        fifo_advance();
    }
}

/* Closes the current file (once its frames are done) and starts a new one. */
static void rotate(void)
{
    flush_frame();
    struct outfile *old = S.cur;
    if (old->fd < 0)
        return; /* nothing written yet: keep it */
    struct outfile *nf = outfile_new();
    if (!nf) {
        warnx("out of memory");
        exit(1);
    }
    S.cur = nf;
    S.rotations++;
    old->closing = 1;
    if (old->inflight == 0) {
        outfile_finish(old);
    } else {
        old->next = S.closing;
        S.closing = old;
    }
}

/* ==== Processes and segments ==== */

static int known_path(const char *path)
{
    for (struct proc *p = S.procs; p; p = p->next) {
        if (strcmp(p->meta.path, path) == 0)
            return 1;
        for (struct ring *r = p->rings; r; r = r->next)
            if (strcmp(r->seg.path, path) == 0)
                return 1;
    }
    return 0;
}

static struct bad_seg *find_bad(const char *path, ino_t ino)
{
    for (struct bad_seg *b = S.bad; b; b = b->next)
        if (b->ino == ino && strcmp(b->path, path) == 0)
            return b;
    return NULL;
}

/* Reports a segment that failed validation once per (path, inode). final: it
 * is never opened again, though what made it fail may change (a refused
 * meta's claimed process exits, and could no longer be told from it). */
static void report_bad(const char *path, ino_t ino, const char *why, int final)
{
    if (find_bad(path, ino))
        return;
    struct bad_seg *b = calloc(1, sizeof(*b));
    if (b) {
        snprintf(b->path, sizeof(b->path), "%s", path);
        b->ino = ino;
        b->final = final;
        b->next = S.bad;
        S.bad = b;
    }
    S.rejected++;
    warnx("ignoring segment: %s", why);
}

static int pidfd_open_(uint32_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

/* Opens the meta segment of a producer. 0, or -errno with err set. */
static int open_meta(const char *path, int dir, const struct stat *st, char *err, size_t errcap)
{
    struct proc *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    int rc = shmlog_seg_open(&p->meta, path, 0, &opt.accept, err, errcap);
    if (rc == 0 && ((rc = shmlog_meta_info(&p->meta, &p->info, err, errcap)) != 0 ||
                    (rc = shmlog_meta_attribution(&p->meta, &p->info, err, errcap)) != 0))
        shmlog_seg_close(&p->meta);
    /* The same process seen under another owner: one of the two lies, and the
     * first was checked while its process could still be asked. */
    for (struct proc *q = S.procs; rc == 0 && q; q = q->next)
        if (q->info.pid == p->info.pid && q->info.proc_start == p->info.proc_start && q->meta.owner != p->meta.owner) {
            snprintf(err, errcap, "%s: claims pid %u, already known as a process of uid %u (%s)", path, p->info.pid,
                     (unsigned)q->meta.owner, q->meta.path);
            shmlog_seg_close(&p->meta);
            rc = -EPERM;
        }
    if (rc) {
        free(p);
        return rc;
    }
    p->dir = dir;
    p->dev = st->st_dev;
    p->ino = st->st_ino;
    p->key = ++S.next_key;
    p->nsites = p->info.site_capacity < SITE_CACHE_MAX ? p->info.site_capacity : SITE_CACHE_MAX;
    p->sites = calloc(p->nsites ? p->nsites : 1, sizeof(*p->sites));
    if (!p->sites) {
        shmlog_seg_close(&p->meta);
        free(p);
        return -ENOMEM;
    }
    /* Liveness is the producer's lock on its meta segment, which works in any
     * pid namespace; a pidfd on the holder, checked to still hold it after the
     * pidfd was made (so it is no reuse of a pid), says it without asking. */
    p->pidfd = -1;
    long holder = shmlog_meta_holder(&p->meta);
    if (holder > 0 && (p->pidfd = pidfd_open_((uint32_t)holder)) >= 0) {
        long again = shmlog_meta_holder(&p->meta);
        if (again != holder) { /* it ended, or handed over: no pidfd, the lock decides */
            close(p->pidfd);
            p->pidfd = -1;
            holder = again;
        }
    }
    p->gone = holder < 0;
    p->next = S.procs;
    S.procs = p;
    return 0;
}

/* Is the collector that claims a ring (pid) still running? */
static int collector_alive(uint64_t pid)
{
    if (pid == 0 || pid > INT32_MAX || (kill((pid_t)pid, 0) != 0 && errno == ESRCH))
        return 0;
    char path[64], comm[64] = "";
    snprintf(path, sizeof(path), "/proc/%" PRIu64 "/comm", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int ok = fgets(comm, sizeof(comm), f) != NULL;
    fclose(f);
    return ok && strncmp(comm, "shmlog-collecto", 15) == 0;
}

/* The process a ring of directory dir belongs to (shmlog_ring_belongs), or
 * NULL with the reason in err. */
static struct proc *owner_of(const struct shmlog_seg *ring, int dir, char *err, size_t errcap)
{
    snprintf(err, errcap, "%s: no process of its directory has pid %u", ring->path, ring->hdr.pid);
    for (struct proc *p = S.procs; p; p = p->next)
        if (p->dir == dir && p->info.pid == ring->hdr.pid && !p->exit_queued &&
            shmlog_ring_belongs(&p->meta, ring, err, errcap) == 0)
            return p;
    return NULL;
}

/* Opens a ring segment of the process it belongs to. 0, or -errno with err set. */
static int open_ring(const char *path, int dir, uint32_t cpu, const struct stat *st, char *err, size_t errcap)
{
    struct ring *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    struct proc *p = NULL;
    int rc = shmlog_seg_open(&r->seg, path, 1, &opt.accept, err, errcap);
    if (rc == 0 && !(p = owner_of(&r->seg, dir, err, errcap))) {
        rc = -EPERM;
        shmlog_seg_close(&r->seg);
    } else if (rc == 0 && shmlog_ring_view_init(&r->view, &r->seg, err, errcap) != 0) {
        rc = -EINVAL;
        shmlog_seg_close(&r->seg);
    }
    if (rc) {
        free(r);
        return rc;
    }
    /* One collector per ring: two would release each other's records. */
    uint64_t me = (uint64_t)getpid(), owner = shmlog_ring_owner(&r->view);
    if (owner != me && collector_alive(owner)) {
        snprintf(err, errcap, "%s: drained by another collector (pid %" PRIu64 ")", path, owner);
        shmlog_seg_close(&r->seg);
        free(r);
        return -EBUSY;
    }
    if (shmlog_ring_claim(&r->view, owner, me) != 0) {
        snprintf(err, errcap, "%s: claimed by another collector just now", path);
        shmlog_seg_close(&r->seg);
        free(r);
        return -EBUSY;
    }
    /* Page-table entries for the whole ring in one call: faulting them in one
     * by one while draining costs microseconds each on the path that decides
     * whether a burst fits in the ring. Best effort (Linux 5.14+). */
    if (madvise(r->seg.addr, r->seg.bytes, MADV_POPULATE_READ) != 0 && errno != EINVAL)
        warnx("%s: prefaulting the ring: %s", path, strerror(errno));
    r->proc = p;
    r->cpu = cpu;
    r->dev = st->st_dev;
    r->ino = st->st_ino;
    r->read_pos = shmlog_ring_tail(&r->view); /* a restart resumes here; the reader drops repeats */
    r->next = p->rings;
    p->rings = r;
    return 0;
}

/* 1 if no process holds the lock of the meta segment at path: its creator
 * (which locks it first thing) is gone, or never got that far. */
static int meta_unlocked(const char *path)
{
    struct shmlog_seg probe = {.fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)};
    if (probe.fd < 0)
        return 0;
    int unlocked = shmlog_meta_holder(&probe) < 0;
    close(probe.fd);
    return unlocked;
}

/* A segment that did not open. One still being created (no header yet) is
 * retried quietly; if its process is gone it never will be: it cannot hold a
 * record, so it is removed. Anything else is reported once and left alone.
 * owner_gone: a ring's process is known to have exited (its meta's lock
 * said so). A meta is its own witness: its lock, taken right after it was
 * created; the 2 s before one is removed cover that moment. */
static void open_failed(const char *path, unsigned kind, int owner_gone, const struct stat *st, int rc,
                        const char *err)
{
    int unpublished = rc == -EAGAIN || (uint64_t)st->st_size < SHMLOG_RING_HEADER_BYTES;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int young = now.tv_sec - st->st_mtim.tv_sec < 2;
    if (kind == SHMLOG_SEG_META)
        owner_gone = !young && meta_unlocked(path);
    /* Only a file of a uid we accept is ours to remove. */
    if (unpublished && owner_gone && shmlog_accepts(&opt.accept, st->st_uid)) {
        if (unlink(path) == 0)
            warnx("removed %s: never initialised by its process, which is gone", path);
        return;
    }
    if (rc == -EACCES) {
        char why[4700];
        snprintf(why, sizeof(why), "%s; to drain it, add --allow-uid %u (or --allow-group with one of its groups)",
                 err, (unsigned)st->st_uid);
        report_bad(path, st->st_ino, why, 1);
        return;
    }
    if (unpublished && young)
        return; /* probably being created right now */
    report_bad(path, st->st_ino, err, kind == SHMLOG_SEG_META && rc == -EPERM && !unpublished);
}

/* Opens a meta (p NULL) or ring segment. The header reads can fault if the
 * file is truncated meanwhile: that is a failed open, not a crash (the
 * mapping of such a hostile file is then leaked). */
static int open_guarded(const char *path, unsigned kind, int dir, uint32_t cpu, const struct stat *st, char *err,
                        size_t errcap)
{
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0) != 0) {
        shmlog_bus_guard = NULL;
        snprintf(err, errcap, "%s: truncated while being opened (SIGBUS)", path);
        return -EFAULT;
    }
    shmlog_bus_guard = &jb;
    int rc = kind == SHMLOG_SEG_RING ? open_ring(path, dir, cpu, st, err, errcap) : open_meta(path, dir, st, err, errcap);
    shmlog_bus_guard = NULL;
    return rc;
}

struct seg_name {
    char name[256];
    unsigned kind;
    char app[SHMLOG_APP_BYTES];
    uint32_t pid, cpu;
};

static void scan_dir(int dir_index)
{
    const char *dir = opt.dirs[dir_index];
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct seg_name *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        struct seg_name s;
        if (strlen(de->d_name) >= sizeof(s.name) ||
            shmlog_parse_seg_name(de->d_name, &s.kind, s.app, sizeof(s.app), &s.pid, &s.cpu) != 0)
            continue;
        snprintf(s.name, sizeof(s.name), "%s", de->d_name);
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            struct seg_name *nv = realloc(v, cap * sizeof(*v));
            if (!nv)
                break;
            v = nv;
        }
        v[n++] = s;
    }
    closedir(d);
    /* Metas first: a ring is attached to its process's meta. */
    for (int pass = 0; pass < 2; pass++) {
        unsigned want = pass == 0 ? SHMLOG_SEG_META : SHMLOG_SEG_RING;
        for (size_t i = 0; i < n; i++) {
            if (v[i].kind != want)
                continue;
            char path[4400];
            snprintf(path, sizeof(path), "%s/%s", dir, v[i].name);
            struct stat st;
            struct bad_seg *bad;
            if (known_path(path) || lstat(path, &st) != 0 || ((bad = find_bad(path, st.st_ino)) && bad->final))
                continue;
            char err[4608];
            int rc;
            if (!S_ISREG(st.st_mode)) { /* a symlink planted in the directory is never followed */
                snprintf(err, sizeof(err), "%s: not a regular file", path);
                report_bad(path, st.st_ino, err, 1);
                continue;
            }
            int owner_gone = 0, candidates = 0;
            if (want == SHMLOG_SEG_RING) {
                for (struct proc *p = S.procs; p; p = p->next)
                    if (p->dir == dir_index && p->info.pid == v[i].pid && !p->exit_queued) {
                        candidates++;
                        owner_gone |= p->gone;
                    }
                if (!candidates)
                    continue; /* a ring whose meta is not (yet) there waits for a later scan */
            }
            rc = open_guarded(path, want, dir_index, v[i].cpu, &st, err, sizeof(err));
            if (rc)
                open_failed(path, want, owner_gone && candidates == 1, &st, rc, err);
        }
    }
    free(v);
}

#define DIR_EVENTS (IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_CLOSE_WRITE)

static void unwatch_ancestor(int i)
{
    int wd = S.ancestor_watch[i];
    S.ancestor_watch[i] = -1;
    if (wd < 0)
        return;
    for (int j = 0; j < opt.ndirs; j++)
        if (S.watch[j] == wd || S.ancestor_watch[j] == wd)
            return; /* still needed */
    inotify_rm_watch(S.inotify_fd, wd);
}

/* Watches the nearest existing ancestor of dir i, which does not exist: the
 * first producer usually makes it, and without a watch the collector would
 * find it only at the next rescan, up to RESCAN_NS later, while the
 * producer's ring fills. Called again on each event there, so the watch
 * moves down as the path is made, one directory at a time. */
static void watch_ancestor(int i)
{
    char path[sizeof(opt.dirs[0])];
    snprintf(path, sizeof(path), "%s", opt.dirs[i]);
    for (;;) {
        char *slash = strrchr(path, '/');
        if (!slash || !slash[1])
            return; /* a relative name, or a trailing slash: the rescans find it */
        snprintf(S.ancestor_child[i], sizeof(S.ancestor_child[i]), "%s", slash + 1);
        if (slash == path)
            slash[1] = '\0'; /* the root */
        else
            *slash = '\0';
        /* IN_MASK_ADD: the ancestor may be a watched directory itself. The
         * same directory gives the same descriptor. */
        int wd = inotify_add_watch(S.inotify_fd, path, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR | IN_MASK_ADD);
        if (wd >= 0 || errno != ENOENT) {
            if (wd != S.ancestor_watch[i]) {
                unwatch_ancestor(i);
                S.ancestor_watch[i] = wd;
            }
            return;
        }
    }
}

static void watch_dirs(void)
{
    if (S.inotify_fd < 0)
        return;
    for (int i = 0; i < opt.ndirs; i++) {
        if (S.watch[i] < 0)
            S.watch[i] = inotify_add_watch(S.inotify_fd, opt.dirs[i], DIR_EVENTS);
        if (S.watch[i] >= 0)
            unwatch_ancestor(i);
        else if (errno == ENOENT)
            watch_ancestor(i);
    }
}

static void scan_all(void)
{
    watch_dirs();
    for (int i = 0; i < opt.ndirs; i++)
        scan_dir(i);
}

/* 1 if inotify reported something in a watched directory, or the creation
 * of a step towards one that does not exist yet. */
static int inotify_pending(void)
{
    if (S.inotify_fd < 0)
        return 0;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    int any = 0;
    for (;;) {
        ssize_t n = read(S.inotify_fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            for (int i = 0; i < opt.ndirs; i++) {
                if (S.watch[i] == ev->wd) {
                    any = 1;
                    if (ev->mask & IN_IGNORED) /* the directory went away: watch again later */
                        S.watch[i] = -1;
                }
                if (S.ancestor_watch[i] == ev->wd) {
                    /* Other names come and go there (/dev/shm): only ours counts. */
                    if (ev->len && !strcmp(ev->name, S.ancestor_child[i]))
                        any = 1;
                    if (ev->mask & IN_IGNORED) {
                        S.ancestor_watch[i] = -1;
                        any = 1;
                    }
                }
            }
            p += sizeof(*ev) + ev->len;
        }
    }
    return any;
}

/* Marks producers that exited (or shut down: locks, which costs a call per
 * process, so not on every pass). */
static void check_liveness(int locks)
{
    for (struct proc *p = S.procs; p; p = p->next) {
        if (p->gone)
            continue;
        proc_losses(p);
        int dead;
        if (p->pidfd >= 0) {
            struct pollfd pfd = {p->pidfd, POLLIN, 0};
            /* Its end; a shutdown, which lets go of the lock before the end,
             * is seen at the next rescan. */
            dead = poll(&pfd, 1, 0) > 0 || (locks && shmlog_meta_holder(&p->meta) < 0);
        } else {
            dead = shmlog_meta_holder(&p->meta) < 0;
        }
        if (dead) {
            p->gone = 1;
            if (p->pidfd >= 0)
                close(p->pidfd);
            p->pidfd = -1;
        }
    }
}

/* A gone producer: its rings drained to the end (uncommitted slots become
 * losses), then an EXIT section; the segments go once that frame is on disk. */
static enum shlog_exit_how exit_how(struct proc *p)
{
    volatile uint32_t flags = 0;
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0) == 0) {
        shmlog_bus_guard = &jb;
        flags = shmlog__load_acquire(&((const struct shmlog_seg_header *)p->meta.addr)->flags);
    }
    shmlog_bus_guard = NULL;
    return flags & SHMLOG_SEG_CLOSED ? SHLOG_EXIT_SHUTDOWN : SHLOG_EXIT_DIED;
}

static void finish_gone(void)
{
    size_t n = 0;
    for (struct proc *p = S.procs; p; p = p->next)
        n += p->gone && !p->exit_queued;
    if (!n)
        return;
    scan_all(); /* a ring made just before the exit must not be left behind */
    n = 0;
    for (struct proc *p = S.procs; p; p = p->next)
        n += p->gone && !p->exit_queued;
    /* A copy of the list: flushing below may finalize (free) other processes. */
    struct proc **gone = malloc(n * sizeof(*gone));
    if (!gone) {
        warnx("out of memory");
        exit(1);
    }
    n = 0;
    for (struct proc *p = S.procs; p; p = p->next)
        if (p->gone && !p->exit_queued)
            gone[n++] = p;
    for (size_t i = 0; i < n; i++) {
        struct proc *p = gone[i];
        for (struct ring *r = p->rings; r; r = r->next) {
            while (!r->broken && drain_ring(r, DRAIN_BUDGET, 0) != 0)
                if (S.flush_soon)
                    flush_frame();
            if (r->quarantined) /* what its writers added after it was abandoned */
                lose_abandoned(r);
        }
        proc_losses(p);
        check_enc(end_batch(), "a batch");
        check_enc(ensure_process(p), "a process");
        check_enc(shlog_enc_exit(S.cur->enc, p->key, real_ns(), p->records, p->lost, exit_how(p)), "an exit");
        if (S.nexits == S.exits_cap) {
            size_t cap = S.exits_cap ? S.exits_cap * 2 : 8;
            struct proc **nv = realloc(S.exits, cap * sizeof(*nv));
            if (!nv) {
                warnx("out of memory");
                exit(1);
            }
            S.exits = nv;
            S.exits_cap = cap;
        }
        S.exits[S.nexits++] = p;
        p->exit_queued = 1;
        mark_content();
        S.flush_soon = 1;
    }
    free(gone);
}

/* Unlinks a segment if the path still names the file we mapped. */
static void unlink_segment(const char *path, dev_t dev, ino_t ino)
{
    struct stat st;
    if (lstat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino && unlink(path) != 0)
        warnx("cannot remove %s: %s", path, strerror(errno));
}

/* Gives the ring back: the next collector need not wait for us. */
static void ring_unclaim(struct ring *r)
{
    if (r->broken)
        return;
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0) == 0) {
        shmlog_bus_guard = &jb;
        shmlog_ring_unclaim(&r->view, (uint64_t)getpid());
    } else {
        r->broken = 1;
    }
    shmlog_bus_guard = NULL;
}

/* The ring's reserve head now, or where we are if the mapping is gone. */
static uint64_t ring_head_now(struct ring *r)
{
    volatile uint64_t head = r->read_pos;
    if (r->broken)
        return head;
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0) == 0) {
        shmlog_bus_guard = &jb;
        head = shmlog_ring_head(&r->view);
    } else {
        r->broken = 1;
    }
    shmlog_bus_guard = NULL;
    return head;
}

static void ring_free(struct ring *r)
{
    ring_unclaim(r);
    shmlog_seg_close(&r->seg);
    free(r);
}

/* The EXIT of p is on disk: its segments are no longer needed. */
static void proc_finalize(struct proc *p)
{
    /* Nothing of p is in the frame being built (its rings were drained to the
     * end before the EXIT); make sure no pointer to its rings outlives them. */
    if (S.batch_ring && S.batch_ring->proc == p)
        end_batch();
    for (size_t i = 0; i < S.nrel;)
        if (S.rel[i].ring->proc == p) {
            S.rel[i] = S.rel[--S.nrel];
            if (i < S.nrel)
                S.rel[i].ring->build_rel = i;
        } else {
            i++;
        }
    for (struct ring *r = p->rings, *next; r; r = next) {
        next = r->next;
        unlink_segment(r->seg.path, r->dev, r->ino);
        ring_free(r);
    }
    unlink_segment(p->meta.path, p->dev, p->ino);
    shmlog_seg_close(&p->meta);
    for (uint32_t i = 0; i < p->nsites; i++)
        free(p->sites[i].info);
    free(p->sites);
    struct proc **pp = &S.procs;
    while (*pp && *pp != p)
        pp = &(*pp)->next;
    if (*pp)
        *pp = p->next;
    free(p);
}

/* ==== Metrics and alerts ==== */

#define METRICS_PUBLISH_NS 100000000ull /* snapshots for the metrics threads, at most this often */

/* Fill and lag of a ring, read from shared memory under the SIGBUS guard.
 * The lag is the age of the record at the read position (not drained yet),
 * from its TSC through the process's calibration. */
static void ring_observe(struct ring *r, struct metrics_ring *m)
{
    static struct shmlog_rec oldest; /* 450 bytes; one drain thread */
    if (r->broken)
        return;
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0) == 0) {
        shmlog_bus_guard = &jb;
        uint64_t head = shmlog_ring_head(&r->view), tail = shmlog_ring_tail(&r->view);
        m->fill_ratio = head > tail ? (double)shmlog_ring_used(&r->view, head, tail) / (double)r->view.cap : 0.0;
        uint64_t at = r->read_pos;
        struct shmlog_loss loss;
        if (head != r->read_pos && shmlog_ring_next(&r->view, &at, &oldest, 0, &loss) == SHMLOG_READ_RECORD) {
            uint64_t born = anchors_ns(&S.clock, oldest.tsc), now = real_ns();
            m->lag_seconds = now > born ? (double)(now - born) / 1e9 : 0.0;
        }
    } else {
        r->broken = 1;
    }
    shmlog_bus_guard = NULL;
}

/* The live call-site count and level of a process (the copy taken at open
 * ages). */
static void proc_observe(struct proc *p, struct metrics_proc *m)
{
    static struct shmlog_proc_info live;
    m->call_sites = p->info.site_count;
    m->level = p->info.level;
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0) == 0) {
        shmlog_bus_guard = &jb;
        char err[256];
        if (shmlog_meta_info(&p->meta, &live, err, sizeof(err)) == 0) {
            m->call_sites = live.site_count;
            m->level = live.level;
        }
    }
    shmlog_bus_guard = NULL;
}

/* Builds a snapshot and hands it to the metrics threads. 1 if published. */
static int publish_metrics(int wait)
{
    struct metrics_snapshot *s = metrics_stage();
    if (!s)
        return 0;
    for (struct proc *p = S.procs; p; p = p->next) {
        struct metrics_proc *mp = metrics_add_proc(s);
        if (!mp)
            break;
        snprintf(mp->app, sizeof(mp->app), "%s", p->info.app);
        mp->pid = p->info.pid;
        proc_observe(p, mp);
        for (struct ring *r = p->rings; r; r = r->next) {
            struct metrics_ring *mr = metrics_add_ring(s);
            if (!mr)
                break;
            snprintf(mr->app, sizeof(mr->app), "%s", p->info.app);
            mr->pid = p->info.pid;
            mr->cpu = r->cpu;
            mr->records = r->records;
            mr->payload_bytes = r->payload_bytes;
            mr->dropped = r->dropped_seen;
            ring_observe(r, mr);
        }
    }
    anchors_observe(&S.clock, &s->clock);
    struct metrics_totals *t = &s->totals;
    t->files = S.files;
    t->written_bytes = S.written_bytes;
    t->fast_frames = S.fast_frames;
    t->records = S.records;
    t->record_bytes = S.record_slots * SHMLOG_RECORD_BYTES;
    t->write_errors = S.write_errors;
    t->rotations = S.rotations;
    t->segments_rejected = S.rejected;
    memcpy(t->losses, S.losses, sizeof(t->losses));
    struct timespec cpu;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu) == 0)
        t->cpu_seconds = (double)cpu.tv_sec + (double)cpu.tv_nsec / 1e9;
    return metrics_publish(wait);
}

/* "file:line" of a call site for an alert's environment. */
static void alert_site_text(void *ctx, uint32_t key, uint32_t site, char *buf, size_t cap)
{
    (void)ctx;
    snprintf(buf, cap, "unknown");
    for (struct proc *p = S.procs; p; p = p->next) {
        if (p->key != key)
            continue;
        sigjmp_buf jb;
        if (sigsetjmp(jb, 0) == 0) {
            shmlog_bus_guard = &jb;
            struct site_slot *slot;
            const struct shmlog_site_info *info = site_of(p, site, &slot);
            if (info)
                snprintf(buf, cap, "%s:%" PRIu32, info->file, info->line);
        }
        shmlog_bus_guard = NULL;
        return;
    }
}

/* Once per loop pass: due alerts, and a metrics snapshot now and then. */
static void observe(uint64_t now)
{
    static uint64_t last_publish;
    if (alerts.n)
        alert_poll(&alerts, now, alert_site_text, NULL);
    if (metrics_enabled() && now - last_publish >= METRICS_PUBLISH_NS && publish_metrics(0))
        last_publish = now;
}

/* At exit: alerts for the last records, the final counters for the readers. */
static void observe_last(void)
{
    if (alerts.n)
        alert_poll(&alerts, mono_ns(), alert_site_text, NULL);
    publish_metrics(1);
    metrics_stop();
}

/* ==== The loop ==== */

/* One pass over every ring. *smallest: the capacity of the smallest ring
 * (UINT64_MAX with none), which bounds how long the next pass may wait. */
static uint64_t drain_all(uint64_t *smallest)
{
    uint64_t moved = 0, cap = UINT64_MAX;
    S.backlog = 0;
    S.fill_quarters = 0;
    for (struct proc *p = S.procs; p; p = p->next)
        for (struct ring *r = p->rings; r; r = r->next) {
            if (!r->broken && r->view.cap < cap)
                cap = r->view.cap;
            /* A frame near what readers take (SHLOG_MAX_FRAME_RAW) takes no
             * more: the loop writes it and comes back at once. Only then,
             * since the rings after this one wait a pass; and not written
             * from here: a completed write may free processes this loop walks. */
            if (shlog_enc_raw_bytes(S.cur->enc) >= FRAME_RAW_STOP) {
                S.flush_soon = S.backlog = 1;
                continue;
            }
            moved += drain_ring(r, DRAIN_BUDGET, 1);
        }
    *smallest = cap;
    if (S.fill_quarters >= 2)
        S.filling = 1;
    else if (S.fill_quarters == 0)
        S.filling = 0;
    return moved;
}

/* The longest a ring may go unvisited: a burst at PEAK_RECORDS_PER_US
 * fills at most half the smallest ring meanwhile. A longer wait shortens
 * the longest burst the ring survives only a little, since it is the
 * collector's drain rate that loses the race, not the first look (the
 * burst of bench/compare.sh shows it). smallest: UINT64_MAX when there is
 * no ring. */
static uint64_t longest_wait_ns(uint64_t smallest)
{
    if (smallest / 2 >= MAX_PASS_WAIT_NS * PEAK_RECORDS_PER_US / 1000)
        return MAX_PASS_WAIT_NS; /* also no ring, whose bound would overflow */
    return smallest / 2 * 1000 / PEAK_RECORDS_PER_US;
}

/* How long the next pass waits after one that moved `moved` positions in
 * `elapsed` ns. Every pass takes each ring's producer line, and the slot at
 * its head, away from the core that writes them; a producer that finds them
 * gone stalls for a cross-core transfer, two or three
 * calls in a row, which is the whole tail of its latency. So passes are
 * spaced to collect about a sixteenth of the smallest ring each, up to
 * longest_wait_ns, which keeps a producer's p99.9 near a bare rdtsc's
 * (bench/compare.sh shows it). Records reach the file with
 * their frame (tens of ms) either way. */
static uint64_t pass_wait_ns(uint64_t moved, uint64_t elapsed, uint64_t smallest)
{
    uint64_t longest = longest_wait_ns(smallest);
    if (!moved) /* also when there is no ring */
        return longest;
    uint64_t target = smallest / 16;
    if (moved >= target)
        return 0;
    /* At the rate just seen, target records take target * elapsed / moved. */
    uint64_t wait = (uint64_t)((unsigned __int128)target * elapsed / moved);
    wait = wait > elapsed ? wait - elapsed : 0;
    return wait < longest ? wait : longest;
}

static void maybe_rotate(int hup)
{
    struct outfile *f = S.cur;
    if (f->fd < 0)
        return;
    if (hup || (opt.rotate_bytes && f->size >= opt.rotate_bytes) ||
        (opt.rotate_ns && mono_ns() - f->opened_ns >= opt.rotate_ns))
        rotate();
}

/* Drains every ring to what is committed now, writes it all, closes the file. */
static void shutdown_all(void)
{
    check_liveness(1);
    finish_gone();
    /* Up to the heads seen now: producers that keep logging do not keep us. */
    for (struct proc *p = S.procs; p; p = p->next)
        for (struct ring *r = p->rings; r; r = r->next)
            r->stop_at = ring_head_now(r);
    for (;;) {
        uint64_t moved = 0;
        for (struct proc *p = S.procs; p; p = p->next)
            for (struct ring *r = p->rings; r; r = r->next)
                if (r->read_pos < r->stop_at)
                    moved += drain_ring(r, DRAIN_BUDGET, 0);
        if (S.flush_soon)
            flush_frame();
        reap(0, 0);
        if (!moved)
            break;
    }
    flush_frame();
    while (S.inflight)
        wait_output();
    struct outfile *f = S.cur;
    S.cur = NULL;
    f->closing = 1;
    outfile_finish(f);
    for (struct proc *p = S.procs; p; p = p->next)
        for (struct ring *r = p->rings; r; r = r->next)
            ring_unclaim(r);
}

static int isolated_cpu(int cpu)
{
    FILE *f = fopen("/sys/devices/system/cpu/isolated", "re");
    if (!f)
        return 0;
    char line[4096] = "";
    int found = 0;
    if (fgets(line, sizeof(line), f))
        for (char *save = NULL, *t = strtok_r(line, ",\n", &save); t; t = strtok_r(NULL, ",\n", &save)) {
            int lo, hi;
            int k = sscanf(t, "%d-%d", &lo, &hi);
            if (k == 1)
                hi = lo;
            if (k >= 1 && cpu >= lo && cpu <= hi)
                found = 1;
        }
    fclose(f);
    return found;
}

static void pin_cpus(void)
{
    if (!opt.have_cpus)
        return;
    if (sched_setaffinity(0, sizeof(opt.cpus), &opt.cpus) != 0) {
        fprintf(stderr, PROG ": --cpu: sched_setaffinity: %s\n", strerror(errno));
        exit(2);
    }
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &opt.cpus) && !isolated_cpu(c))
            warnx("warning: cpu %d is not in /sys/devices/system/cpu/isolated; other tasks may share it", c);
}

int main(int argc, char **argv)
{
    alert_set_init(&alerts);
    parse_options(argc, argv);
    /* First: a service manager's stop that comes while the metrics threads
     * start or the output directory is made ends in the orderly exit 0, not
     * in death by signal. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    shmlog_bus_guard_install(); /* a producer may shrink a segment under our mapping */
    signal(SIGPIPE, SIG_IGN);
    /* Before pin_cpus: the metrics threads take the cpus the drain loop leaves. */
    struct metrics_config mc = {.listen = opt.metrics_listen, .allow_remote = opt.metrics_allow_remote,
                                .file = opt.metrics_file, .interval_s = opt.metrics_interval_s,
                                .drain_cpus = opt.have_cpus ? &opt.cpus : NULL};
    char merr[8192];
    if (metrics_start(&mc, merr, sizeof(merr)) != 0) {
        fprintf(stderr, PROG ": %s\n", merr);
        return 2;
    }
    pin_cpus();
    int rc = ensure_dir(opt.out);
    if (rc) {
        fprintf(stderr, PROG ": --out %s: %s\n", opt.out, strerror(-rc));
        return 2;
    }
    if (gethostname(S.host, sizeof(S.host) - 1) != 0)
        snprintf(S.host, sizeof(S.host), "unknown");
    for (char *c = S.host; *c; c++) /* the host name goes into file names */
        if (*c == '/' || isspace((unsigned char)*c))
            *c = '_';

    if (uring_setup() < 0)
        return 1;
    const char *clock_warning = anchors_init(&S.clock);
    if (clock_warning)
        warnx("%s", clock_warning);
    S.inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (S.inotify_fd < 0)
        warnx("inotify: %s (falling back to rescans)", strerror(errno));
    for (int i = 0; i < MAX_DIRS; i++)
        S.watch[i] = S.ancestor_watch[i] = -1;
    recover_out_dir();
    prepare_memory();
    S.cur = outfile_new();
    if (!S.cur) {
        warnx("out of memory");
        return 1;
    }
    S.build_gen = 1;

    scan_all();
    observe(mono_ns()); /* the alert clock must be set before the first drain counts */
    if (opt.once) {
        shutdown_all();
        observe_last();
        return 0;
    }
    uint64_t last_scan = mono_ns(), last_live = 0, last_notify = 0, idle = 0, last_pass = mono_ns();
    while (!got_term) {
        uint64_t now = mono_ns();
        if (now - last_notify >= NOTIFY_NS) { /* a read() per loop would cost more than the drain */
            last_notify = now;
            if (inotify_pending())
                last_scan = 0;
            anchors_poll(&S.clock);
        }
        int rescan = now - last_scan >= RESCAN_NS;
        if (rescan) {
            scan_all();
            last_scan = now;
            anchors_tick(&S.clock);
        }
        if (rescan || now - last_live >= LIVENESS_NS) {
            check_liveness(rescan);
            finish_gone();
            last_live = now;
        }
        uint64_t smallest;
        uint64_t moved = drain_all(&smallest);
        uint64_t wait = S.backlog ? 0 : pass_wait_ns(moved, now - last_pass, smallest);
        last_pass = now;
        observe(now);
        if (S.flush_soon || (S.build_first_ns && mono_ns() - S.build_first_ns >= FRAME_MAX_AGE_NS))
            flush_frame();
        reap(0, 0);
        retry_frames();
        int hup = got_hup;
        if (hup)
            got_hup = 0;
        maybe_rotate(hup);
        if (moved)
            idle = 0;
        if (S.inflight && !wait) {
            /* A write io_uring could not finish inline runs in a worker
             * thread on our cpu, which would wait for our time slice while a
             * backlog keeps us busy, and hold its frame's ring space that
             * long, until frames pile up and the ring fills (bench/compare.sh's
             * zero-loss search shows it). It gets the cpu now. */
            sched_yield();
            reap(0, 0);
        }
        if (!wait || got_term)
            continue;
        if (S.inflight) {
            /* Never spin while a write is out: buffered writes to most
             * filesystems complete in an io_uring worker thread, which shares
             * our cpu and would wait for our time slice, and the ring space
             * those records hold comes back only when it has run. */
            reap(1, wait);
            continue;
        }
        if (opt.busy_poll || moved) {
            /* Spin: no sleep's wake-up delay. */
            uint64_t until = mono_ns() + wait;
            while (mono_ns() < until && !got_term && !got_hup) {
                reap(0, 0);
                for (int i = 0; i < 64; i++)
                    __asm__ __volatile__("pause");
            }
            continue;
        }
        /* Adaptive and idle: sleep longer the longer nothing came, at most
         * 1 ms so a record still reaches the file well within 100 ms, and
         * never longer than longest_wait_ns. */
        uint64_t nap = idle < 6 ? 16000ull << idle : MAX_PASS_WAIT_NS;
        uint64_t longest = longest_wait_ns(smallest);
        if (nap > longest)
            nap = longest;
        idle++;
        if (S.inflight) {
            reap(1, nap);
        } else {
            struct timespec ts = {0, (long)nap};
            nanosleep(&ts, NULL);
        }
    }
    shutdown_all();
    observe_last();
    fprintf(stderr, PROG ": exiting: %" PRIu64 " records in %" PRIu64 " frames (%" PRIu64 " at the fast level), %" PRIu64
            " bytes\n", S.records, S.frames, S.fast_frames, S.bytes);
    return 0;
}
