/* Description: invariant 5: output files are created 0600 in a 0700 directory whatever the umask, a symlink planted under the name of the next output file (or left as a .part file) is neither followed nor renamed, and segments of a uid not given with --allow-uid are ignored with one report, then drained once that uid is allowed. */
#include "test_util_file.h"

#include <grp.h>

static struct tu_env env;

static void setup(void) { tu_env_setup(&env, "security"); }
static void teardown(void)
{
    tu_kill_children();
    tu_rmtree(env.root);
}

TestSuite(security, .init = setup, .fini = teardown, .timeout = 120);

static void assert_mode(const char *path, mode_t want)
{
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0, "%s", path);
    cr_assert_eq(st.st_mode & 07777, want, "%s: mode %o, expected %o", path, st.st_mode & 07777, want);
    cr_assert_eq(st.st_uid, geteuid(), "%s: owner %u", path, st.st_uid);
}

/* The name the collector gives file seq at UTC time t: <host>-<date>-<seq>.shlog */
static void output_name(char *out, size_t cap, time_t t, unsigned seq)
{
    char host[256] = "";
    cr_assert_eq(gethostname(host, sizeof(host) - 1), 0);
    for (char *c = host; *c; c++)
        if (*c == '/' || *c == ' ' || *c == '\t')
            *c = '_';
    struct tm tm;
    gmtime_r(&t, &tm);
    char date[32];
    strftime(date, sizeof(date), "%Y%m%d-%H%M%S", &tm);
    snprintf(out, cap, "%s/%s-%s-%06u%s", env.out, host, date, seq, SHLOG_FILE_SUFFIX);
}

static void write_victim(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, "precious\n", 9), 9);
    close(fd);
}

static void assert_victim_untouched(const char *path)
{
    char buf[64] = "";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert(fd >= 0);
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    cr_assert_eq(n, 9, "%s was written to (%zd bytes)", path, n);
    cr_assert_str_eq(buf, "precious\n");
}

Test(security, output_files_are_0600_in_a_0700_directory_whatever_the_umask)
{
    mode_t old = umask(0);
    /* The records compress to about 4 KB in all: a file per frame or two. */
    struct tu_child col = tu_collector(&env, (const char *const[]){"--rotate-size", "512", NULL});
    umask(old);
    const char *pargs[] = {"--threads", "1", "--count", "20000", "--burst", "200", "--pause-us", "2000", NULL};
    struct tu_child p = tu_producer(pargs);
    unsigned long long dropped = tu_wait_line(&p, "done ");
    cr_assert_eq(tu_wait_exit(&p), 0);
    cr_assert(tu_wait_segments_gone(env.seg, 10000));
    tu_stop_collector(&env, &col);
    assert_mode(env.out, 0700);
    DIR *d = opendir(env.out);
    cr_assert(d);
    struct dirent *de;
    size_t files = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[600];
        snprintf(path, sizeof(path), "%s/%s", env.out, de->d_name);
        assert_mode(path, 0600);
        files++;
    }
    closedir(d);
    cr_assert_geq(files, 2, "expected several rotated files");
    struct tu_read got = {0};
    tu_read_all(env.out, &got);
    cr_assert_eq(tu_check_producer(&got, (uint32_t)p.pid, 1, 20000) + dropped, 20000);
    tu_read_free(&got);
}

Test(security, planted_symlinks_under_output_names_are_not_followed)
{
    char victim[400], absent[400];
    snprintf(victim, sizeof(victim), "%s/victim", env.root);
    snprintf(absent, sizeof(absent), "%s/must-not-be-created", env.root);
    write_victim(victim);
    cr_assert_eq(mkdir(env.out, 0700), 0);
    /* Left by "a crash" as a .part file: recovery must not give it a .shlog
     * name (readers would follow it) nor read through it. */
    char stale[700], stale_final[600];
    output_name(stale_final, sizeof(stale_final), 1577836800, 7); /* 2020-01-01 */
    snprintf(stale, sizeof(stale), "%s%s", stale_final, SHLOG_PART_SUFFIX);
    cr_assert_eq(symlink(victim, stale), 0);

    struct tu_child col = tu_collector(&env, NULL);
    const char *pargs[] = {"--threads", "1", "--count", "30000", "--burst", "500", "--pause-us", "2000", "--hold", NULL};
    struct tu_child p = tu_producer(pargs);
    tu_wait_line(&p, "ready");
    /* The collector numbers from the highest sequence present (7): its first
     * file is 8. Once that exists, plant links under every name file 9 can
     * get in the next 30 s, then make it rotate. */
    uint64_t until = tu_now_ms() + 10000;
    while (tu_count_files(env.out, ".part") < 2 && tu_now_ms() < until)
        tu_sleep_ms(5);
    cr_assert_eq(tu_count_files(env.out, ".part"), 2, "the collector did not start its first file");
    time_t now = time(NULL);
    unsigned planted = 0;
    for (time_t t = now - 1; t <= now + 30; t++) {
        char name[600], part[700];
        output_name(name, sizeof(name), t, 9);
        snprintf(part, sizeof(part), "%s%s", name, SHLOG_PART_SUFFIX);
        cr_assert_eq(symlink(planted % 2 ? absent : victim, part), 0, "%s", part);
        planted++;
    }
    cr_assert_eq(kill(col.pid, SIGHUP), 0);
    unsigned long long dropped = tu_wait_line(&p, "done ");
    tu_close_stdin(&p);
    cr_assert_eq(tu_wait_exit(&p), 0);
    cr_assert(tu_wait_segments_gone(env.seg, 10000));
    tu_stop_collector(&env, &col);

    assert_victim_untouched(victim);
    struct stat st;
    cr_assert_neq(lstat(absent, &st), 0, "a file was created through a dangling symlink");
    cr_assert_eq(lstat(stale, &st), 0, "the stale .part symlink was renamed or removed");
    cr_assert(S_ISLNK(st.st_mode));
    cr_assert_neq(lstat(stale_final, &st), 0, "the stale .part symlink got a .shlog name");
    cr_assert_geq(tu_log_lines(&env, "exists and is not ours"), 1, "the collector did not say it skipped a planted name");
    /* Every .shlog is a regular file of ours, and the records are all there. */
    DIR *d = opendir(env.out);
    cr_assert(d);
    struct dirent *de;
    size_t links = 0;
    while ((de = readdir(d))) {
        char path[600];
        snprintf(path, sizeof(path), "%s/%s", env.out, de->d_name);
        cr_assert_eq(lstat(path, &st), 0);
        if (S_ISLNK(st.st_mode)) {
            links++;
            cr_assert(strstr(de->d_name, SHLOG_PART_SUFFIX), "%s: a symlink under a closed file's name", path);
        } else if (strstr(de->d_name, SHLOG_FILE_SUFFIX)) {
            assert_mode(path, 0600);
        }
    }
    closedir(d);
    cr_assert_eq(links, planted + 1);
    struct tu_read got = {0};
    size_t files = tu_read_all(env.out, &got);
    cr_assert_geq(files, 2);
    cr_assert_eq(got.errors, 0, "%s", got.first_error);
    cr_assert_eq(tu_check_producer(&got, (uint32_t)p.pid, 1, 30000) + dropped, 30000);
    tu_read_free(&got);
}

Test(security, segments_of_a_uid_not_allowed_are_ignored_once_then_drained_when_allowed)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to run a producer as uid 65534");
    if (access("/usr/bin/setpriv", X_OK) != 0)
        cr_skip_test("needs setpriv (util-linux) to run a producer as uid 65534");
    /* uid 65534 must reach its segment directory */
    cr_assert_eq(chmod(env.root, 0711), 0);
    cr_assert_eq(chown(env.seg, 65534, 65534), 0);
    struct tu_child col = tu_collector(&env, NULL);
    char *argv[] = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                    (char *)tu_exe("TEST_PRODUCER"), "--threads", "1", "--count", "5000", "--hold", NULL};
    struct tu_child p = tu_spawn(argv, NULL);
    unsigned long long dropped = tu_wait_line(&p, "done ");
    /* Its segments are the producer's: 0600, owned by 65534. */
    DIR *d = opendir(env.seg);
    cr_assert(d);
    struct dirent *de;
    size_t segs = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[600];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", env.seg, de->d_name);
        cr_assert_eq(lstat(path, &st), 0);
        cr_assert_eq(st.st_mode & 07777, 0600, "%s: mode %o", path, st.st_mode & 07777);
        cr_assert_eq(st.st_uid, 65534);
        segs++;
    }
    closedir(d);
    cr_assert_geq(segs, 2);
    tu_sleep_ms(2500); /* two rescans: still one report */
    /* One report for the uid (not one per segment), naming the owner and
     * the flag that accepts it. */
    cr_assert_eq(tu_log_lines(&env, "segments of uid 65534 (nobody)"), 1, "expected exactly one report");
    cr_assert_eq(tu_log_lines(&env, "to drain them, add --allow-uid 65534"), 1);
    tu_stop_collector(&env, &col);
    struct tu_read got = {0};
    tu_read_all(env.out, &got);
    cr_assert_eq(got.n, 0, "records of a uid that is not allowed were written");
    tu_read_free(&got);

    const char *allow[] = {"--allow-uid", "nobody", NULL}; /* a name, as operators write it */
    col = tu_collector(&env, allow);
    tu_close_stdin(&p);
    cr_assert_eq(tu_wait_exit(&p), 0);
    cr_assert(tu_wait_segments_gone(env.seg, 10000), "the allowed uid's segments were not drained and removed");
    tu_stop_collector(&env, &col);
    got = (struct tu_read){0};
    tu_read_all(env.out, &got);
    cr_assert_eq(tu_check_producer(&got, (uint32_t)p.pid, 1, 5000) + dropped, 5000);
    cr_assert_eq(got.exits, 1);
    tu_read_free(&got);
}
