/*
 * dump_status.c - shmlog-dump status: one screen of health, from a sample of
 * --watch seconds: the processes and their rings (fill, drops, lag), the
 * collector's open file and write rate, the host's clock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "dump.h"
#include "read_engine.h"
#include "shlog_file.h"

struct status_ring {
    struct shm_seg seg;
    struct shm_ring_view view;
    uint64_t dropped0, dropped1;
    uint64_t tail0, tail1;
    uint64_t lag_ns; /* age of the oldest record not yet drained; 0 if none */
    int has_lag;
};

struct status_proc {
    struct shm_proc_info info;
    int alive;
    int drained; /* a collector holds its meta's lock */
    size_t first_ring, nrings;
};

/* Age of the record at the ring's tail: the oldest one the collector has not
 * released. Read the way `ring` reads it, without writing. */
static int ring_lag(const struct status_ring *r, int writer_dead,
                    uint64_t now, uint64_t *lag)
{
    static struct shm_copied_record rec;
    struct shm_loss loss;
    uint64_t pos = shm_ring_tail(&r->view);
    for (int tries = 0; tries < 4; tries++) {
        int st = shm_ring_next(&r->view, &pos, &rec, writer_dead, &loss);
        if (st == SHM_READ_RECORD) {
            uint64_t ts = shm_clock_taker_ns(live_clock(), rec.tsc);
            *lag = now > ts ? now - ts : 0;
            return 1;
        }
        if (st != SHM_READ_LOSS)
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
            s->alive = shlog_part_in_use(s->part);
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

static void put_duration(struct render_buf *b, uint64_t ns)
{
    char tmp[32];
    if (ns < 1000000u)
        snprintf(tmp, sizeof tmp, "%.1fus", (double)ns / 1e3);
    else if (ns < 1000000000u)
        snprintf(tmp, sizeof tmp, "%.1fms", (double)ns / 1e6);
    else
        snprintf(tmp, sizeof tmp, "%.1fs", (double)ns / 1e9);
    render_buf_puts(b, tmp);
}

static void put_json_kv_double(struct render_buf *b, const char *key, double v)
{
    render_buf_puts(b, ",\"");
    render_buf_puts(b, key);
    render_buf_puts(b, "\":");
    render_json_double(b, v, 0);
}

/* The host's clocks (status runs on the host it reports): one "clock:" line
 * and, when something is wrong, one "clock warning:" line; with json, a
 * ,"clock":{...} member. */
static void put_clock_state(struct render_buf *b, int json)
{
    struct shm_clock_state cs;
    shm_clock_state_read(&cs);
    const char *warning = shm_clock_state_warning(&cs);
    if (json) {
        render_buf_puts(b, ",\"clock\":{\"tsc_invariant\":");
        render_buf_puts(b, cs.tsc_invariant < 0 ? "null" : cs.tsc_invariant ? "true" : "false");
        render_buf_puts(b, ",\"clocksource\":");
        if (cs.clocksource[0])
            render_json_string(b, cs.clocksource, strlen(cs.clocksource));
        else
            render_buf_puts(b, "null");
        render_buf_puts(b, ",\"synchronized\":");
        render_buf_puts(b, cs.synchronized < 0 ? "null" : cs.synchronized ? "true" : "false");
        if (cs.synchronized >= 0) {
            put_json_kv_u64(b, "esterror_ns", cs.esterror_ns);
            put_json_kv_u64(b, "maxerror_ns", cs.maxerror_ns);
        } else {
            render_buf_puts(b, ",\"esterror_ns\":null,\"maxerror_ns\":null");
        }
        render_buf_puts(b, ",\"warning\":");
        if (warning)
            render_json_string(b, warning, strlen(warning));
        else
            render_buf_puts(b, "null");
        render_buf_putc(b, '}');
        return;
    }
    render_buf_puts(b, cs.tsc_invariant < 0  ? "clock: TSC invariance unknown"
                       : cs.tsc_invariant ? "clock: TSC invariant"
                                          : "clock: TSC NOT invariant");
    render_buf_puts(b, ", clocksource ");
    put_text_safe(b, cs.clocksource[0] ? cs.clocksource : "unknown");
    if (cs.synchronized < 0) {
        render_buf_puts(b, ", system clock synchronisation unknown (adjtimex failed)\n");
    } else {
        render_buf_puts(b, cs.synchronized ? ", system clock synchronised (estimated error "
                                           : ", system clock not synchronised (estimated error ");
        put_duration(b, cs.esterror_ns);
        render_buf_puts(b, ", maximum ");
        put_duration(b, cs.maxerror_ns);
        render_buf_puts(b, ")\n");
    }
    if (warning) {
        render_buf_puts(b, "clock warning: ");
        render_buf_puts(b, warning);
        render_buf_putc(b, '\n');
    }
}

/* ==== status: open, sample, report ==== */

/* Everything one status run saw. */
struct status {
    struct seg_list list;
    struct status_proc *procs;
    struct status_ring *rings;
    size_t nprocs, nrings;
    struct collector_sample c0, c1; /* before and after the sample */
    double secs;                    /* the sample's length */
    uint64_t drops_grew;            /* records dropped during the sample, over every ring */
    uint64_t late_drops;            /* the part of drops_grew in rings made during the sample */
    double rate_bytes, rate_records; /* the collector's; rate_records -1: unknown */
    char no_collector[4096 + 512];  /* why no collector drains; "" when one does */
    char stale_collector[4096 + 512]; /* why the collector that runs is not the installed one; "" */
    /* shmlog-ship's state file, when there is one */
    const char *ship_path;
    int ship_rc;                    /* 0 read, else -errno */
    struct shlog_shipped ship;
    uint64_t ship_lag_bytes;        /* now, from --out's files */
    int ship_alive;
    int ship_ahead;                 /* the state says more was shipped than --out's files hold */
    uint64_t last_seq, last_bytes;  /* --out's last file, when ship_ahead */
};

/* A collector reads every ring at least each --max-delay-ms (at most 1 s)
 * and writes within 50 ms more: a record older than this in a ring whose
 * tail stood still through the sample waits on a collector that is stuck. */
#define STUCK_LAG_NS 5000000000ull

/* Whether collector pid writes to out (a real path): its last --out, else
 * $SHMLOG_OUT, else ./shmlog-out, from its cwd. What cannot be read (another
 * user's environment or cwd) counts as a match: better a pass than a false alarm. */
static int collector_writes_to(const char *pid, const char *out)
{
    char path[300], args[8192], dir[PATH_MAX], cwd[PATH_MAX], real[PATH_MAX];
    snprintf(path, sizeof path, "/proc/%s/cmdline", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(args, 1, sizeof args - 1, f);
    fclose(f);
    args[n] = '\0';
    const char *want = NULL;
    for (const char *a = args; a < args + n; a += strlen(a) + 1) {
        if (strcmp(a, "--out") == 0 && a + strlen(a) + 1 < args + n)
            want = a + strlen(a) + 1;
        else if (strncmp(a, "--out=", 6) == 0)
            want = a + 6;
    }
    int defaulted = !want;
    if (defaulted)
        want = "./shmlog-out"; /* or its SHMLOG_OUT, which only its user may read: below */
    if (want[0] == '/') {
        snprintf(dir, sizeof dir, "%s", want);
    } else {
        snprintf(path, sizeof path, "/proc/%s/cwd", pid);
        ssize_t len = readlink(path, cwd, sizeof cwd - 1);
        if (len < 0)
            return 1;
        cwd[len] = '\0';
        snprintf(dir, sizeof dir, "%.2047s/%.2047s", cwd, want);
    }
    if (!realpath(dir, real))
        return 0;
    if (strcmp(real, out) == 0)
        return 1;
    /* Without --out, its SHMLOG_OUT may name out: unreadable for another user's process. */
    snprintf(path, sizeof path, "/proc/%s/environ", pid);
    return defaulted && access(path, R_OK) != 0;
}

/* A running shmlog-collector that writes to out_dir, found by its name
 * ("comm", cut to 15 bytes) and command line: what tells an idle
 * collector, which has no open file and no ring to claim, from none. 0 if none. */
static uint32_t find_collector_process(const char *out_dir)
{
    char out[PATH_MAX];
    if (!realpath(out_dir, out))
        return 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    uint32_t found = 0;
    struct dirent *de;
    while (!found && (de = readdir(d)) != NULL) {
        char path[300], comm[32];
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/comm", de->d_name);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        if (fgets(comm, sizeof comm, f) && strcmp(comm, "shmlog-collecto\n") == 0 &&
            collector_writes_to(de->d_name, out))
            found = (uint32_t)strtoul(de->d_name, NULL, 10);
        fclose(f);
    }
    closedir(d);
    return found;
}

/* Fills st->no_collector when nothing drains: a ring is claimed by no
 * collector that runs, or one that runs lets a ring wait; with no ring to
 * judge by, the collector that writes --out is gone, or none runs. A
 * health check fails on any of them. */
static void judge_collector(const struct cli *cli, struct status *st)
{
    const struct collector_sample *c = &st->c1;
    char *why = st->no_collector;
    size_t cap = sizeof st->no_collector;
    size_t undrained = 0, first_proc = 0, stuck = SIZE_MAX;
    unsigned first_cpu = 0;
    for (size_t k = 0; k < st->nprocs; k++) {
        const struct status_proc *p = &st->procs[k];
        for (size_t j = p->first_ring; j < p->first_ring + p->nrings; j++) {
            const struct status_ring *r = &st->rings[j];
            if (!p->drained) {
                if (!undrained++) {
                    first_proc = k;
                    first_cpu = r->view.cpu;
                }
            } else if (stuck == SIZE_MAX && r->has_lag && r->lag_ns > STUCK_LAG_NS && r->tail1 == r->tail0) {
                stuck = j;
            }
        }
    }
    if (undrained) {
        const struct status_proc *p = &st->procs[first_proc];
        snprintf(why, cap, "%zu ring%s drained by no running collector (the first: %s[%u] cpu%u)", undrained,
                 undrained == 1 ? " is" : "s are", p->info.app, p->info.pid, first_cpu);
    } else if (stuck != SIZE_MAX) {
        const struct status_ring *r = &st->rings[stuck];
        /* A ring made while the collector could not look has no pid yet: the one writing --out drains its process. */
        uint64_t pid = shmlog__load_relaxed(&r->view.hdr->collector_pid);
        snprintf(why, cap, "collector pid %llu has not drained cpu%u for %.1f s: its oldest record waits",
                 (unsigned long long)(pid ? pid : c->pid), r->view.cpu, (double)r->lag_ns / 1e9);
    } else if (st->nrings) {
        return; /* every ring is drained */
    } else if (c->part[0] && !c->alive) {
        snprintf(why, cap, "collector pid %u, which writes %s, is not running", c->pid, c->part);
    } else if (!c->part[0] && !find_collector_process(cli->out_dir)) {
        snprintf(why, cap, "no shmlog-collector runs, and none has an open file in %s (%s); start it, or "
                 "point --out or SHMLOG_OUT at its --out", cli->out_dir, cli->out_dir_from);
    }
}

/* Fills st->stale_collector when the collector that writes --out drains but
 * is not what is installed: its binary was replaced on disk (a package
 * upgrade on a host that did not restart it) or it writes an older file
 * format than these tools. What cannot be read (another user's /proc entry)
 * says nothing: better a pass than a false alarm. */
static void judge_collector_binary(const struct cli *cli, struct status *st)
{
    const struct collector_sample *c = &st->c1;
    uint32_t pid = c->part[0] && c->alive ? c->pid : find_collector_process(cli->out_dir);
    if (!pid)
        return;
    char path[64], exe[PATH_MAX];
    snprintf(path, sizeof path, "/proc/%u/exe", pid);
    ssize_t n = readlink(path, exe, sizeof exe - 1);
    static const char deleted[] = " (deleted)";
    size_t cut = sizeof deleted - 1;
    if (n > (ssize_t)cut && memcmp(exe + n - cut, deleted, cut) == 0) {
        snprintf(st->stale_collector, sizeof st->stale_collector,
                 "collector pid %u runs %.*s, a binary replaced on disk since it started: restart it "
                 "(systemctl restart shmlog-collector) so that it runs the installed one", pid, (int)n, exe);
        return;
    }
    struct shlog_file_header h;
    if (c->part[0] && c->alive && read_file_header(c->part, &h) == 0 && h.version < SHLOG_FILE_VERSION)
        snprintf(st->stale_collector, sizeof st->stale_collector,
                 "collector pid %u writes file format version %u, older than these tools' %u: restart it from the "
                 "installed binary", pid, h.version, SHLOG_FILE_VERSION);
}

/* Opens every process's meta segment and rings first, so the sample covers
 * the same rings. A segment that does not open is skipped. */
static void status_open(struct status *st)
{
    char err[4096 + 256];
    for (size_t i = 0; i < st->list.n; i++) {
        struct shm_seg meta;
        if (st->list.v[i].kind != SHMLOG_SEG_META || open_segment(&st->list.v[i], &meta, err, sizeof err) != 0)
            continue;
        struct status_proc *p = &st->procs[st->nprocs];
        if (shm_meta_info(&meta, &p->info, err, sizeof err) != 0 ||
            shm_meta_attribution(&meta, &p->info, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", dump_prog, err);
            shm_seg_close(&meta);
            continue;
        }
        p->alive = shm_meta_holder(&meta) >= 0;
        p->drained = shm_meta_drained(&meta);
        p->first_ring = st->nrings;
        for (size_t j = i + 1, end = process_run_end(&st->list, i); j < end; j++) {
            struct status_ring *r = &st->rings[st->nrings];
            /* st->nrings < st->list.n: two metas of one owner may claim a ring */
            if (st->list.v[j].kind == SHMLOG_SEG_RING && st->nrings < st->list.n &&
                open_ring_of(&meta, &st->list.v[j], &r->seg, &r->view, err, sizeof err) == 0) {
                r->dropped0 = shm_ring_dropped(&r->view);
                r->tail0 = shm_ring_tail(&r->view);
                st->nrings++;
            }
        }
        shm_seg_close(&meta);
        p->nrings = st->nrings - p->first_ring;
        st->nprocs++;
    }
}

/* A thread that moves to a cpu it has not run on makes that cpu's ring
 * then, so a flooding thread can drop only in a ring that did not exist
 * when status_open looked: every drop of a ring (or process) made during the
 * sample happened in it. A ring the first scan listed but could not open is
 * not counted again. */
static void count_late_rings(const struct cli *cli, struct status *st)
{
    struct seg_list now = {0};
    char err[4096 + 256];
    scan_dirs(cli, &now);
    for (size_t i = 0; i < now.n; i++) {
        struct shm_seg meta;
        if (now.v[i].kind != SHMLOG_SEG_META || open_segment(&now.v[i], &meta, err, sizeof err) != 0)
            continue;
        for (size_t j = i + 1, end = process_run_end(&now, i); j < end; j++) {
            if (now.v[j].kind != SHMLOG_SEG_RING)
                continue;
            int listed = 0;
            for (size_t k = 0; k < st->list.n && !listed; k++)
                listed = strcmp(st->list.v[k].path, now.v[j].path) == 0;
            struct shm_seg seg;
            struct shm_ring_view view;
            if (listed || open_ring_of(&meta, &now.v[j], &seg, &view, err, sizeof err) != 0)
                continue;
            st->late_drops += shm_ring_dropped(&view);
            shm_seg_close(&seg);
        }
        shm_seg_close(&meta);
    }
    st->drops_grew += st->late_drops;
    free(now.v);
}

/* The sample: the collector before, --watch of sleep, the collector after;
 * then each ring's drops since it was opened and its lag, and the
 * collector's rates (from its metrics file when there is one). */
static void status_sample(const struct cli *cli, struct status *st)
{
    sample_collector(cli, &st->c0);
    uint64_t t0 = read_now_ns();
    struct timespec ts = {(time_t)(cli->watch_ns / 1000000000u), (long)(cli->watch_ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    uint64_t t1 = read_now_ns();
    sample_collector(cli, &st->c1);
    st->secs = (double)(t1 - t0) / 1e9;

    for (size_t k = 0; k < st->nprocs; k++) {
        struct status_proc *p = &st->procs[k];
        for (size_t j = p->first_ring; j < p->first_ring + p->nrings; j++) {
            struct status_ring *r = &st->rings[j];
            r->dropped1 = shm_ring_dropped(&r->view);
            r->tail1 = shm_ring_tail(&r->view);
            st->drops_grew += r->dropped1 > r->dropped0 ? r->dropped1 - r->dropped0 : 0;
            r->has_lag = ring_lag(r, !p->alive, t1, &r->lag_ns);
        }
    }
    count_late_rings(cli, st);
    const struct collector_sample *c0 = &st->c0, *c1 = &st->c1;
    st->rate_bytes = (double)collector_growth(c0, c1) / st->secs;
    st->rate_records = -1;
    if (c0->metric_bytes >= 0 && c1->metric_bytes >= c0->metric_bytes)
        st->rate_bytes = (c1->metric_bytes - c0->metric_bytes) / st->secs;
    if (c0->metric_records >= 0 && c1->metric_records >= c0->metric_records)
        st->rate_records = (c1->metric_records - c0->metric_records) / st->secs;
}

/* Slots in use: head - tail, at most the capacity. */
static uint64_t ring_fill(const struct status_ring *r)
{
    uint64_t head = shm_ring_head(&r->view), tail = shm_ring_tail(&r->view);
    return head - tail > r->view.cap ? r->view.cap : head - tail;
}

/* ---- JSON: one object ---- */

/* "collector":{...} */
static void put_json_collector(struct render_buf *b, const struct status *st)
{
    const struct collector_sample *c1 = &st->c1;
    render_buf_puts(b, ",\"collector\":{\"file\":");
    if (c1->part[0])
        render_json_string(b, c1->part, strlen(c1->part));
    else
        render_buf_puts(b, "null");
    put_json_kv_u64(b, "bytes", c1->bytes);
    put_json_kv_u64(b, "pid", c1->pid);
    put_json_kv_bool(b, "alive", c1->alive);
    put_json_kv_bool(b, "draining", !st->no_collector[0]);
    put_json_kv_double(b, "write_bytes_per_s", st->rate_bytes);
    if (st->rate_records >= 0)
        put_json_kv_double(b, "records_per_s", st->rate_records);
    render_buf_putc(b, '}');
}

static void put_json_ring(struct render_buf *b, const struct status_ring *r)
{
    render_buf_puts(b, "{\"cpu\":");
    render_buf_u64(b, r->view.cpu);
    put_json_kv_u64(b, "capacity", r->view.cap);
    put_json_kv_u64(b, "fill", ring_fill(r));
    put_json_kv_u64(b, "dropped", r->dropped1);
    put_json_kv_u64(b, "dropped_during_sample", r->dropped1 - r->dropped0);
    put_json_kv_u64(b, "lost", shmlog__load_relaxed(&r->view.hdr->lost));
    put_json_kv_u64(b, "collector_pid", shmlog__load_relaxed(&r->view.hdr->collector_pid));
    render_buf_puts(b, ",\"lag_ns\":");
    if (r->has_lag)
        render_buf_u64(b, r->lag_ns);
    else
        render_buf_putc(b, '0');
    render_buf_putc(b, '}');
}

static void put_json_process(struct render_buf *b, const struct status *st, const struct status_proc *p)
{
    render_buf_puts(b, "{\"app\":");
    render_json_string(b, p->info.app, strlen(p->info.app));
    put_json_kv_u64(b, "pid", p->info.pid);
    put_json_kv_bool(b, "alive", p->alive);
    put_json_kv_str(b, "level", level_text(p->info.level));
    render_buf_puts(b, ",\"rings\":[");
    for (size_t j = p->first_ring; j < p->first_ring + p->nrings; j++) {
        if (j > p->first_ring)
            render_buf_putc(b, ',');
        put_json_ring(b, &st->rings[j]);
    }
    render_buf_puts(b, "]}");
}

/* Only for the shipper's state file, which names its pid and nothing the
 * kernel vouches for: a process that took the pid passes for it. */
static int pid_alive(uint64_t pid)
{
    return pid && pid <= 0x7fffffff && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* shmlog-ship's state: --ship-state, else the service's when it is there. */
static void sample_shipping(const struct cli *cli, struct status *st)
{
    st->ship_path = cli->ship_state;
    if (!st->ship_path && access(DUMP_SERVICE_SHIP_STATE, R_OK) == 0)
        st->ship_path = DUMP_SERVICE_SHIP_STATE;
    if (!st->ship_path)
        return;
    st->ship_rc = shlog_shipped_read(st->ship_path, &st->ship);
    if (st->ship_rc)
        return;
    st->ship_alive = pid_alive(st->ship.pid);
    int dfd = open(cli->out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        st->ship_lag_bytes = shlog_shipped_lag(dfd, &st->ship);
        st->ship_ahead = shlog_shipped_ahead(dfd, &st->ship, &st->last_seq, &st->last_bytes);
        close(dfd);
    }
}

static void put_json_shipping(struct render_buf *b, const struct status *st)
{
    render_buf_puts(b, ",\"shipping\":");
    if (!st->ship_path || st->ship_rc) {
        render_buf_puts(b, "null");
        return;
    }
    render_buf_puts(b, "{\"topic\":");
    render_json_string(b, st->ship.topic, strlen(st->ship.topic));
    put_json_kv_u64(b, "file_seq", st->ship.file_seq);
    put_json_kv_u64(b, "offset", st->ship.offset);
    put_json_kv_u64(b, "lag_bytes", st->ship_lag_bytes);
    put_json_kv_double(b, "lag_s", (double)st->ship.lag_ns / 1e9);
    uint64_t now = read_now_ns();
    put_json_kv_double(b, "updated_s_ago", now > st->ship.updated_ns ? (double)(now - st->ship.updated_ns) / 1e9 : 0);
    put_json_kv_bool(b, "shipper_alive", st->ship_alive);
    put_json_kv_bool(b, "ahead_of_files", st->ship_ahead);
    render_buf_putc(b, '}');
}

/* "shipping: TOPIC: file N to offset X acknowledged, lag B bytes, S s (the shipper ...)" */
static void put_text_shipping(struct render_buf *b, const struct status *st)
{
    char line[800];
    if (!st->ship_path)
        return;
    if (st->ship_rc) {
        snprintf(line, sizeof line, "shipping: %s: %s\n", st->ship_path,
                 st->ship_rc == -EINVAL ? "not a state file of shmlog-ship" : strerror(-st->ship_rc));
        render_buf_puts(b, line);
        return;
    }
    uint64_t now = read_now_ns();
    double ago = now > st->ship.updated_ns ? (double)(now - st->ship.updated_ns) / 1e9 : 0;
    render_buf_puts(b, "shipping: ");
    put_text_safe(b, st->ship.topic);
    snprintf(line, sizeof line, ": acknowledged to file %llu offset %llu; lag %.1f KiB now, %.3f s when the shipper "
             "last wrote, %.1f s ago (pid %u, %s)\n", (unsigned long long)st->ship.file_seq,
             (unsigned long long)st->ship.offset, (double)st->ship_lag_bytes / 1024.0, (double)st->ship.lag_ns / 1e9,
             ago, st->ship.pid, st->ship_alive ? "running" : "NOT RUNNING");
    render_buf_puts(b, line);
    if (st->ship_ahead) {
        /* A lag of 0 would read as "all shipped" when nothing more will be. */
        snprintf(line, sizeof line, "shipping: AHEAD of the files: the state says file %llu offset %llu, the last "
                 "file is %llu of %llu bytes (the directory was wiped or replaced): nothing new ships until the "
                 "state file is removed and shmlog-ship restarted\n", (unsigned long long)st->ship.file_seq,
                 (unsigned long long)st->ship.offset, (unsigned long long)st->last_seq,
                 (unsigned long long)st->last_bytes);
        render_buf_puts(b, line);
    }
}

/* ,"key":"why" or ,"key":null when why is "". */
static void put_json_kv_reason(struct render_buf *b, const char *key, const char *why)
{
    render_buf_puts(b, ",\"");
    render_buf_puts(b, key);
    render_buf_puts(b, "\":");
    if (why[0])
        render_json_string(b, why, strlen(why));
    else
        render_buf_puts(b, "null");
}

/* The whole report as one JSON object, one line. */
static void status_json(struct render_buf *b, const struct status *st)
{
    render_buf_puts(b, "{\"sample_s\":");
    render_json_double(b, st->secs, 0);
    put_json_collector(b, st);
    put_json_shipping(b, st);
    put_clock_state(b, 1);
    render_buf_puts(b, ",\"processes\":[");
    for (size_t k = 0; k < st->nprocs; k++) {
        if (k)
            render_buf_putc(b, ',');
        put_json_process(b, st, &st->procs[k]);
    }
    render_buf_puts(b, "]");
    put_json_kv_bool(b, "drops_grew", st->drops_grew != 0);
    put_json_kv_u64(b, "dropped_during_sample", st->drops_grew);
    put_json_kv_u64(b, "dropped_in_late_rings", st->late_drops);
    put_json_kv_reason(b, "no_collector", st->no_collector);
    put_json_kv_reason(b, "stale_collector", st->stale_collector);
    render_buf_puts(b, "}\n");
}

/* ---- Text: one screen ---- */

/* "collector: pid ... writing FILE (x MiB) at y KiB/s, z records/s (sampled s)" */
static void put_text_collector(struct render_buf *b, const struct cli *cli, const struct status *st)
{
    const struct collector_sample *c1 = &st->c1;
    char line[512];
    if (c1->part[0]) {
        snprintf(line, sizeof line, "collector: pid %u %s, writing ", c1->pid, c1->alive ? "alive" : "NOT RUNNING");
        render_buf_puts(b, line);
        put_text_safe(b, c1->part);
        snprintf(line, sizeof line, " (%.1f MiB) at %.1f KiB/s", (double)c1->bytes / 1048576.0,
                 st->rate_bytes / 1024.0);
        render_buf_puts(b, line);
        if (st->rate_records >= 0) {
            snprintf(line, sizeof line, ", %.0f records/s", st->rate_records);
            render_buf_puts(b, line);
        }
    } else {
        render_buf_puts(b, "collector: no open file in ");
        put_text_safe(b, cli->out_dir);
    }
    snprintf(line, sizeof line, " (sampled %.2f s)\n", st->secs);
    render_buf_puts(b, line);
}

/* "app[pid] alive level=INFO rings=2", then one line per ring. */
static void put_text_process(struct render_buf *b, const struct status *st, const struct status_proc *p)
{
    char line[512];
    put_text_safe(b, p->info.app);
    snprintf(line, sizeof line, "[%u] %s level=%s rings=%zu\n", p->info.pid, p->alive ? "alive" : "dead",
             level_text(p->info.level), p->nrings);
    render_buf_puts(b, line);
    for (size_t j = p->first_ring; j < p->first_ring + p->nrings; j++) {
        const struct status_ring *r = &st->rings[j];
        uint64_t fill = ring_fill(r);
        int drained = p->drained;
        snprintf(line, sizeof line, "  cpu%u fill=%llu/%llu (%.1f%%) dropped=%llu (+%llu) lag=", r->view.cpu,
                 (unsigned long long)fill, (unsigned long long)r->view.cap,
                 100.0 * (double)fill / (double)r->view.cap, (unsigned long long)r->dropped1,
                 (unsigned long long)(r->dropped1 - r->dropped0));
        render_buf_puts(b, line);
        if (r->has_lag)
            put_duration(b, r->lag_ns);
        else
            render_buf_putc(b, '0');
        render_buf_puts(b, drained ? "\n" : " (no collector)\n");
    }
}

/* The report as text: the collector line, the clock lines, each process
 * (written out one at a time), the verdict. */
static void status_text(struct render_buf *b, const struct cli *cli, const struct status *st)
{
    char line[512];
    put_text_collector(b, cli, st);
    put_text_shipping(b, st);
    put_clock_state(b, 0);
    for (size_t k = 0; k < st->nprocs; k++) {
        put_text_process(b, st, &st->procs[k]);
        out_end(b);
        *b = out_begin();
    }
    if (!st->nprocs)
        render_buf_puts(b, "no processes\n");
    /* The verdicts, the most severe first, as the exit status picks it. */
    if (st->no_collector[0]) {
        render_buf_puts(b, "status: no collector draining: ");
        put_text_safe(b, st->no_collector);
        render_buf_putc(b, '\n');
    }
    if (st->drops_grew) {
        snprintf(line, sizeof line, "status: %llu records dropped during the sample%s\n",
                 (unsigned long long)st->drops_grew,
                 st->late_drops ? " (some in rings made during it, not listed above)" : "");
        render_buf_puts(b, line);
    }
    if (st->stale_collector[0]) {
        render_buf_puts(b, "status: stale collector: ");
        put_text_safe(b, st->stale_collector);
        render_buf_putc(b, '\n');
    }
    if (!st->no_collector[0] && !st->drops_grew && !st->stale_collector[0])
        render_buf_puts(b, "status: ok, no drops during the sample\n");
}

int cmd_status(struct cli *cli)
{
    struct status st = {0};
    int status = scan_dirs(cli, &st.list);
    st.procs = calloc(st.list.n ? st.list.n : 1, sizeof *st.procs);
    st.rings = calloc(st.list.n ? st.list.n : 1, sizeof *st.rings);
    if (!st.procs || !st.rings) {
        fprintf(stderr, "%s: out of memory\n", dump_prog);
        free(st.procs);
        free(st.rings);
        free(st.list.v);
        return 1;
    }

    status_open(&st);
    status_sample(cli, &st);
    judge_collector(cli, &st);
    if (!st.no_collector[0])
        judge_collector_binary(cli, &st);
    sample_shipping(cli, &st);
    struct render_buf b = out_begin();
    if (cli->json)
        status_json(&b, &st);
    else
        status_text(&b, cli, &st);
    out_end(&b);

    for (size_t j = 0; j < st.nrings; j++)
        shm_seg_close(&st.rings[j].seg);
    free(st.procs);
    free(st.rings);
    free(st.list.v);
    /* A collector that is down loses everything from here on; drops lost some. */
    if (st.no_collector[0])
        return EXIT_NO_COLLECTOR;
    if (st.drops_grew)
        return EXIT_DROPS;
    if (st.stale_collector[0])
        return EXIT_STALE_COLLECTOR;
    return status;
}
