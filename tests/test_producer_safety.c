/* Description: a producer never dies or hangs of its own logging: a segment it cannot make is an error from shmlog_init (-ENOSPC on a full tmpfs, -EFBIG under RLIMIT_FSIZE) or, for a ring made later, records counted as no_ring losses, never SIGBUS or SIGXFSZ; a log call from a signal handler that interrupts its thread inside shmlog (shmlog_set_level, shmlog_category, the first call of a site) never waits for a lock that thread holds. */
#include "test_util_file.h"

#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/statvfs.h>

static struct tu_env env;
static char mnt[400]; /* a small tmpfs, when a test mounts one */

static void setup(void) { tu_env_setup(&env, "producer-safety"); }
static void teardown(void)
{
    tu_kill_children();
    if (mnt[0]) {
        umount2(mnt, MNT_DETACH);
        mnt[0] = '\0';
    }
    tu_rmtree(env.root);
}

TestSuite(producer_safety, .init = setup, .fini = teardown, .timeout = 120);
TestSuite(producer_host, .init = setup, .fini = teardown, .timeout = 120);

/* Runs the test producer with args under RLIMIT_FSIZE fsize (0: none) in dir,
 * to its end; its stdout in out (cap bytes); the wait status. */
static int run_producer(const char *dir, rlim_t fsize, const char *const args[], char *out, size_t cap)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/producer.out", env.root);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0)
            _exit(126);
        setenv("SHMLOG_DIR", dir, 1);
        if (fsize) {
            struct rlimit rl = {fsize, fsize};
            if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
                _exit(126);
        }
        char *argv[16] = {(char *)tu_exe("TEST_PRODUCER")};
        for (int i = 0; args[i] && i < 14; i++)
            argv[i + 1] = (char *)args[i];
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    out[0] = '\0';
    tu_read_file(path, out, cap);
    return st;
}

/* The producer logs `count` records on a cpu whose ring cannot be made, and
 * ends: none is written, all are counted lost (shmlog_dropped: no_ring). */
static void expect_counted(int st, const char *out, unsigned count, const char *why)
{
    cr_assert(!WIFSIGNALED(st), "%s: the producer died of signal %d", why, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: exit status %#x", why, st);
    const char *done = strstr(out, "done ");
    cr_assert(done, "%s: no 'done' in %s", why, out);
    cr_assert_eq(strtoul(done + 5, NULL, 10), count, "%s: %s", why, done);
}

/* ==== RLIMIT_FSIZE ==== */

Test(producer_safety, rlimit_fsize_below_a_segment_is_an_error_or_a_counted_loss_not_sigxfsz)
{
    char out[4096];
    const char *args[] = {"--threads", "1", "--count", "1000", NULL};
    /* 4 MiB: the meta (2 MiB) fits, a ring (8 MiB and its header) does not. */
    int st = run_producer(env.seg, 4u << 20, args, out, sizeof(out));
    expect_counted(st, out, 1000, "RLIMIT_FSIZE 4 MiB");
    /* 1 MiB: not the meta either: shmlog_init says so. */
    st = run_producer(env.seg, 1u << 20, args, out, sizeof(out));
    cr_assert(!WIFSIGNALED(st), "the producer died of signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit status %#x", st);
    cr_assert_eq(tu_count_files(env.seg, ".ring"), 0, "a ring was left");
}

/* ==== A full tmpfs ==== */

Test(producer_host, a_full_tmpfs_is_an_error_or_a_counted_loss_not_sigbus)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to mount a tmpfs");
    snprintf(mnt, sizeof(mnt), "%s/tmpfs", env.root);
    cr_assert_eq(mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=4m,mode=0700") != 0) {
        int e = errno;
        mnt[0] = '\0';
        cr_skip_test("cannot mount a tmpfs: %s", strerror(e));
    }
    char out[4096];
    const char *args[] = {"--threads", "1", "--count", "1000", NULL};
    /* 4 MiB: the meta fits, the ring of its first record does not. */
    int st = run_producer(mnt, 0, args, out, sizeof(out));
    expect_counted(st, out, 1000, "a 4 MiB tmpfs");
    /* Filled but 1 MiB: not the meta either. */
    struct statvfs vfs;
    cr_assert_eq(statvfs(mnt, &vfs), 0);
    uint64_t free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    cr_assert_gt(free_bytes, 1u << 20);
    char fill[500];
    snprintf(fill, sizeof(fill), "%s/fill", mnt);
    int fd = open(fill, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    cr_assert(fd >= 0);
    cr_assert_eq(posix_fallocate(fd, 0, (off_t)(free_bytes - (1u << 20))), 0);
    close(fd);
    st = run_producer(mnt, 0, args, out, sizeof(out));
    cr_assert(!WIFSIGNALED(st), "the producer died of signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit status %#x", st);
}

/* ==== Signal handlers ==== */

Test(producer_safety, a_log_call_in_a_signal_handler_never_waits_for_its_own_thread)
{
    for (int run = 0; run < 3; run++) {
        char *argv[] = {(char *)tu_exe("SIGNAL_PRODUCER"), "2", NULL};
        struct tu_child c = tu_spawn(argv, NULL);
        tu_close_stdin(&c);
        int st = tu_wait_exit_within(&c, 20000, "a producer whose signal handler logs");
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "run %d: status %#x", run, st);
    }
}
