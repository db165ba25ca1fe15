/*
 * shmlog-ship.c - ships a host's shmlog files to Kafka, one zstd frame per
 * message (FORMAT.md, "Frames as messages"): the options, the loop, the
 * state file written only after the brokers acknowledged, and the metrics.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ship.h"

struct ship_options {
    const char *dir;            /* the collector's --out */
    const char *state;          /* --state FILE */
    const char *metrics_file;
    unsigned metrics_interval_s;
    int once;
    uint64_t max_inflight;      /* bytes produced, not yet acknowledged, at most */
    unsigned poll_ms;           /* how often an idle shipper looks for new frames */
    struct kafka_options kafka;
};

/* The program: its options, the follower and the producer it hands them to,
 * and what the loop itself keeps. */
static struct ship {
    struct ship_options opt;
    struct follow follow;
    struct kafka kafka;
    struct cursor persisted;    /* the cursor the state file holds */
    uint64_t state_written_ns, metrics_written_ns;
    uint64_t state_errors;      /* state file writes that failed */
} S = {.persisted = {UINT64_MAX, UINT64_MAX}};

static volatile sig_atomic_t stop_requested;

/* The state is written once for all the acknowledgements of a second, so
 * its syncs cost a host nothing per message: a crash costs resending at most
 * that second's acknowledged frames, which readers skip, never a loss (the
 * state never says more than the brokers acknowledged). */
#define STATE_INTERVAL_NS 1000000000ull
#define STATE_IDLE_NS 10000000000ull /* also when nothing moved: its time says the shipper lives */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: " PROG " --dir DIR --to kafka://HOST:PORT[,HOST:PORT...]/TOPIC --state FILE [options]\n"
        "Ships the files shmlog-collector writes in DIR to a Kafka topic, one zstd frame per message,\n"
        "keyed by host; follows the open .part file up to its last complete frame.\n"
        "\n"
        "  --dir DIR          the collector's output directory (its --out); waited for while missing\n"
        "  --to URL           kafka://BOOTSTRAP/TOPIC; the topic is created when missing\n"
        "  --state FILE       how far the files were shipped: read at start, replaced (fsync, rename)\n"
        "                     once a second while the brokers acknowledge more (a crash resends at\n"
        "                     most that second's frames, never loses one); give the collector the\n"
        "                     same file (--ship-state) so it keeps what is not shipped\n"
        "  --once             ship what is there, wait for the acknowledgements, exit 0\n"
        "  --partitions N     partitions of a topic it creates (default 6)\n"
        "  --partition N      this host's partition (0 to the topic's partitions - 1); default: the\n"
        "                     murmur2 hash of the host, librdkafka's partitioner (-X partitioner=...);\n"
        "                     written to TOPIC.hosts, the host map readers of one host go by\n"
        "  --replication N    replication factor of a topic it creates (default min(3, brokers))\n"
        "  --max-inflight B   bytes produced and not yet acknowledged, at most (k/M/G; default 64M)\n"
        "  --poll-ms N        how often it looks for new frames when there are none (default 50)\n"
        "  --metrics-file P   Prometheus text for node_exporter's textfile collector (atomically);\n"
        "                     its counters of acknowledged messages go on from the --state file's\n"
        "  --metrics-interval S  seconds between --metrics-file writes (default 10)\n"
        "  -X KEY=VALUE       a librdkafka setting (security.protocol, sasl.*, ssl.*, ...; repeatable)\n"
        "  --help, --version\n"
        "\n"
        "Signals: SIGTERM/SIGINT stop reading, wait up to 10 s for what is in flight, write the state,\n"
        "exit 0. Exit 1 when a message is refused for good (the state stays before it), 2 on bad options\n"
        "or a state file ahead of DIR's files.\n");
}

static uint64_t parse_size(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    int shift = 0;
    if (*end == 'k' || *end == 'K')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift)
        end++;
    if (errno || end == s || *end || v == 0 || v > (ULLONG_MAX >> shift)) {
        fprintf(stderr, PROG ": %s %s: a size in bytes (k, M, G suffixes), above 0\n", opt, s);
        exit(2);
    }
    return (uint64_t)v << shift;
}

static long parse_long(const char *opt, const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, PROG ": %s %s: a number from %ld to %ld\n", opt, s, lo, hi);
        exit(2);
    }
    return v;
}

static void parse_options(int argc, char **argv)
{
    enum { O_DIR = 256, O_TO, O_STATE, O_ONCE, O_PARTS, O_PART, O_REPL, O_INFL, O_POLL, O_MFILE, O_MINT, O_HELP, O_VERSION };
    static const struct option lo[] = {
        {"dir", required_argument, NULL, O_DIR}, {"to", required_argument, NULL, O_TO},
        {"state", required_argument, NULL, O_STATE}, {"once", no_argument, NULL, O_ONCE},
        {"partitions", required_argument, NULL, O_PARTS}, {"partition", required_argument, NULL, O_PART}, {"replication", required_argument, NULL, O_REPL},
        {"max-inflight", required_argument, NULL, O_INFL}, {"poll-ms", required_argument, NULL, O_POLL},
        {"metrics-file", required_argument, NULL, O_MFILE}, {"metrics-interval", required_argument, NULL, O_MINT},
        {"help", no_argument, NULL, O_HELP}, {"version", no_argument, NULL, O_VERSION}, {NULL, 0, NULL, 0}};
    S.opt.kafka.partitions = 6;
    S.opt.kafka.partition = RD_KAFKA_PARTITION_UA;
    S.opt.max_inflight = 64ull << 20;
    S.opt.poll_ms = 50;
    S.opt.metrics_interval_s = 10;
    const char *to = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "X:", lo, NULL)) != -1) {
        switch (c) {
        case O_DIR: S.opt.dir = optarg; break;
        case O_TO: to = optarg; break;
        case O_STATE: S.opt.state = optarg; break;
        case O_ONCE: S.opt.once = 1; break;
        case O_PARTS: S.opt.kafka.partitions = (int)parse_long("--partitions", optarg, 1, 10000); break;
        case O_PART: S.opt.kafka.partition = (int)parse_long("--partition", optarg, 0, 9999); break;
        case O_REPL: S.opt.kafka.replication = (int)parse_long("--replication", optarg, 1, 100); break;
        case O_INFL: S.opt.max_inflight = parse_size("--max-inflight", optarg); break;
        case O_POLL: S.opt.poll_ms = (unsigned)parse_long("--poll-ms", optarg, 1, 10000); break;
        case O_MFILE: S.opt.metrics_file = optarg; break;
        case O_MINT: S.opt.metrics_interval_s = (unsigned)parse_long("--metrics-interval", optarg, 1, 3600); break;
        case 'X':
            if (S.opt.kafka.nprops == (int)(sizeof(S.opt.kafka.props) / sizeof(S.opt.kafka.props[0]))) {
                fprintf(stderr, PROG ": -X: at most 64\n");
                exit(2);
            }
            S.opt.kafka.props[S.opt.kafka.nprops++] = optarg;
            break;
        case O_HELP: usage(stdout); exit(0);
        case O_VERSION: printf(PROG " %s\n", SHMLOG_VERSION); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument %s (see --help)\n", argv[optind]);
        exit(2);
    }
    if (!S.opt.dir || !to || !S.opt.state) {
        fprintf(stderr, PROG ": --dir, --to and --state are needed (see --help)\n");
        exit(2);
    }
    struct kafka_options *k = &S.opt.kafka;
    if (shlog_kafka_url(to, k->brokers, sizeof(k->brokers), k->topic, sizeof(k->topic)) != 0) {
        fprintf(stderr, PROG ": --to %s: not kafka://HOST:PORT[,HOST:PORT...]/TOPIC (a topic of [a-zA-Z0-9._-])\n",
                to);
        exit(2);
    }
}

/* ==== State and metrics ==== */

static void write_state(int force)
{
    uint64_t now = shm_mono_ns();
    struct cursor acked = S.kafka.acked;
    int moved = acked.seq != S.persisted.seq || acked.off != S.persisted.off;
    if (!force && now - S.state_written_ns < (moved ? STATE_INTERVAL_NS : STATE_IDLE_NS))
        return;
    const struct kafka_counters *n = &S.kafka.n;
    struct shlog_shipped st = {.file_seq = acked.seq, .offset = acked.off, .updated_ns = shm_real_ns(),
                               .lag_bytes = follow_lag_bytes(&S.follow, acked),
                               .lag_ns = kafka_lag_ns(&S.kafka, shm_real_ns()), .pid = (uint32_t)getpid(),
                               .messages = n->messages, .bytes = n->bytes, .records = n->records,
                               .wire_bytes = n->wire_bytes, .ctx_messages = n->ctx_messages,
                               .ctx_bytes = n->ctx_bytes};
    snprintf(st.host, sizeof(st.host), "%s", S.follow.hdr.host);
    snprintf(st.topic, sizeof(st.topic), "%s", S.opt.kafka.topic);
    int rc = shlog_shipped_write(S.opt.state, &st);
    S.state_written_ns = now;
    if (rc) {
        if (!S.state_errors++)
            shm_warn(PROG, "--state %s: %s (retrying every second)", S.opt.state, strerror(-rc));
        return;
    }
    S.persisted = acked;
}

static void write_metrics(int force)
{
    uint64_t now = shm_mono_ns();
    if (!S.opt.metrics_file || (!force && now - S.metrics_written_ns < S.opt.metrics_interval_s * 1000000000ull))
        return;
    S.metrics_written_ns = now;
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", S.opt.metrics_file);
    FILE *f = fopen(tmp, "we");
    if (!f) {
        shm_warn(PROG, "--metrics-file %s: %s", tmp, strerror(errno));
        return;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                 ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
    const char *t = S.opt.kafka.topic;
    const struct kafka_counters *kn = &S.kafka.n;
    const struct follow_counters *fn = &S.follow.n;
#define METRIC(name, type, help, fmt, ...) \
    fprintf(f, "# HELP " name " " help "\n# TYPE " name " " type "\n" name "{topic=\"%s\"} " fmt "\n", t, __VA_ARGS__)
    METRIC("shmlog_ship_messages_total", "counter", "Frames the brokers acknowledged.", "%" PRIu64, kn->messages);
    METRIC("shmlog_ship_bytes_total", "counter", "Bytes of frames the brokers acknowledged.", "%" PRIu64, kn->bytes);
    METRIC("shmlog_ship_context_bytes_total", "counter",
           "Bytes of the context headers that let a reader start at their messages.", "%" PRIu64, kn->ctx_bytes);
    METRIC("shmlog_ship_context_messages_total", "counter", "Messages that carried a context header.", "%" PRIu64,
           kn->ctx_messages);
    METRIC("shmlog_ship_wire_bytes_total", "counter",
           "Bytes of the messages the brokers acknowledged: keys, frames, headers' names and values.", "%" PRIu64,
           kn->wire_bytes);
    METRIC("shmlog_ship_records_total", "counter", "Records in the frames the brokers acknowledged.", "%" PRIu64,
           kn->records);
    METRIC("shmlog_ship_lag_bytes", "gauge", "Bytes of the directory's files not yet acknowledged.", "%" PRIu64,
           follow_lag_bytes(&S.follow, S.kafka.acked));
    METRIC("shmlog_ship_lag_seconds", "gauge", "Age of the oldest frame not yet acknowledged.", "%.3f",
           (double)kafka_lag_ns(&S.kafka, shm_real_ns()) / 1e9);
    METRIC("shmlog_ship_inflight_bytes", "gauge", "Bytes produced and not yet acknowledged.", "%" PRIu64,
           S.kafka.inflight_bytes);
    METRIC("shmlog_ship_file_seq", "gauge", "The file the acknowledged cursor is in.", "%" PRIu64, S.kafka.acked.seq);
    METRIC("shmlog_ship_file_offset", "gauge", "Bytes of that file acknowledged.", "%" PRIu64, S.kafka.acked.off);
    METRIC("shmlog_ship_files_total", "counter", "Files started.", "%" PRIu64, fn->files);
    METRIC("shmlog_ship_cpu_seconds_total", "counter", "CPU time of the shipper.", "%.3f", cpu);
    fprintf(f, "# HELP shmlog_ship_errors_total Errors by kind: broker (librdkafka's reports), damaged_bytes "
               "(bytes of closed files that are no frame, not shipped), damaged_frames (shipped, though they do "
               "not decode), torn (closed files ending inside a frame), gone (files removed before shipped), "
               "state (state file writes that failed).\n# TYPE shmlog_ship_errors_total counter\n");
    const char *kind[] = {"broker", "damaged_bytes", "damaged_frames", "torn", "gone", "state"};
    uint64_t val[] = {kn->broker_errors, fn->damaged_bytes, fn->damaged_frames, fn->torn, fn->files_gone,
                      S.state_errors};
    for (size_t i = 0; i < sizeof(val) / sizeof(val[0]); i++)
        fprintf(f, "shmlog_ship_errors_total{topic=\"%s\",kind=\"%s\"} %" PRIu64 "\n", t, kind[i], val[i]);
#undef METRIC
    int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    if (fclose(f) != 0 || bad || rename(tmp, S.opt.metrics_file) != 0) {
        shm_warn(PROG, "--metrics-file %s: %s", S.opt.metrics_file, strerror(errno));
        unlink(tmp);
    }
}

/* ==== The loop ==== */

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* The state file's cursor, and its counters in *n. */
static struct cursor read_state(struct kafka_counters *n)
{
    struct shlog_shipped st;
    int rc = shlog_shipped_read(S.opt.state, &st);
    if (rc == -ENOENT)
        return (struct cursor){0, 0};
    if (rc) {
        fprintf(stderr, PROG ": --state %s: %s; remove it to ship every file in %s from the first\n", S.opt.state,
                rc == -EINVAL ? "not a state file of " PROG : strerror(-rc), S.opt.dir);
        exit(2);
    }
    *n = (struct kafka_counters){.messages = st.messages, .bytes = st.bytes, .records = st.records,
                                 .wire_bytes = st.wire_bytes, .ctx_messages = st.ctx_messages,
                                 .ctx_bytes = st.ctx_bytes};
    return (struct cursor){st.file_seq, st.offset};
}

int main(int argc, char **argv)
{
    parse_options(argc, argv);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct kafka_counters counted = {0};
    struct cursor start = read_state(&counted);
    if (follow_init(&S.follow, S.opt.dir, S.opt.max_inflight, start, &stop_requested) != 0)
        return stop_requested ? 0 : 2;
    /* A state past the files would wait for a file that never comes, shipping nothing. */
    uint64_t last_seq = 0, last_bytes = 0;
    const struct shlog_shipped at = {.file_seq = start.seq, .offset = start.off};
    if (shlog_shipped_ahead(S.follow.dirfd, &at, &last_seq, &last_bytes)) {
        fprintf(stderr, PROG ": --state %s is ahead of the files: it says file %" PRIu64 " to offset %" PRIu64
                " was shipped, and %s ends at file %" PRIu64 " (%" PRIu64 " bytes): a wiped directory or another "
                "host's state; remove it to ship %s from its first file\n", S.opt.state, start.seq, start.off,
                S.opt.dir, last_seq, last_bytes, S.opt.dir);
        return 2;
    }
    if (kafka_init(&S.kafka, &S.opt.kafka, start, &stop_requested) != 0)
        return stop_requested ? 0 : 2;
    /* The counters go on from the state's, so that a restart is no reset to
     * a scraper; what a crash sends again is counted again (it was sent twice). */
    S.kafka.n = counted;
    while (!stop_requested && !S.kafka.fatal[0]) {
        int progress = follow_step(&S.follow, &S.kafka);
        kafka_poll(&S.kafka, progress ? 0 : (int)S.opt.poll_ms);
        write_state(0);
        write_metrics(0);
        if (S.opt.once && !progress && S.follow.at_end && S.kafka.qlen == 0)
            break;
    }
    if (!S.kafka.fatal[0])
        kafka_flush(&S.kafka, 10000);
    write_state(1);
    write_metrics(1);
    int rc = 0;
    if (S.kafka.fatal[0]) {
        fprintf(stderr, PROG ": %s; the state stays before it (file %" PRIu64 " offset %" PRIu64 ")\n", S.kafka.fatal,
                S.kafka.acked.seq, S.kafka.acked.off);
        rc = 1;
    } else if (S.kafka.qlen) {
        shm_warn(PROG, "stopped with %zu messages not acknowledged: the next start sends them again", S.kafka.qlen);
    }
    kafka_close(&S.kafka);
    return rc;
}
