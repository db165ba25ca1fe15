/* Description: several producer processes at once, and producers that die mid-burst (SIGKILL, or between reserve and commit): every committed record is read back from their rings, losses only as counted markers. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reader.h"
#include "shmlog.h"
#include "test_util.h"

static char dir[TU_DIR_MAX];

static void dir_up(void) { cr_assert_eq(tu_mkdtemp(dir, sizeof dir, "mp"), 0); }
static void dir_down(void) { tu_rmtree(dir); }

/* tests/producer_child, as built by meson (SHMLOG_TEST_PRODUCER_CHILD), or
 * next to this executable when run by hand. */
static const char *child_exe(void)
{
    static char path[TU_PATH_MAX];
    const char *env = getenv("SHMLOG_TEST_PRODUCER_CHILD");
    if (env && *env)
        return env;
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 32);
    cr_assert_gt(n, 0);
    path[n] = 0;
    strcpy(strrchr(path, '/') + 1, "producer_child");
    return path;
}

/* Starts producer_child; *out_fd (if not NULL) reads its stdout. */
static pid_t spawn_child(unsigned child, unsigned threads, unsigned records, const char *mode, int *out_fd)
{
    int pipefd[2] = {-1, -1};
    if (out_fd)
        cr_assert_eq(pipe(pipefd), 0);
    char c[16], t[16], r[16], app[32];
    snprintf(c, sizeof c, "%u", child);
    snprintf(t, sizeof t, "%u", threads);
    snprintf(r, sizeof r, "%u", records);
    snprintf(app, sizeof app, "child%u", child);
    const char *exe = child_exe();
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (out_fd) {
            dup2(pipefd[1], STDOUT_FILENO);
            close(pipefd[0]);
            close(pipefd[1]);
        }
        execl(exe, exe, dir, app, c, t, r, mode, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    if (out_fd) {
        close(pipefd[1]);
        *out_fd = pipefd[0];
    }
    return pid;
}

/* Kept in step with producer_child.c. */
static size_t child_string(char *s, unsigned c, unsigned t, unsigned seq)
{
    size_t len = (seq / 8 * 11 + t * 3 + c) % 200;
    for (size_t i = 0; i < len; i++)
        s[i] = (char)('a' + (c + t + seq + i) % 26);
    s[len] = 0;
    return len;
}

/* ==== Reading back one child ==== */

#define MAX_THREADS 4

struct child_check {
    unsigned child, threads, seqs; /* seqs: per thread, the most that can appear */
    uint8_t *seen;                 /* [threads][seqs] */
    int64_t last[TU_MAX_RINGS][MAX_THREADS];
    int64_t max_seq[MAX_THREADS];
    uint64_t slots_read;           /* sum of nslots of the records read */
    const struct tu_proc *proc;
    uint32_t fmt_kind[64];         /* per site id: 0 unknown, 1 plain, 2 with string */
    unsigned errors;
    char why[256];
    int ring;
};

static void check_error(struct child_check *k, const char *what, const struct shm_copied_record *rec)
{
    if (k->errors++ == 0)
        snprintf(k->why, sizeof k->why, "child %u ring %d pos %llu: %s", k->child, k->ring,
                 (unsigned long long)rec->pos, what);
}

static int site_kind(struct child_check *k, uint32_t id)
{
    if (id >= 64)
        return 0;
    if (!k->fmt_kind[id]) {
        static struct shm_site si;
        if (shm_meta_site(&k->proc->meta, id, &si) != 0)
            return 0;
        if (strcmp(si.fmt, "c=%u t=%u seq=%u") == 0 && si.nargs == 3)
            k->fmt_kind[id] = 1;
        else if (strcmp(si.fmt, "c=%u t=%u seq=%u s=%s") == 0 && si.nargs == 4 && si.arg_types[3] == SHMLOG_ARG_STR)
            k->fmt_kind[id] = 2;
        else
            k->fmt_kind[id] = 3;
    }
    return (int)k->fmt_kind[id];
}

static int check_child_record(const struct shm_copied_record *rec, const struct shm_ring_view *v, void *ctx)
{
    (void)v;
    struct child_check *k = ctx;
    uint32_t c = 0, t = 0, seq = 0;
    if (tu_arg_u32(rec, 0, &c) || tu_arg_u32(rec, 4, &t) || tu_arg_u32(rec, 8, &seq)) {
        check_error(k, "payload too short", rec);
        return 0;
    }
    if (c != k->child || t >= k->threads || seq >= k->seqs) {
        check_error(k, "record of another child, thread or seq", rec);
        return 0;
    }
    int kind = site_kind(k, rec->site);
    if (kind != (seq % 8 == 7 ? 2 : 1))
        check_error(k, "record names the wrong call site", rec);
    if (kind == 2) {
        char want[256];
        size_t len = child_string(want, c, t, seq), got_len = 0;
        const uint8_t *got = NULL;
        int cut = 1;
        if (tu_arg_str(rec, 12, &got, &got_len, &cut) < 0 || got_len != len || cut || memcmp(got, want, len))
            check_error(k, "string argument differs", rec);
    }
    uint8_t *seen = &k->seen[(size_t)t * k->seqs + seq];
    if (*seen)
        check_error(k, "record seen twice", rec);
    *seen = 1;
    if ((int64_t)seq <= k->last[k->ring][t])
        check_error(k, "thread's records out of order in its ring", rec);
    k->last[k->ring][t] = seq;
    if ((int64_t)seq > k->max_seq[t])
        k->max_seq[t] = seq;
    k->slots_read += rec->nslots;
    return 0;
}

struct child_result {
    uint64_t records;
    uint64_t dropped;
    uint64_t loss_events;
    uint64_t dead_writer_positions;
    uint64_t head_sum;
    struct tu_drain_stats st;
};

/* Reads every ring of child `child` (pid), checks each record, and that per
 * thread the seqs present are exactly 0..max (no gap, no duplicate). */
static void read_child(unsigned child, pid_t pid, unsigned threads, unsigned seqs, int writer_dead,
                       struct child_result *res)
{
    char app[32], err[512] = "";
    snprintf(app, sizeof app, "child%u", child);
    static struct tu_proc proc;
    cr_assert_eq(tu_proc_open(&proc, dir, app, (uint32_t)pid, 0, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(proc.info.app, app);
    cr_assert_eq(proc.info.pid, (uint32_t)pid);
    cr_assert_eq(shm_proc_alive(proc.info.pid, proc.info.proc_start), 0, "child %u was reaped", child);
    cr_assert_eq(proc.nrings, tu_allowed_cpus(), "all_cpus: one ring per allowed cpu");

    static struct child_check k;
    memset(&k, 0, sizeof k);
    k.child = child;
    k.threads = threads;
    k.seqs = seqs;
    k.proc = &proc;
    k.seen = calloc((size_t)threads * seqs, 1);
    cr_assert_not_null(k.seen);
    for (int r = 0; r < TU_MAX_RINGS; r++)
        for (int t = 0; t < MAX_THREADS; t++)
            k.last[r][t] = -1;
    for (int t = 0; t < MAX_THREADS; t++)
        k.max_seq[t] = -1;

    memset(res, 0, sizeof *res);
    for (int r = 0; r < proc.nrings; r++) {
        k.ring = r;
        uint64_t pos = shm_ring_tail(&proc.ring[r]);
        int st = tu_drain(&proc.ring[r], &pos, writer_dead, check_child_record, &k, &res->st);
        cr_assert_eq(st, SHM_READ_EMPTY, "child %u ring cpu%u: status %d at %llu", child, proc.ring[r].cpu, st,
                     (unsigned long long)pos);
        cr_assert_eq(pos, shm_ring_head(&proc.ring[r]), "read up to head");
        res->dropped += shm_ring_dropped(&proc.ring[r]);
        res->head_sum += shm_ring_head(&proc.ring[r]);
    }
    cr_assert_eq(k.errors, 0, "%u errors, first: %s", k.errors, k.why);
    res->records = res->st.records;
    res->loss_events = res->st.loss_events;
    res->dead_writer_positions = res->st.lost_positions[SHM_LOSS_DEAD_WRITER];
    /* Positions are all accounted for: records + skipped (dead writer) + pads. */
    cr_assert_leq(k.slots_read + res->dead_writer_positions, res->head_sum);
    if (res->dropped == 0) {
        uint64_t expected = 0;
        for (unsigned t = 0; t < threads; t++) {
            for (int64_t seq = 0; seq <= k.max_seq[t]; seq++)
                cr_assert(k.seen[(size_t)t * seqs + (size_t)seq], "child %u thread %u: seq %lld missing below %lld",
                          child, t, (long long)seq, (long long)k.max_seq[t]);
            expected += (uint64_t)(k.max_seq[t] + 1);
        }
        cr_assert_eq(res->records, expected);
    }
    free(k.seen);
    tu_proc_close(&proc);
}

static int wait_exit(pid_t pid)
{
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return status;
}

/* ==== Tests ==== */

Test(multiproc, four_producers_at_once, .init = dir_up, .fini = dir_down, .timeout = 60)
{
    enum { CHILDREN = 4, THREADS = 2, RECORDS = 100000 };
    pid_t pids[CHILDREN];
    for (unsigned c = 0; c < CHILDREN; c++)
        pids[c] = spawn_child(c, THREADS, RECORDS, "run", NULL);
    for (unsigned c = 0; c < CHILDREN; c++) {
        int status = wait_exit(pids[c]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %u: status %#x", c, status);
    }
    cr_assert_eq(tu_count_files(dir, ".meta"), CHILDREN);
    for (unsigned c = 0; c < CHILDREN; c++) {
        struct child_result res;
        /* A process that shut down cleanly left no reservation open: reading
         * as if it were alive must find everything too. */
        read_child(c, pids[c], THREADS, RECORDS, 0, &res);
        cr_assert_eq(res.records, (uint64_t)THREADS * RECORDS, "child %u: %llu records", c,
                     (unsigned long long)res.records);
        cr_assert_eq(res.loss_events, 0);
        cr_assert_eq(res.dropped, 0);

        char path[TU_PATH_MAX], err[256];
        struct shm_seg meta;
        struct shm_proc_info info;
        snprintf(path, sizeof path, "%s/child%u-%d.meta", dir, c, (int)pids[c]);
        cr_assert_eq(shm_seg_open(&meta, path, 0, NULL, err, sizeof err), 0, "%s", err);
        cr_assert_eq(shm_meta_info(&meta, &info, err, sizeof err), 0, "%s", err);
        cr_expect(info.flags & SHMLOG_SEG_CLOSED, "child %u called shmlog_shutdown()", c);
        /* Each thread named itself (shmlog_thread_init takes its pthread name): one entry each. */
        unsigned sites = 0, threads = 0;
        for (uint32_t id = 0; id < info.site_count; id++) {
            struct shm_site site;
            uint32_t tid;
            char name[SHMLOG_THREAD_NAME_BYTES + 1];
            sites += shm_meta_site(&meta, id, &site) == 0;
            threads += shm_meta_thread(&meta, id, &tid, name) == 0;
        }
        cr_expect_eq(sites, 2, "two call sites registered once each, whatever the threads");
        cr_expect_eq(threads, THREADS, "each thread named once: %u", threads);
        shm_seg_close(&meta);
    }
}

Test(multiproc, sigkill_mid_burst, .init = dir_up, .fini = dir_down, .timeout = 90)
{
    enum { ROUNDS = 4, THREADS = 2, RECORDS = 300000 };
    int mid_burst = 0;
    for (unsigned round = 0; round < ROUNDS; round++) {
        int out;
        pid_t pid = spawn_child(round, THREADS, RECORDS, "kill", &out);
        char line[16] = "";
        ssize_t n = read(out, line, sizeof line - 1);
        close(out);
        cr_assert(n > 0 && strncmp(line, "ready", 5) == 0, "round %u: child did not get ready", round);
        struct timespec nap = {0, (long)round * 700 * 1000};
        nanosleep(&nap, NULL);
        kill(pid, SIGKILL);
        int status = wait_exit(pid);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "round %u: status %#x", round, status);

        struct child_result res;
        read_child(round, pid, THREADS, RECORDS, 1, &res);
        cr_assert_eq(res.dropped, 0, "the rings hold every record: nothing may be dropped");
        cr_assert_eq(res.st.loss_events, res.st.lost_records[SHM_LOSS_DEAD_WRITER],
                     "round %u: only dead-writer losses, one record each", round);
        cr_assert_leq(res.st.loss_events, THREADS, "round %u: at most one open reservation per thread", round);
        cr_assert_geq(res.records, (uint64_t)THREADS * (RECORDS / 100), "the records before 'ready' are there");
        if (res.records < (uint64_t)THREADS * RECORDS)
            mid_burst++;
        cr_log_info("round %u: %llu records, %llu dead-writer losses (%llu positions)", round,
                    (unsigned long long)res.records, (unsigned long long)res.st.loss_events,
                    (unsigned long long)res.dead_writer_positions);
    }
    cr_assert_geq(mid_burst, 1, "no kill landed mid-burst: the test proved nothing");
}

Test(multiproc, dead_writer_reservation_is_skipped_and_counted, .init = dir_up, .fini = dir_down, .timeout = 30)
{
    enum { RECORDS = 1000 };
    pid_t pid = spawn_child(7, 1, RECORDS, "hole", NULL);
    int status = wait_exit(pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);

    char err[512] = "";
    static struct tu_proc proc;
    cr_assert_eq(tu_proc_open(&proc, dir, "child7", (uint32_t)pid, 0, err, sizeof err), 0, "%s", err);
    cr_assert_eq(shm_proc_alive(proc.info.pid, proc.info.proc_start), 0);
    cr_assert_eq(proc.info.flags & SHMLOG_SEG_CLOSED, 0, "the child never shut down");
    const struct shm_ring_view *v = NULL;
    for (int i = 0; i < proc.nrings; i++)
        if (proc.ring[i].cpu == 0)
            v = &proc.ring[i];
    cr_assert_not_null(v);

    /* As if the writer were alive: reading stops at the open reservation. */
    uint64_t pos = 0;
    struct tu_drain_stats st = {0};
    cr_assert_eq(tu_drain(v, &pos, 0, NULL, NULL, &st), SHM_READ_PENDING);
    cr_assert_eq(st.records, RECORDS);
    uint64_t hole = pos;

    /* Dead writer: the hole is one counted loss of exactly its 3 slots, and
     * every record after it is read. */
    struct shm_copied_record rec;
    struct shm_loss loss;
    cr_assert_eq(shm_ring_next(v, &pos, &rec, 1, &loss), SHM_READ_LOSS);
    cr_assert_eq(loss.reason, SHM_LOSS_DEAD_WRITER);
    cr_assert_eq(loss.first_pos, hole);
    cr_assert_eq(loss.positions, shmlog_slots_for_payload(100));
    cr_assert_eq(loss.records, 1);
    cr_assert_eq(pos, hole + loss.positions);
    uint32_t seq = 0;
    cr_assert_eq(shm_ring_next(v, &pos, &rec, 1, &loss), SHM_READ_RECORD);
    cr_assert_eq(tu_arg_u32(&rec, 8, &seq), 0);
    cr_assert_eq(seq, RECORDS, "the record right after the hole is the next one written");
    memset(&st, 0, sizeof st);
    cr_assert_eq(tu_drain(v, &pos, 1, NULL, NULL, &st), SHM_READ_EMPTY);
    cr_assert_eq(st.records, RECORDS - 1);
    cr_assert_eq(st.loss_events, 0);

    /* From the start, in one pass: 2 * RECORDS records, one loss. */
    struct child_result res;
    tu_proc_close(&proc);
    read_child(7, pid, 1, 2 * RECORDS, 1, &res);
    cr_assert_eq(res.records, 2 * RECORDS);
    cr_assert_eq(res.loss_events, 1);
}
