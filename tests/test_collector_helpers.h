/* Description: helpers shared by the collector tests: run the collector and test producers as real
 * processes on a private segment directory, and read every output file back. */
#ifndef TEST_COLLECTOR_HELPERS_H
#define TEST_COLLECTOR_HELPERS_H

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "test_file_helpers.h"

struct tc_env {
    char root[256];
    char seg[300];
    char out[300];
    char log[300];
};

static inline void tc_setup(struct tc_env *e, const char *tag)
{
    th_mkdtemp(e->root, sizeof(e->root), tag);
    snprintf(e->seg, sizeof(e->seg), "%s/seg", e->root);
    snprintf(e->out, sizeof(e->out), "%s/out", e->root);
    snprintf(e->log, sizeof(e->log), "%s/collector.log", e->root);
    cr_assert_eq(mkdir(e->seg, 0700), 0);
    setenv("SHMLOG_DIR", e->seg, 1);
}

static inline uint64_t tc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void tc_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static inline const char *tc_exe(const char *var)
{
    const char *p = getenv(var);
    cr_assert(p && *p, "%s is not set (run through meson test)", var);
    return p;
}

/* Every child a test started, so teardown can end the ones still running. */
static pid_t tc_children[64];
static size_t tc_nchildren;

/* A child process: its stdout as a stream and its stdin as a pipe. */
struct tc_child {
    pid_t pid;
    FILE *out;
    int in_fd;
};

/* Starts argv[0] with stdout piped (or to log_path when given), stdin piped. */
static inline struct tc_child tc_spawn(char *const argv[], const char *log_path)
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
    if (tc_nchildren < sizeof(tc_children) / sizeof(tc_children[0]))
        tc_children[tc_nchildren++] = pid;
    struct tc_child c = {pid, fdopen(out[0], "r"), in[1]};
    return c;
}

/* Kills what a failed test left running (the test's own children only). */
static inline void tc_kill_children(void)
{
    for (size_t i = 0; i < tc_nchildren; i++)
        if (kill(tc_children[i], SIGKILL) == 0)
            waitpid(tc_children[i], NULL, 0);
    tc_nchildren = 0;
}

/* Reads the child's stdout until a line starting with prefix; returns the
 * number after it (0 if none). Fails the test at end of stream. */
static inline unsigned long long tc_wait_line(struct tc_child *c, const char *prefix)
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
static inline void tc_close_stdin(struct tc_child *c)
{
    if (c->in_fd >= 0)
        close(c->in_fd);
    c->in_fd = -1;
}

static inline int tc_wait_exit(struct tc_child *c)
{
    int st;
    cr_assert_eq(waitpid(c->pid, &st, 0), c->pid);
    for (size_t i = 0; i < tc_nchildren; i++)
        if (tc_children[i] == c->pid)
            tc_children[i] = tc_children[--tc_nchildren];
    if (c->out)
        fclose(c->out);
    c->out = NULL;
    tc_close_stdin(c);
    return st;
}

static inline struct tc_child tc_collector(const struct tc_env *e, const char *const extra[])
{
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)tc_exe("COLLECTOR");
    argv[n++] = "--dir";
    argv[n++] = (char *)e->seg;
    argv[n++] = "--out";
    argv[n++] = (char *)e->out;
    for (int i = 0; extra && extra[i] && n < 31; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    return tc_spawn(argv, e->log);
}

static inline struct tc_child tc_producer(const char *const args[])
{
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)tc_exe("TEST_PRODUCER");
    for (int i = 0; args && args[i] && n < 31; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    return tc_spawn(argv, NULL);
}

/* Whether process pid has a handler for sig (SigCgt in /proc/pid/status). */
static inline int tc_catches(pid_t pid, int sig)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    unsigned long long caught = 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "SigCgt: %llx", &caught) == 1)
            break;
    fclose(f);
    return (int)((caught >> (sig - 1)) & 1);
}

/* SIGTERM, then the exit status must be 0. A collector restarted with
 * nothing left to drain is stopped as soon as it is spawned: the signal waits
 * for its handler, or (slowest under ASan) the default action kills it. */
static inline void tc_stop_collector(const struct tc_env *e, struct tc_child *c)
{
    uint64_t until = tc_now_ms() + 10000;
    while (!tc_catches(c->pid, SIGTERM) && tc_now_ms() < until)
        tc_sleep_ms(5);
    cr_assert(tc_catches(c->pid, SIGTERM), "collector %d never set its SIGTERM handler", (int)c->pid);
    cr_assert_eq(kill(c->pid, SIGTERM), 0);
    int st = tc_wait_exit(c);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "cat '%s' >&2", e->log);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        cr_assert(system(cmd) >= 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "collector status %#x", st);
}

static inline size_t tc_count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0, sl = strlen(suffix);
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] != '.' && l >= sl && strcmp(de->d_name + l - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* Waits until the segment directory is empty (the collector removed every
 * segment of exited producers). Returns 1 if it became empty. */
static inline int tc_wait_segments_gone(const char *seg, unsigned timeout_ms)
{
    uint64_t end = tc_now_ms() + timeout_ms;
    while (tc_now_ms() < end) {
        if (tc_count_files(seg, "") == 0)
            return 1;
        tc_sleep_ms(20);
    }
    return 0;
}

static int tc_name_cmp(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    /* the sequence number is the last '-' field; the date before it only grows */
    const char *sx = strrchr(x, '-'), *sy = strrchr(y, '-');
    unsigned long long nx = sx ? strtoull(sx + 1, NULL, 10) : 0, ny = sy ? strtoull(sy + 1, NULL, 10) : 0;
    return nx < ny ? -1 : nx > ny;
}

/* The closed files of dir (at most 4096), in sequence order, strdup'ed into
 * names. Returns how many. */
static inline size_t tc_closed_files(const char *dir, char *names[4096])
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
    qsort(names, n, sizeof(names[0]), tc_name_cmp);
    return n;
}

/* Reads every closed file of dir in sequence order with one dedup state. */
static inline size_t tc_read_all(const char *dir, struct th_read *got)
{
    char *names[4096];
    size_t n = tc_closed_files(dir, names);
    struct shlog_dedup *dd;
    cr_assert_eq(shlog_dedup_new(&dd), 0);
    for (size_t i = 0; i < n; i++) {
        char path[700];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        cr_assert_eq(th_read_file(path, dd, got), 0, "%s", path);
        free(names[i]);
    }
    shlog_dedup_free(dd);
    return n;
}

/* The test producer's record: t, i, px, s. */
struct tc_rec {
    uint32_t t;
    uint64_t i;
    double px;
};

static inline struct tc_rec tc_decode(const struct shmlog_rec *r)
{
    struct tc_rec out;
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
static inline size_t tc_check_producer(const struct th_read *got, uint32_t pid, unsigned threads, uint64_t count)
{
    uint8_t *seen = calloc(threads * count, 1);
    uint64_t last[64][8];
    memset(last, 0xff, sizeof(last));
    size_t n = 0;
    for (size_t k = 0; k < got->n; k++) {
        if (got->rec_pid[k] != pid)
            continue;
        struct tc_rec r = tc_decode(&got->recs[k]);
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

#endif
