/* Description: invariant 1 and the hot-path promise of DESIGN.md section 7, proved rather than
 * timed: after init, a producer logs 600,000 records under a seccomp filter that kills it at
 * any system call but read/write/exit, and the kernel counts no page fault meanwhile. With the
 * spin policy and the test process draining like the collector, it laps a small ring hundreds of
 * times (pads at the ring end, continuation slots, waits for space); with the drop policy and no
 * reader, it fills the ring and then drops and counts. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmlog.h"
#include "test_util.h"

/* 1024 slots, lapped over 500 times: every lap passes the ring end and waits for space again, so
 * more laps prove nothing more and cost seconds of the quick tier. */
#define RING_BYTES (64u << 10)
#define RECORDS 600000ul
#define LONG_EVERY 7 /* every 7th record takes 3 slots, so records straddle the ring end */

struct child_report {
    uint64_t calls;
    uint64_t dropped;
};

static const char long_text[] = "a string that takes continuation slots: 0123456789abcdefghijklmnopqrstuvwxyz";
static const char *volatile long_arg = long_text;

static void log_one(uint64_t i)
{
    if (i % LONG_EVERY == 0)
        SHMLOG_WARN("long i=%lu s=%s", (unsigned long)i, long_arg);
    else
        SHMLOG_INFO("order id=%lu px=%f qty=%d", (unsigned long)i, (double)i * 0.25, (int)(i & 1023));
}

/* Kills the process at any system call but read, write, exit and exit_group.
 * A filter rather than SECCOMP_MODE_STRICT: since Linux 6.x strict mode also
 * disables rdtsc for the task, and the hot path reads the TSC. */
static int forbid_syscalls(void)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_read, 4, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_write, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof filter / sizeof filter[0]), filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* The producer: init and one call per site (the cold paths), then strict
 * seccomp and the hot path only. Never returns. */
static void producer_main(const char *dir, int policy, int to_parent, int from_parent)
{
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.dir = dir;
    cfg.app = "hotpath";
    cfg.ring_bytes = RING_BYTES;
    cfg.quiet = 1;
    cfg.policy = policy;
    if (tu_pin_self(0) != 0 || shmlog_init(&cfg) != 0 || shmlog_thread_init() != 0)
        _exit(3);
    log_one(0);
    log_one(1);
    /* Read once before the window too: the report is not the hot path, and its
     * first read of a counter page would be counted as the hot path's fault. */
    (void)shmlog_dropped();
    char c = 'r';
    if (write(to_parent, &c, 1) != 1 || read(from_parent, &c, 1) != 1)
        _exit(4);
    if (forbid_syscalls() != 0)
        _exit(5);
    /* From here on any system call but read, write and exit is SIGKILL. */
    for (uint64_t i = 2; i < RECORDS; i++)
        log_one(i);
    struct child_report rep = {RECORDS, shmlog_dropped()};
    if (write(to_parent, &rep, sizeof rep) != (ssize_t)sizeof rep || read(from_parent, &c, 1) != 1)
        syscall(SYS_exit, 6);
    syscall(SYS_exit, 0);
    for (;;)
        ;
}

/* Minor and major page faults of pid so far, from /proc/<pid>/stat. */
static void page_faults(pid_t pid, uint64_t *minor, uint64_t *major)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    ssize_t n = tu_read_file(path, buf, sizeof buf);
    cr_assert_gt(n, 0, "cannot read %s", path);
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    cr_assert_not_null(p);
    unsigned long long minflt, majflt;
    /* after ')': state ppid pgrp session tty tpgid flags minflt cminflt majflt */
    cr_assert_eq(sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %llu %*u %llu", &minflt, &majflt), 2);
    *minor = minflt;
    *major = majflt;
}

struct drained {
    uint64_t records;
    uint64_t long_records;
};

static int count_record(const struct shm_copied_record *rec, const struct shm_ring_view *v, void *ctx)
{
    (void)v;
    struct drained *d = ctx;
    d->records++;
    d->long_records += rec->nslots > 1;
    return 0;
}

/* Runs the producer with policy; drain: the test reads and releases the ring
 * while it runs. Checks no system call, no page fault, every call accounted
 * for; returns how many times the ring was lapped and what was dropped. */
static void run_hot_path(int policy, int drain, uint64_t *laps_out, uint64_t *dropped_out)
{
    char dir[256];
    cr_assert_eq(tu_mkdtemp(dir, sizeof dir, "hotpath"), 0);
    int up[2], down[2];
    cr_assert_eq(pipe(up), 0);
    cr_assert_eq(pipe(down), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(up[0]);
        close(down[1]);
        producer_main(dir, policy, up[1], down[0]);
    }
    close(up[1]);
    close(down[0]);
    /* The producer spins on cpu 0 waiting for space: a reader on that cpu too drains once a time
     * slice of the spinning, seconds of laps when other work keeps the second cpu busy. */
    cr_assert_eq(tu_pin_self(tu_allowed_cpus() > 1 ? 1 : 0), 0);
    char c;
    cr_assert_eq(read(up[0], &c, 1), 1, "the producer failed to start");

    struct tu_proc proc;
    char err[256];
    cr_assert_eq(tu_proc_open(&proc, dir, "hotpath", (uint32_t)pid, 1, err, sizeof err), 0, "%s", err);
    cr_assert_eq(proc.nrings, 1, "a producer pinned to one cpu has one ring");
    const struct shm_ring_view *v = &proc.ring[0];

    uint64_t minor0, major0, minor1, major1;
    page_faults(pid, &minor0, &major0);
    int flags = fcntl(up[0], F_GETFL);
    cr_assert_eq(fcntl(up[0], F_SETFL, flags | O_NONBLOCK), 0);
    cr_assert_eq(write(down[1], "g", 1), 1);

    /* Drain like the collector until the producer reports, so it laps the ring. */
    struct drained d = {0, 0};
    struct tu_drain_stats stats;
    memset(&stats, 0, sizeof stats);
    uint64_t pos = shm_ring_tail(v);
    struct child_report rep;
    for (;;) {
        if (drain) {
            tu_drain(v, &pos, 0, count_record, &d, &stats);
            shm_ring_release(v, pos);
        }
        ssize_t n = read(up[0], &rep, sizeof rep);
        if (n == (ssize_t)sizeof rep)
            break;
        cr_assert(n < 0 && errno == EAGAIN, "the producer died under seccomp (a system call?)");
    }
    page_faults(pid, &minor1, &major1);
    tu_drain(v, &pos, 0, count_record, &d, &stats);
    cr_assert_eq(write(down[1], "x", 1), 1);

    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the producer was %s %d: it made a system call on the hot path",
              WIFSIGNALED(status) ? "killed by signal" : "exited with", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    cr_expect_eq(minor1 - minor0, 0, "%llu minor page faults on the hot path", (unsigned long long)(minor1 - minor0));
    cr_expect_eq(major1 - major0, 0, "%llu major page faults on the hot path", (unsigned long long)(major1 - major0));

    /* Every call is accounted for: drained or counted as dropped. */
    cr_expect_eq(d.records + rep.dropped, rep.calls, "drained %llu + dropped %llu != %llu calls",
                 (unsigned long long)d.records, (unsigned long long)rep.dropped, (unsigned long long)rep.calls);
    cr_expect_gt(d.long_records, 0);
    *laps_out = pos / v->cap;
    *dropped_out = rep.dropped;
    /* The reader saw whole, valid records only: nothing skipped as torn or corrupt. */
    cr_expect_eq(stats.lost_records[SHM_LOSS_DEAD_WRITER] + stats.lost_records[SHM_LOSS_CORRUPT] +
                     stats.lost_records[SHM_LOSS_OVERWRITTEN], 0);
    tu_proc_close(&proc);
    tu_rmtree(dir);
}

Test(hot_path, spin_policy_laps_the_ring_without_syscall_or_fault, .timeout = 120)
{
    uint64_t laps, dropped;
    run_hot_path(SHMLOG_SPIN, 1, &laps, &dropped);
    cr_expect_eq(dropped, 0, "the spin policy never drops");
    cr_expect_gt(laps, 500, "the ring was lapped only %llu times", (unsigned long long)laps);
}

Test(hot_path, drop_policy_drops_without_syscall_or_fault, .timeout = 120)
{
    uint64_t laps, dropped;
    run_hot_path(SHMLOG_DROP, 0, &laps, &dropped);
    /* Nobody read: the ring took one lap of records and the rest were refused. */
    cr_expect_gt(dropped, RECORDS - RING_BYTES / 64, "%llu dropped", (unsigned long long)dropped);
    cr_expect_eq(laps, 1);
}
