/* Description: what another local uid can do to the collector, with real second uids: a process that takes a crashed collector's pid and name never passes for it (its rings and its .part file are taken over); a meta of one accepted uid that claims another's process never hides that process; a flood of segment-named files from a uid that is not accepted costs the drain nothing and the collector bounded memory; an output directory another user could write is refused. */
#include "test_users.h"

#include <linux/sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

static struct tu_env env;

static void setup(void)
{
    tu_env_setup(&env, "hostile-uids");
    /* the test users' producers reach the segment directory and write in it */
    cr_assert_eq(chmod(env.root, 0711), 0);
    cr_assert_eq(chmod(env.seg, 01777), 0);
}

static void teardown(void)
{
    tu_kill_children();
    tu_rmtree(env.root);
}

TestSuite(hostile_uids, .init = setup, .fini = teardown, .timeout = 120);

/* Criterion does not run .fini after cr_skip_test: clean up first. */
#define SKIP(...)                  \
    do {                           \
        teardown();                \
        cr_skip_test(__VA_ARGS__); \
    } while (0)

/* "--allow-uid <u's uid>" as collector arguments. */
static const char *const *allow(const struct tu_user *u)
{
    static char uid[32];
    static const char *args[3];
    snprintf(uid, sizeof(uid), "%u", (unsigned)u->uid);
    args[0] = "--allow-uid";
    args[1] = uid;
    args[2] = NULL;
    return args;
}

/* The accepted attacker writes at forged a copy of the meta at path, its
 * own by uid and by instance (its own process, as far as it can tell). */
static void forge_meta(const char *path, const char *forged)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert(fd >= 0, "%s", path);
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    uint8_t *buf = malloc((size_t)st.st_size);
    cr_assert(buf);
    cr_assert_eq(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
    close(fd);
    struct shmlog_seg_header *h = (struct shmlog_seg_header *)buf;
    h->uid = tu_atk.uid;
    h->instance[0] ^= 0xff;
    tu_write_as(forged, buf, (size_t)st.st_size, &tu_atk);
    free(buf);
}

/* A collector that accepts the victim's uid (tu_grp) and the attacker's (tu_atk). */
static struct tu_child collector_accepting_both(void)
{
    char grp_uid[32], atk_uid[32];
    snprintf(grp_uid, sizeof(grp_uid), "%u", (unsigned)tu_grp.uid);
    snprintf(atk_uid, sizeof(atk_uid), "%u", (unsigned)tu_atk.uid);
    const char *cargs[] = {"--allow-uid", grp_uid, "--allow-uid", atk_uid, NULL};
    return tu_collector(&env, cargs);
}

/* Waits up to 10 s for the collector to drain and remove the victim's meta,
 * stops it, and fails unless the meta went. */
static void stop_once_victim_drained(struct tu_child *col, const char *meta)
{
    uint64_t until = tu_now_ms() + 10000;
    while (tu_exists_owned(meta, tu_grp.uid) && tu_now_ms() < until)
        tu_sleep_ms(20);
    tu_stop_collector(&env, col);
    cr_assert(!tu_exists_owned(meta, tu_grp.uid), "the victim's meta was not drained and removed");
}

/* A process with exactly pid `want` (clone3's set_tid: what an attacker gets
 * by forking until the pid comes round), running as u under the name comm,
 * asleep until killed. */
static pid_t start_with_pid(pid_t want, const struct tu_user *u, const char *comm)
{
    pid_t tid[1] = {want};
    struct clone_args ca;
    memset(&ca, 0, sizeof(ca));
    ca.exit_signal = SIGCHLD;
    ca.set_tid = (uint64_t)(uintptr_t)tid;
    ca.set_tid_size = 1;
    fflush(NULL);
    long pid = syscall(SYS_clone3, &ca, sizeof(ca));
    cr_assert(pid >= 0, "clone3 with pid %d: %s", (int)want, strerror(errno));
    if (pid == 0) {
        /* no exec: the test's pipes (a producer's stdin) must not stay open in it */
        syscall(SYS_close_range, 3u, ~0u, 0u);
        if (setresgid(u->gid, u->gid, u->gid) != 0 || setresuid(u->uid, u->uid, u->uid) != 0)
            _exit(1);
        prctl(PR_SET_NAME, comm);
        for (;;)
            pause();
    }
    if (tu_nchildren < sizeof(tu_children) / sizeof(tu_children[0]))
        tu_children[tu_nchildren++] = (pid_t)pid;
    return (pid_t)pid;
}

/* Bytes of the collector's open file, 0 if none. */
static off_t part_bytes(void)
{
    DIR *d = opendir(env.out);
    if (!d)
        return 0;
    off_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        struct stat st;
        size_t l = strlen(de->d_name);
        if (l > 5 && strcmp(de->d_name + l - 5, ".part") == 0 && fstatat(dirfd(d), de->d_name, &st, 0) == 0)
            n = st.st_size;
    }
    closedir(d);
    return n;
}

/* ==== A crashed collector's pid ==== */

Test(hostile_uids, a_crashed_collectors_pid_and_name_taken_by_another_uid_do_not_stop_its_successor)
{
    NEED_USERS();
    const unsigned count = 20000;
    struct tu_child c1 = tu_collector(&env, allow(&tu_grp));
    /* The victim logs its first records, which the first collector drains
     * into its open file, and waits. */
    const char *vargs[] = {"--threads", "1", "--count", "20000", "--gate-at", "5000", NULL};
    struct tu_child victim = tu_producer_as(&tu_grp, 0, vargs, NULL, NULL);
    tu_wait_line(&victim, "ready");
    uint64_t until = tu_now_ms() + 10000;
    while (part_bytes() < SHLOG_FILE_HEADER_BYTES + 100 && tu_now_ms() < until)
        tu_sleep_ms(20);
    cr_assert_geq(part_bytes(), SHLOG_FILE_HEADER_BYTES + 100, "the first collector wrote no frame");
    tu_sleep_ms(200); /* the rest of the first records, released */
    cr_assert_eq(kill(c1.pid, SIGKILL), 0);
    pid_t crashed = c1.pid;
    tu_wait_exit(&c1);

    /* Another uid's process with the crashed collector's pid and name. */
    start_with_pid(crashed, &tu_atk, "shmlog-collector");
    char comm[64];
    snprintf(comm, sizeof(comm), "/proc/%d/comm", (int)crashed);
    char name[64] = "";
    until = tu_now_ms() + 5000;
    while (strcmp(name, "shmlog-collecto\n") != 0 && tu_now_ms() < until) {
        tu_sleep_ms(5);
        cr_assert_gt(tu_read_file(comm, name, sizeof(name)), 0);
    }
    cr_assert_str_eq(name, "shmlog-collecto\n");

    /* The victim logs the rest while no collector runs, and ends. */
    tu_close_stdin(&victim);
    cr_assert_eq(tu_wait_exit_within(&victim, 20000, "the victim"), 0);
    struct tu_child c2 = tu_collector(&env, allow(&tu_grp));
    tu_assert_segments_gone(&env, 10000);
    tu_stop_collector(&env, &c2);

    cr_assert_eq(tu_count_files(env.out, ".part"), 0, "the crashed collector's .part file was not recovered");
    struct tu_read got = {0};
    tu_read_all(env.out, &got);
    cr_assert_eq(tu_check_producer(&got, (uint32_t)victim.pid, 1, count), count, "every record of the victim");
    for (unsigned r = 0; r <= SHM_LOSS_REASON_MAX; r++)
        cr_assert_eq(got.lost[r], 0, "%lu records lost (reason %u)", (unsigned long)got.lost[r], r);
    cr_assert_eq(got.exits, 1);
    cr_assert_eq(tu_log_lines(&env, "another collector"), 0);
    tu_read_free(&got);
}

/* ==== A meta that claims another uid's process ==== */

Test(hostile_uids, a_meta_of_one_accepted_uid_never_hides_the_process_of_another)
{
    NEED_USERS();
    const unsigned count = 5000;
    /* The victim logs and ends while no collector runs: its segments wait. */
    const char *vargs[] = {"--threads", "1", "--count", "5000", "--die", NULL};
    struct tu_child victim = tu_producer_as(&tu_grp, 0, vargs, NULL, NULL);
    cr_assert_eq(tu_wait_exit_within(&victim, 20000, "the victim"), 0);
    /* The attacker, accepted too, makes a meta of its own that claims the
     * victim's pid and start time, under a name of the victim's pid: newer,
     * so a directory listing returns it first. */
    char meta[600], forged[600];
    snprintf(meta, sizeof(meta), "%s/tprod-%d.meta", env.seg, (int)victim.pid);
    snprintf(forged, sizeof(forged), "%s/tprod-%d.0123456789abcdef.meta", env.seg, (int)victim.pid);
    forge_meta(meta, forged);

    struct tu_child col = collector_accepting_both();
    stop_once_victim_drained(&col, meta);

    struct tu_read got = {0};
    tu_read_all(env.out, &got);
    cr_assert_eq(tu_check_producer(&got, (uint32_t)victim.pid, 1, count), count, "every record of the victim");
    cr_assert_eq(got.errors, 0, "%s", got.first_error);
    tu_read_free(&got);
    cr_assert_eq(tu_log_lines(&env, "already known"), 0);
}

/* ==== A flood of files from a uid that is not accepted ==== */

/* As user u, in a process of its own: n empty files named like metas in dir
 * (x-100000001.meta ...: pids no process has), then the first one touched
 * `touches` times. */
static void flood_as(const struct tu_user *u, const char *dir, unsigned n, unsigned touches)
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        if (setresgid(u->gid, u->gid, u->gid) != 0 || setresuid(u->uid, u->uid, u->uid) != 0)
            _exit(1);
        char path[600];
        for (unsigned i = 1; i <= n; i++) {
            snprintf(path, sizeof(path), "%s/x-%u.meta", dir, 100000000u + i);
            int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd < 0)
                _exit(2);
            close(fd);
        }
        snprintf(path, sizeof(path), "%s/x-100000001.meta", dir);
        for (unsigned k = 0; k < touches; k++)
            if (utimensat(AT_FDCWD, path, NULL, 0) != 0)
                _exit(3);
        _exit(0);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the flood as %s: status %#x", u->name, st);
}

Test(hostile_uids, a_flood_of_files_from_a_uid_not_accepted_costs_the_drain_nothing)
{
    NEED_USERS();
    const unsigned files = 50000;
    struct tu_child col = tu_collector(&env, NULL);
    tu_sleep_ms(200);
    long rss_before = tu_status_kb(col.pid, "VmRSS:");
    flood_as(&tu_atk, env.seg, files, 20000);
    /* The victim, accepted (the collector's own uid), at 100 k records a
     * second into a ring of 16384: any pass the flood costs the drain
     * shows as drops. */
    const char *vargs[] = {"--threads", "1", "--count", "300000", "--burst", "100", "--pause-us", "1000",
                           "--ring-bytes", "1048576", NULL};
    struct tu_child victim = tu_producer(vargs);
    unsigned long long dropped = tu_wait_line(&victim, "done ");
    cr_assert_eq(tu_wait_exit_within(&victim, 30000, "the victim"), 0);
    tu_wait_pid_files(&env, env.seg, victim.pid, 0, 10000);
    long hwm = tu_status_kb(col.pid, "VmHWM:"), rss = tu_status_kb(col.pid, "VmRSS:");
    tu_stop_collector(&env, &col);

    cr_assert_eq(dropped, 0, "the victim dropped %llu of 300000 records", dropped);
    struct tu_read got = {0};
    tu_read_all(env.out, &got);
    cr_assert_eq(tu_check_producer(&got, (uint32_t)victim.pid, 1, 300000), 300000);
    tu_read_free(&got);
    /* One line for the uid, none per file. */
    cr_assert_eq(tu_log_lines(&env, "ignoring"), 1, "%d lines about ignored segments", tu_log_lines(&env, "ignoring"));
    /* 24 bytes a refused file (the man page's figure), 50000 files: 1.2 MB
     * of table, which may double as it grows; the bound leaves room for the
     * victim's frames. */
    long bound_kb = 16 * 1024;
#if defined(__SANITIZE_ADDRESS__)
    bound_kb += 256 * 1024; /* AddressSanitizer's quarantine of freed memory */
#endif
    cr_assert_lt(rss - rss_before, bound_kb, "the collector grew from %ld to %ld kB (peak %ld kB)", rss_before, rss,
                 hwm);
}

/* ==== An output directory others could write ==== */

Test(hostile_uids, an_output_directory_another_user_could_write_is_refused)
{
    NEED_USERS();
    /* Made by the attacker before the collector's first start. */
    cr_assert_eq(mkdir(env.out, 0700), 0);
    cr_assert_eq(chown(env.out, tu_atk.uid, tu_atk.gid), 0);
    struct tu_child c = tu_collector(&env, NULL);
    int st = tu_wait_exit_within(&c, 10000, "a collector with another user's --out");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %#x", st);
    cr_assert_eq(tu_log_lines(&env, "not by this collector's uid"), 1);
    cr_assert_eq(tu_count_files(env.out, ""), 0, "it wrote into it");
    /* Ours, but writable by everyone: refused too, with what fixes it. */
    cr_assert_eq(chown(env.out, geteuid(), getegid()), 0);
    cr_assert_eq(chmod(env.out, 0777), 0);
    c = tu_collector(&env, NULL);
    st = tu_wait_exit_within(&c, 10000, "a collector with a --out writable by all");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %#x", st);
    cr_assert_eq(tu_log_lines(&env, "chmod go-w"), 1);
    /* Ours alone: it runs. */
    cr_assert_eq(chmod(env.out, 0700), 0);
    c = tu_collector(&env, NULL);
    tu_stop_collector(&env, &c);
}

Test(hostile_uids, a_meta_claiming_a_running_containers_pid_never_hides_it)
{
    NEED_USERS();
    if (access("/usr/bin/unshare", X_OK) != 0)
        SKIP("needs unshare (util-linux)");
    /* The victim runs as pid 1 of its own pid namespace; the attacker,
     * accepted too, reads its start time and makes a meta that claims pid 1
     * and that time, before the collector starts. */
    char ruid[32], rgid[32];
    snprintf(ruid, sizeof(ruid), "--reuid=%u", (unsigned)tu_grp.uid);
    snprintf(rgid, sizeof(rgid), "--regid=%u", (unsigned)tu_grp.gid);
    char *argv[] = {"/usr/bin/unshare", "--pid", "--fork", "--mount-proc", "/usr/bin/setpriv", ruid, rgid,
                    "--clear-groups", (char *)tu_exe("TEST_PRODUCER"), "--threads", "1", "--count", "5000", "--hold",
                    NULL};
    struct tu_child victim = tu_spawn(argv, NULL);
    tu_wait_line(&victim, "done ");
    char meta[600], forged[600];
    snprintf(meta, sizeof(meta), "%s/tprod-1.meta", env.seg);
    snprintf(forged, sizeof(forged), "%s/tprod-1.0123456789abcdef.meta", env.seg);
    forge_meta(meta, forged);

    struct tu_child col = collector_accepting_both();
    tu_sleep_ms(1500); /* drained while it runs */
    tu_close_stdin(&victim);
    cr_assert_eq(tu_wait_exit_within(&victim, 10000, "the victim"), 0);
    stop_once_victim_drained(&col, meta);
    struct tu_read got = {0};
    tu_read_all(env.out, &got);
    cr_assert_eq(tu_check_producer(&got, 1, 1, 5000), 5000, "every record of the victim (pid 1 of its namespace)");
    tu_read_free(&got);
}
