/* Description: the test helper library's Criterion side (test_util.h is the
 * rest; every helper is tu_): files of the format built frame by frame and
 * read back into arrays; the collector and test producers run as real
 * processes on a private segment directory; the collector's log, bounded
 * waits, the producers' records checked. Inline: each test binary links
 * Criterion, the file-format library and test_util.c. */
#ifndef SHMLOG_TEST_UTIL_FILE_H
#define SHMLOG_TEST_UTIL_FILE_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "event_prints.h"
#include "shlog_file.h"
#include "test_util.h"

/* ==== Files of the format: written frame by frame, read back ==== */

/* FNV-1a 32, the check of file headers and frame prefixes (FORMAT.md). */
static inline uint32_t tu_fnv(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* Writes at *off a frame no encoder would make: a valid prefix and zstd
 * frame around exactly raw[0..n), whose prefix declares declared_raw bytes. */
static inline void tu_append_raw_frame(int fd, uint64_t *off, const uint8_t *raw, size_t n, uint32_t declared_raw)
{
    size_t cap = ZSTD_compressBound(n) + 16;
    uint8_t *buf = malloc(cap);
    cr_assert(buf);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
    size_t z = ZSTD_compress2(cc, buf + 16, cap - 16, raw, n);
    cr_assert(!ZSTD_isError(z));
    ZSTD_freeCCtx(cc);
    uint32_t w[3] = {SHLOG_FRAME_MAGIC, (uint32_t)z, declared_raw};
    memcpy(buf, w, 12);
    uint32_t c = tu_fnv(buf, 12);
    memcpy(buf + 12, &c, 4);
    cr_assert_eq(pwrite(fd, buf, 16 + z, (off_t)*off), (ssize_t)(16 + z));
    *off += 16 + z;
    free(buf);
}

static inline void tu_proc_info(struct shm_proc_info *p, uint32_t pid, uint64_t start)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->app, sizeof(p->app), "app%u", pid);
    snprintf(p->host, sizeof(p->host), "testhost");
    p->pid = pid;
    p->uid = 1000;
    p->proc_start = start;
    p->created_ns = 1700000000000000000ull;
    p->tsc_hz = 3000000000ull;
    p->anchor_tsc = 123456789;
    p->anchor_ns = 1700000000000000000ull;
}

/* A site with nargs types from a 0-terminated list. */
static inline void tu_site(struct shm_site *s, uint32_t id, const char *fmt, ...)
{
    memset(s, 0, sizeof(*s));
    s->id = id;
    s->line = 100 + id;
    s->level = SHMLOG_LEVEL_INFO;
    s->category = (uint8_t)(id % SHMLOG_CAT_COUNT);
    snprintf(s->fmt, sizeof(s->fmt), "%s", fmt);
    s->fmt_len = (uint32_t)strlen(s->fmt);
    snprintf(s->file, sizeof(s->file), "src/file%u.c", id);
    s->file_len = (uint32_t)strlen(s->file);
    va_list ap;
    va_start(ap, fmt);
    int t;
    while ((t = va_arg(ap, int)) != 0)
        s->arg_types[s->nargs++] = (uint8_t)t;
    va_end(ap);
}

/* Fills r's payload from the site's types: integers and floats from vals,
 * strings from strs (in order). Returns the used length. */
static inline size_t tu_payload(struct shm_copied_record *r, const struct shm_site *s, const uint64_t *vals,
                                const char *const *strs)
{
    size_t off = 0;
    unsigned si = 0;
    for (unsigned i = 0; i < s->nargs; i++) {
        unsigned t = s->arg_types[i];
        if (t == SHMLOG_ARG_STR) {
            size_t n = strlen(strs[si++]);
            r->payload[off] = (uint8_t)n;
            r->payload[off + 1] = (uint8_t)(n >> 8);
            memcpy(r->payload + off + 2, strs[si - 1], n);
            off += 2 + n;
        } else {
            unsigned w = shmlog_arg_width(t);
            for (unsigned b = 0; b < w; b++)
                r->payload[off + b] = (uint8_t)(vals[i] >> (8 * b));
            off += w;
        }
    }
    return off;
}

/* Sets the slot geometry of r for a payload of n used bytes, and fills the
 * unused rest of the slots with junk (the decoder must not keep it). */
static inline void tu_slots(struct shm_copied_record *r, size_t used)
{
    r->nslots = (uint8_t)shmlog_slots_for_payload(used);
    r->payload_len = (uint16_t)(SHMLOG_HEAD_PAYLOAD + (r->nslots - 1) * SHMLOG_CONT_PAYLOAD);
    for (size_t i = used; i < r->payload_len; i++)
        r->payload[i] = (uint8_t)(0xA5 ^ i);
}

/* A file being written by a test. */
struct tu_file {
    int fd;
    struct shlog_enc *enc;
    uint64_t off;
    uint64_t frame_end[256]; /* end offset of each frame written */
    uint64_t frame_records[256];
    unsigned nframes;
};

/* A file at path whose header has flags (SHLOG_FILE_*), written by an encoder. */
static inline void tu_file_open_flags(struct tu_file *f, const char *path, uint64_t seq, uint32_t flags)
{
    memset(f, 0, sizeof(*f));
    f->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert(f->fd >= 0);
    cr_assert_eq(shlog_enc_new(&f->enc, 3), 0);
    struct shlog_file_header h = {.file_seq = seq, .created_ns = 1, .collector_pid = 1, .flags = flags};
    snprintf(h.host, sizeof(h.host), "testhost");
    uint8_t hb[SHLOG_FILE_HEADER_BYTES];
    shlog_file_header_encode(hb, &h);
    cr_assert_eq(pwrite(f->fd, hb, sizeof(hb), 0), (ssize_t)sizeof(hb));
    f->off = sizeof(hb);
}

static inline void tu_file_open(struct tu_file *f, const char *path, uint64_t seq)
{
    tu_file_open_flags(f, path, seq, 0);
}

static inline void tu_file_flush(struct tu_file *f)
{
    uint64_t records = shlog_enc_frame_records(f->enc);
    size_t cap = shlog_enc_frame_bound(f->enc);
    void *buf = malloc(cap);
    long n = shlog_enc_frame(f->enc, buf, cap);
    cr_assert(n > 0, "frame encode: %ld", n);
    cr_assert_eq(pwrite(f->fd, buf, (size_t)n, (off_t)f->off), n);
    f->off += (uint64_t)n;
    cr_assert(f->nframes < 256);
    f->frame_end[f->nframes] = f->off;
    f->frame_records[f->nframes++] = records;
    free(buf);
}

static inline void tu_file_close(struct tu_file *f)
{
    shlog_enc_free(f->enc);
    close(f->fd);
}

/* Everything a reader returned. Each record in an allocation of its own, as
 * long as what it holds: a record's struct has room for the longest payload
 * (14 KiB), a million of which a test would not fit in memory. */
struct tu_read {
    struct shm_copied_record **recs;
    uint32_t *rec_pid;
    uint32_t *rec_cpu;
    size_t n, cap;
    size_t errors, torn, losses, exits, processes, sites;
    size_t exits_how[SHLOG_EXIT_DIED + 1]; /* by enum shlog_exit_how */
    uint64_t lost[SHM_LOSS_REASON_MAX + 1];
    char first_error[256];
};

static inline void tu_read_event(struct tu_read *out, const struct shlog_event *ev)
{
    switch (ev->kind) {
    case SHLOG_EV_RECORD:
        if (ev->site) { /* the renderer's form of the site agrees with the file's */
            cr_assert(ev->site_info != NULL);
            cr_assert_eq(ev->site_info->id, ev->site->id);
            cr_assert_eq(ev->site_info->nargs, ev->site->nargs);
            cr_assert_str_eq(ev->site_info->fmt, ev->site->fmt);
            cr_assert_str_eq(ev->site_info->file, ev->site->file);
        }
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 1024;
            out->recs = realloc(out->recs, out->cap * sizeof(*out->recs));
            out->rec_pid = realloc(out->rec_pid, out->cap * sizeof(*out->rec_pid));
            out->rec_cpu = realloc(out->rec_cpu, out->cap * sizeof(*out->rec_cpu));
            cr_assert(out->recs && out->rec_pid && out->rec_cpu);
        }
        {
            const struct shm_copied_record *r = ev->rec;
            const size_t bytes = shm_rec_copy_bytes(r);
            out->recs[out->n] = malloc(bytes);
            cr_assert(out->recs[out->n]);
            memcpy(out->recs[out->n], r, bytes);
        }
        out->rec_pid[out->n] = ev->proc->info.pid;
        out->rec_cpu[out->n++] = ev->cpu;
        break;
    case SHLOG_EV_ERROR:
        if (!out->errors++)
            snprintf(out->first_error, sizeof(out->first_error), "%s", ev->error);
        out->torn += ev->torn != 0;
        break;
    case SHLOG_EV_LOSS:
        out->losses++;
        if (ev->loss.reason <= SHM_LOSS_REASON_MAX)
            out->lost[ev->loss.reason] += ev->loss.records;
        break;
    case SHLOG_EV_EXIT:
        out->exits++;
        out->exits_how[ev->exit_how]++;
        break;
    case SHLOG_EV_PROCESS: out->processes++; break;
    case SHLOG_EV_SITE: out->sites++; break;
    }
}

/* The events of path as prints (event_prints.h), in blocks or a record at a time. */
static inline size_t tu_event_prints(const char *path, int blocks, uint64_t **prints)
{
    struct shlog_reader *r;
    char err[512];
    cr_assert_eq(shlog_reader_open(&r, path, 0, NULL, err, sizeof(err)), 0, "%s", err);
    shlog_reader_blocks(r, blocks);
    long n = ep_prints(r, blocks, prints, SIZE_MAX);
    cr_assert_geq(n, 0, "%s: %s", path, n == -1 ? "a row is not what its site says" : "the reader failed");
    shlog_reader_close(r);
    return (size_t)n;
}

/* Reads path to the end with dedup state d (NULL: private). Returns the
 * reader's final status (0, or -errno). With a private dedup state, reading
 * the file a block of records at a time gives every record, loss and damage
 * that reading it a record at a time gives, in the same order. */
static inline int tu_read_shlog(const char *path, struct shlog_dedup *d, struct tu_read *out)
{
    struct shlog_reader *r;
    char err[512];
    int rc = shlog_reader_open(&r, path, 0, d, err, sizeof(err));
    if (rc)
        return rc;
    struct shlog_event ev;
    while ((rc = shlog_reader_next(r, &ev)) > 0)
        tu_read_event(out, &ev);
    shlog_reader_close(r);
    if (rc == 0 && !d) {
        uint64_t *one = NULL, *blocks = NULL;
        size_t n = tu_event_prints(path, 0, &one), nb = tu_event_prints(path, 1, &blocks);
        cr_assert_eq(nb, n, "%s: %zu events in blocks, %zu a record at a time", path, nb, n);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(blocks[i], one[i], "%s: event %zu differs in blocks", path, i);
        free(one);
        free(blocks);
    }
    return rc;
}

static inline void tu_read_free(struct tu_read *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->recs[i]);
    free(r->recs);
    free(r->rec_pid);
    free(r->rec_cpu);
    memset(r, 0, sizeof(*r));
}

/* A private directory /tmp/shmlog-test-<tag>-XXXXXX (output files on disk,
 * not in memory), or the test fails. Removed with tu_rmtree. */
static inline void tu_tmpdir(char *dir, size_t cap, const char *tag)
{
    cr_assert_eq(tu_mkdtemp_in(dir, cap, "/tmp", tag), 0, "mkdtemp under /tmp: %s", strerror(errno));
}

/* ==== The collector and test producers as real processes ==== */

struct tu_env {
    char root[256];
    char seg[300];
    char out[300];
    char log[300];
};

static inline void tu_env_setup(struct tu_env *e, const char *tag)
{
    tu_tmpdir(e->root, sizeof(e->root), tag);
    snprintf(e->seg, sizeof(e->seg), "%s/seg", e->root);
    snprintf(e->out, sizeof(e->out), "%s/out", e->root);
    snprintf(e->log, sizeof(e->log), "%s/collector.log", e->root);
    cr_assert_eq(mkdir(e->seg, 0700), 0);
    setenv("SHMLOG_DIR", e->seg, 1);
}

static inline const char *tu_exe(const char *var)
{
    const char *p = getenv(var);
    cr_assert(p && *p, "%s is not set (run through meson test)", var);
    return p;
}

/* Every child a test started, so teardown can end the ones still running. */
static pid_t tu_children[64];
static size_t tu_nchildren;

/* A child process: its stdout as a stream and its stdin as a pipe. */
struct tu_child {
    pid_t pid;
    FILE *out;
    int in_fd;
};

/* Starts argv[0] with stdout piped (or to log_path when given), stdin piped. */
static inline struct tu_child tu_spawn(char *const argv[], const char *log_path)
{
    int out[2], in[2];
    /* Close-on-exec: a later child must not hold an earlier child's stdin open. */
    cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(in, O_CLOEXEC), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0);
        if (log_path) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
            dup2(fd, 1);
            dup2(fd, 2);
        } else {
            dup2(out[1], 1);
        }
        close(in[1]);
        close(out[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    if (tu_nchildren < sizeof(tu_children) / sizeof(tu_children[0]))
        tu_children[tu_nchildren++] = pid;
    struct tu_child c = {pid, fdopen(out[0], "r"), in[1]};
    return c;
}

/* The sockets tu_collector_ready heard READY=1 on, open until the test ends. */
static int tu_notify_fds[16];
static size_t tu_notify_nfds;

/* Kills what a failed test left running (the test's own children only). */
static inline void tu_kill_children(void)
{
    for (size_t i = 0; i < tu_nchildren; i++)
        if (kill(tu_children[i], SIGKILL) == 0)
            waitpid(tu_children[i], NULL, 0);
    tu_nchildren = 0;
    for (size_t i = 0; i < tu_notify_nfds; i++)
        close(tu_notify_fds[i]);
    tu_notify_nfds = 0;
}

/* Reads the child's stdout until a line starting with prefix; returns the
 * number after it (0 if none). Fails the test at end of stream. */
static inline unsigned long long tu_wait_line(struct tu_child *c, const char *prefix)
{
    char line[256];
    while (fgets(line, sizeof(line), c->out))
        if (strncmp(line, prefix, strlen(prefix)) == 0)
            return strtoull(line + strlen(prefix), NULL, 10);
    cr_assert_fail("child %d ended its output before '%s'", (int)c->pid, prefix);
    return 0;
}

/* Closes the child's stdin: a test producer run with --hold or --gate-at
 * goes on. */
static inline void tu_close_stdin(struct tu_child *c)
{
    if (c->in_fd >= 0)
        close(c->in_fd);
    c->in_fd = -1;
}

static inline int tu_wait_exit(struct tu_child *c)
{
    int st;
    cr_assert_eq(waitpid(c->pid, &st, 0), c->pid);
    for (size_t i = 0; i < tu_nchildren; i++)
        if (tu_children[i] == c->pid)
            tu_children[i] = tu_children[--tu_nchildren];
    if (c->out)
        fclose(c->out);
    c->out = NULL;
    tu_close_stdin(c);
    return st;
}

static inline struct tu_child tu_collector(const struct tu_env *e, const char *const extra[])
{
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)tu_exe("COLLECTOR");
    argv[n++] = "--dir";
    argv[n++] = (char *)e->seg;
    argv[n++] = "--out";
    argv[n++] = (char *)e->out;
    for (int i = 0; extra && extra[i] && n < 31; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    return tu_spawn(argv, e->log);
}

/* tu_collector, returned once it drains: when it sends READY=1 on a
 * $NOTIFY_SOCKET of the test's own, as it tells a service manager. A sleep
 * instead is too short on a loaded machine, and what the test measures or
 * starts next then meets a collector still setting up (its warm heap, its
 * first scan). The socket stays open until the test ends, so the collector's
 * STOPPING=1 is heard too. Fails the test when the collector exits or stays
 * silent instead. */
static inline struct tu_child tu_collector_ready(const struct tu_env *e, const char *const extra[])
{
    static unsigned serial;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify-%d-%u", e->root, (int)getpid(), serial++);
    cr_assert(n > 0 && (size_t)n < sizeof(sa.sun_path), "the notify socket's path is too long: %s", e->root);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (const struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s: %s", sa.sun_path, strerror(errno));
    if (tu_notify_nfds < sizeof(tu_notify_fds) / sizeof(tu_notify_fds[0]))
        tu_notify_fds[tu_notify_nfds++] = fd;
    setenv("NOTIFY_SOCKET", sa.sun_path, 1);
    struct tu_child c = tu_collector(e, extra);
    unsetenv("NOTIFY_SOCKET");
    for (int waited_ms = 0; waited_ms < 60000; waited_ms += 100) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) == 1) {
            char msg[256];
            ssize_t got = recv(fd, msg, sizeof(msg) - 1, 0);
            if (got > 0) {
                msg[got] = '\0';
                if (strstr(msg, "READY=1"))
                    return c;
            }
        }
        siginfo_t si = {0};
        if (waitid(P_PID, (id_t)c.pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == c.pid)
            cr_assert_fail("the collector exited (status %d) before it said READY=1; its log: %s", si.si_status,
                           e->log);
    }
    cr_assert_fail("the collector did not say READY=1 in 60 s; its log: %s", e->log);
    return c;
}

static inline struct tu_child tu_producer(const char *const args[])
{
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)tu_exe("TEST_PRODUCER");
    for (int i = 0; args && args[i] && n < 31; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    return tu_spawn(argv, NULL);
}

/* The cpus this process may use (*all), and the first of them alone (*one). */
static inline void tu_first_cpu(cpu_set_t *all, cpu_set_t *one)
{
    cr_assert_eq(sched_getaffinity(0, sizeof(*all), all), 0);
    CPU_ZERO(one);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, all)) {
            CPU_SET(c, one);
            break;
        }
}

/* tu_producer on the first cpu this process may use, and on that cpu only:
 * one ring, the same one whenever its threads run. */
static inline struct tu_child tu_producer_one_cpu(const char *const args[])
{
    cpu_set_t all, one;
    tu_first_cpu(&all, &one);
    cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
    struct tu_child p = tu_producer(args);
    cr_assert_eq(sched_setaffinity(0, sizeof(all), &all), 0);
    return p;
}

/* SIGTERM, then the exit status must be 0. A collector restarted with
 * nothing left to drain is stopped as soon as it is spawned: the signal waits
 * for its handler, or (slowest under ASan) the default action kills it. */
static inline void tu_stop_collector(const struct tu_env *e, struct tu_child *c)
{
    uint64_t until = tu_now_ms() + 10000;
    while (!tu_catches(c->pid, SIGTERM) && tu_now_ms() < until)
        tu_sleep_ms(5);
    cr_assert(tu_catches(c->pid, SIGTERM), "collector %d never set its SIGTERM handler", (int)c->pid);
    cr_assert_eq(kill(c->pid, SIGTERM), 0);
    int st = tu_wait_exit(c);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "cat '%s' >&2", e->log);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        cr_assert(system(cmd) >= 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "collector status %#x", st);
}

/* Waits until the segment directory is empty (the collector removed every
 * segment of exited producers). Returns 1 if it became empty. */
static inline int tu_wait_segments_gone(const char *seg, unsigned timeout_ms)
{
    uint64_t end = tu_now_ms() + timeout_ms;
    while (tu_now_ms() < end) {
        if (tu_count_files(seg, "") == 0)
            return 1;
        tu_sleep_ms(20);
    }
    return 0;
}

static int tu_name_cmp(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    /* the sequence number is the last '-' field; the date before it only grows */
    const char *sx = strrchr(x, '-'), *sy = strrchr(y, '-');
    unsigned long long nx = sx ? strtoull(sx + 1, NULL, 10) : 0, ny = sy ? strtoull(sy + 1, NULL, 10) : 0;
    return nx < ny ? -1 : nx > ny;
}

/* The closed files of dir (at most 4096), in sequence order, strdup'ed into
 * names. Returns how many. */
static inline size_t tu_closed_files(const char *dir, char *names[4096])
{
    DIR *d = opendir(dir);
    cr_assert(d != NULL, "no output directory %s", dir);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 4096) {
        size_t l = strlen(de->d_name);
        if (l > 6 && strcmp(de->d_name + l - 6, ".shlog") == 0)
            names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), tu_name_cmp);
    return n;
}

/* Calls fn for every event of every closed file of dir, read in sequence
 * order with one dedup state (each file must read to its end); returns how
 * many files there were. */
typedef void (*tu_event_fn)(const struct shlog_event *ev, void *ctx);
static inline size_t tu_each_event(const char *dir, tu_event_fn fn, void *ctx)
{
    char *names[4096];
    size_t n = tu_closed_files(dir, names);
    struct shlog_dedup *dd;
    cr_assert_eq(shlog_dedup_new(&dd), 0);
    for (size_t i = 0; i < n; i++) {
        char path[700], err[512];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        free(names[i]);
        struct shlog_reader *r;
        cr_assert_eq(shlog_reader_open(&r, path, 0, dd, err, sizeof(err)), 0, "%s: %s", path, err);
        struct shlog_event ev;
        int rc;
        while ((rc = shlog_reader_next(r, &ev)) > 0)
            fn(&ev, ctx);
        shlog_reader_close(r);
        cr_assert_eq(rc, 0, "%s: read status %d", path, rc);
    }
    shlog_dedup_free(dd);
    return n;
}

/* kB of a line of /proc/<pid>/status (VmRSS, VmHWM, RssAnon). */
static inline long tu_status_kb(pid_t pid, const char *field)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    cr_assert_gt(tu_read_file(path, buf, sizeof(buf)), 0);
    const char *at = strstr(buf, field);
    cr_assert(at, "no %s in %s", field, path);
    return strtol(at + strlen(field) + 1, NULL, 10);
}

/* Reads every closed file of dir in sequence order with one dedup state. */
static inline size_t tu_read_all(const char *dir, struct tu_read *got)
{
    char *names[4096];
    size_t n = tu_closed_files(dir, names);
    struct shlog_dedup *dd;
    cr_assert_eq(shlog_dedup_new(&dd), 0);
    for (size_t i = 0; i < n; i++) {
        char path[700];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        cr_assert_eq(tu_read_shlog(path, dd, got), 0, "%s", path);
        free(names[i]);
    }
    shlog_dedup_free(dd);
    return n;
}

/* The test producer's record: t, i, px, s. */
struct tu_rec {
    uint32_t t;
    uint64_t i;
    double px;
};

static inline struct tu_rec tu_decode(const struct shm_copied_record *r)
{
    struct tu_rec out;
    cr_assert_geq(r->payload_len, 22, "payload of %u bytes", r->payload_len);
    memcpy(&out.t, r->payload, 4);
    memcpy(&out.i, r->payload + 4, 8);
    memcpy(&out.px, r->payload + 12, 8);
    cr_assert_eq(out.px, (double)out.i * 0.25, "px of record %lu", out.i);
    return out;
}

/* Checks the records of producer pid: each (t, i) with t < threads and i <
 * count at most once, records of one thread in increasing i within each ring.
 * Returns how many records it had. */
static inline size_t tu_check_producer(const struct tu_read *got, uint32_t pid, unsigned threads, uint64_t count)
{
    uint8_t *seen = calloc(threads * count, 1);
    uint64_t last[64][8];
    memset(last, 0xff, sizeof(last));
    size_t n = 0;
    for (size_t k = 0; k < got->n; k++) {
        if (got->rec_pid[k] != pid)
            continue;
        struct tu_rec r = tu_decode(got->recs[k]);
        cr_assert_lt(r.t, threads);
        cr_assert_lt(r.i, count);
        cr_assert_eq(seen[r.t * count + r.i]++, 0, "pid %u thread %u record %lu twice", pid, r.t, r.i);
        uint32_t cpu = got->rec_cpu[k] % 8;
        cr_assert(last[r.t][cpu] == UINT64_MAX || last[r.t][cpu] < r.i,
                  "pid %u thread %u: record %lu after %lu on cpu %u", pid, r.t, r.i, last[r.t][cpu], cpu);
        last[r.t][cpu] = r.i;
        n++;
    }
    free(seen);
    return n;
}

/* ==== Robustness: the collector log, bounded waits ==== */

/* Lines of the collector log (e->log) that contain needle. */
static inline int tu_log_lines(const struct tu_env *e, const char *needle)
{
    FILE *f = fopen(e->log, "re");
    if (!f)
        return 0;
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* Waits until the collector log has a line with needle. 1 if it came. */
static inline int tu_wait_log(const struct tu_env *e, const char *needle, unsigned timeout_ms)
{
    uint64_t end = tu_now_ms() + timeout_ms;
    while (tu_now_ms() < end) {
        if (tu_log_lines(e, needle))
            return 1;
        tu_sleep_ms(20);
    }
    return 0;
}

/* tu_wait_exit, but a child that does not end within timeout_ms fails the
 * test (a hang) and is killed. */
static inline int tu_wait_exit_within(struct tu_child *c, unsigned timeout_ms, const char *what)
{
    uint64_t end = tu_now_ms() + timeout_ms;
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        cr_assert_eq(waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT), 0);
        if (si.si_pid)
            return tu_wait_exit(c);
        if (tu_now_ms() > end) {
            kill(c->pid, SIGKILL);
            cr_assert_fail("%s hangs: still running after %u ms", what, timeout_ms);
        }
        tu_sleep_ms(2);
    }
}

/* tu_wait_segments_gone, and on failure what is left and the end of the
 * collector log, for the report. */
static inline void tu_assert_segments_gone(const struct tu_env *e, unsigned timeout_ms)
{
    if (tu_wait_segments_gone(e->seg, timeout_ms))
        return;
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "ls -la --time-style=full-iso '%s' >&2; tail -n 40 '%s' >&2", e->seg, e->log);
    cr_assert(system(cmd) >= 0);
    cr_assert_fail("segments are left %u ms after their producers ended (listed above)", timeout_ms);
}

/* The first ring segment of process pid in dir, or "". */
static inline void tu_find_ring(const char *dir, pid_t pid, char *out, size_t cap)
{
    out[0] = '\0';
    DIR *d = opendir(dir);
    cr_assert(d != NULL);
    char tag[64];
    snprintf(tag, sizeof(tag), "-%d-cpu", (int)pid);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strstr(de->d_name, tag) && strstr(de->d_name, ".ring"))
            snprintf(out, cap, "%s/%s", dir, de->d_name);
    closedir(d);
}

#endif /* SHMLOG_TEST_UTIL_FILE_H */
