/* Description: a full output disk (a 4 MiB tmpfs) loses nothing that was logged: the collector reports ENOSPC in one line, keeps running without releasing ring space (producers drop and count), resumes when space is freed, and the records in the files plus the counted drops equal the records logged; a SIGHUP sent while no file can be made is served once one can. */
#include "test_util_file.h"

#include <errno.h>
#include <sys/mount.h>

static struct tu_env env;
static int mounted;

static void setup(void)
{
    tu_env_setup(&env, "fulldisk");
    cr_assert_eq(mkdir(env.out, 0700), 0);
}

static void teardown(void)
{
    tu_kill_children();
    /* rm -rf must not run into a mounted file system */
    if (mounted && umount2(env.out, MNT_DETACH) != 0)
        fprintf(stderr, "umount %s: %s\n", env.out, strerror(errno));
    mounted = 0;
    tu_rmtree(env.root);
}

TestSuite(full_disk, .init = setup, .fini = teardown, .timeout = 180);

/* Fills the file system that will hold path up to all but `spare` bytes, with path. */
static void fill_up(const char *path, size_t spare)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    cr_assert(fd >= 0);
    static char block[64 << 10];
    memset(block, 0x5a, sizeof(block));
    off_t size = 0;
    for (;;) {
        ssize_t n = write(fd, block, sizeof(block));
        if (n <= 0)
            break;
        size += n;
    }
    cr_assert_eq(errno, ENOSPC, "filling up: %s", strerror(errno));
    cr_assert_gt(size, (off_t)spare);
    cr_assert_eq(ftruncate(fd, size - (off_t)spare), 0);
    close(fd);
}

static void mount_small_disk(void)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to mount a small tmpfs as the output directory");
    if (mount("shmlog-test", env.out, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0700") != 0)
        cr_skip_test("cannot mount a tmpfs on %s: %s", env.out, strerror(errno));
    mounted = 1;
}

Test(full_disk, enospc_is_reported_once_nothing_committed_is_lost_and_writing_resumes)
{
    mount_small_disk();
    char filler[400];
    snprintf(filler, sizeof(filler), "%s/filler", env.out);
    /* Room for a few small files, then the disk is full. */
    fill_up(filler, 48 << 10);

    enum { THREADS = 2, COUNT = 150000 };
    /* Small files: rotation, i.e. creating a file and writing its header,
     * also happens while the disk is full. */
    const char *cargs[] = {"--rotate-size", "16k", NULL};
    struct tu_child col = tu_collector(&env, cargs);
    /* 16 Ki-record rings: they fill soon once nothing is released. */
    const char *pargs[] = {"--threads", "2", "--count", "150000", "--burst", "100", "--pause-us", "2000",
                           "--ring-bytes", "1048576", "--long-every", "50", "--hold", NULL};
    struct tu_child p = tu_producer(pargs);
    tu_wait_line(&p, "ready");
    cr_assert(tu_wait_log(&env, "No space left on device", 60000), "the collector never reported ENOSPC");
    unsigned long long dropped = tu_wait_line(&p, "done ");
    cr_assert_gt(dropped, 0, "the rings never filled although the disk was full");

    /* It keeps running, retrying once a second, and says so once. */
    tu_sleep_ms(2500);
    cr_assert_eq(waitpid(col.pid, NULL, WNOHANG), 0, "the collector exited on a full disk");
    cr_assert_eq(tu_log_lines(&env, "No space left on device"), 1, "ENOSPC reported more than once (a flood)");

    cr_assert_eq(unlink(filler), 0);
    cr_assert(tu_wait_log(&env, "output works again", 30000), "no line saying that writing resumed");
    tu_close_stdin(&p); /* the producer exits; the collector drains it, writes its EXIT, removes it */
    cr_assert_eq(tu_wait_exit(&p), 0);
    cr_assert(tu_wait_segments_gone(env.seg, 30000), "the producer's segments were not removed after space came back");
    tu_stop_collector(&env, &col);
    cr_assert_eq(tu_log_lines(&env, "No space left on device"), 1);

    cr_assert_eq(tu_count_files(env.out, ".part"), 0);
    struct tu_read got = {0};
    size_t files = tu_read_all(env.out, &got);
    cr_assert_eq(got.errors, 0, "%s", got.first_error);
    size_t n = tu_check_producer(&got, (uint32_t)p.pid, THREADS, COUNT);
    cr_assert_eq(n, got.n);
    cr_assert_eq(got.lost[SHM_LOSS_DROPPED], dropped, "drops in the files %lu, the producer counted %llu",
                 got.lost[SHM_LOSS_DROPPED], dropped);
    cr_assert_eq(n + dropped, (size_t)THREADS * COUNT, "records %zu + dropped %llu", n, dropped);
    cr_assert_eq(got.exits, 1);
    fprintf(stderr, "full_disk: %zu files; %zu records written, %llu dropped while the disk was full, of %d logged\n",
            files, n, dropped, THREADS * COUNT);
    tu_read_free(&got);
}

Test(full_disk, sigterm_on_a_full_disk_exits_1_and_the_next_run_loses_nothing)
{
    mount_small_disk();
    char filler[400];
    snprintf(filler, sizeof(filler), "%s/filler", env.out);
    fill_up(filler, 16 << 10);
    /* Enough records to outgrow the 16 KiB left however well they compress
     * (sequential values take well under a byte each in the file). */
    enum { COUNT = 600000 };
    struct tu_child col = tu_collector(&env, NULL);
    const char *pargs[] = {"--threads", "1", "--count", "600000", "--burst", "100", "--pause-us", "1000",
                           "--ring-bytes", "1048576", "--hold", NULL};
    struct tu_child p = tu_producer(pargs);
    cr_assert(tu_wait_log(&env, "No space left on device", 60000), "the collector never reported ENOSPC");
    /* It cannot write what it holds: it says so and exits 1 in bounded
     * time, releasing nothing it did not write. */
    cr_assert_eq(kill(col.pid, SIGTERM), 0);
    int st = tu_wait_exit(&col);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "collector status %#x", st);
    cr_assert_eq(tu_log_lines(&env, "exiting on SIGTERM while the output fails"), 1);

    unsigned long long dropped = tu_wait_line(&p, "done ");
    cr_assert_eq(unlink(filler), 0);
    col = tu_collector(&env, NULL);
    tu_close_stdin(&p);
    cr_assert_eq(tu_wait_exit(&p), 0);
    cr_assert(tu_wait_segments_gone(env.seg, 30000));
    tu_stop_collector(&env, &col);

    struct tu_read got = {0};
    tu_read_all(env.out, &got);
    /* The first run's file may end in a frame it could not finish. */
    cr_assert_leq(got.errors, 1, "%s", got.first_error);
    cr_assert_eq(got.errors, got.torn);
    size_t n = tu_check_producer(&got, (uint32_t)p.pid, 1, COUNT);
    cr_assert_eq(got.lost[SHM_LOSS_DROPPED], dropped);
    cr_assert_eq(n + dropped, (size_t)COUNT, "records %zu + dropped %llu", n, dropped);
    fprintf(stderr, "full_disk sigterm: %zu records written, %llu dropped, of %d logged\n", n, dropped, COUNT);
    tu_read_free(&got);
}

/* Issue 47: a SIGHUP that comes while no file can be made is kept, and
 * served once the output works: the records waiting then are in a closed
 * file while the collector runs on. */
Test(full_disk, a_sighup_while_no_file_can_be_made_is_served_once_one_can)
{
    mount_small_disk();
    char filler[400];
    snprintf(filler, sizeof(filler), "%s/filler", env.out);
    fill_up(filler, 0); /* not even a file's header fits */
    struct tu_child col = tu_collector_ready(&env, NULL);
    const char *pargs[] = {"--threads", "1", "--count", "1000", "--hold", NULL};
    struct tu_child p = tu_producer(pargs);
    unsigned long long dropped = tu_wait_line(&p, "done ");
    cr_assert(tu_wait_log(&env, "No space left on device", 60000), "the collector never reported ENOSPC");
    cr_assert_eq(kill(col.pid, SIGHUP), 0);
    /* Many passes of its loop: each one looks at the SIGHUP. */
    tu_sleep_ms(500);
    cr_assert_eq(unlink(filler), 0);
    cr_assert(tu_wait_log(&env, "output works again", 30000), "no line saying that writing resumed");
    size_t closed = 0;
    for (int waited_ms = 0; waited_ms < 10000 && !closed; waited_ms += 20) {
        closed = tu_count_files(env.out, ".shlog");
        tu_sleep_ms(20);
    }
    cr_assert_eq(closed, 1, "the SIGHUP sent while the output failed was not served: no file closed");
    struct tu_read got = {0};
    tu_read_all(env.out, &got);
    cr_expect_eq(got.errors, 0, "%s", got.first_error);
    cr_expect_eq(tu_check_producer(&got, (uint32_t)p.pid, 1, 1000) + dropped, 1000,
                 "the records waiting at the SIGHUP are in the closed file");
    tu_read_free(&got);
    tu_close_stdin(&p);
    cr_assert_eq(tu_wait_exit(&p), 0);
    tu_stop_collector(&env, &col);
}
